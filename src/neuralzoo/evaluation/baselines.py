"""Baselines beside every result: the model next to what a practitioner would try first, on the
same split, and a word (``BaselineWarning``) when the model loses on validation.

Every baseline is fitted on the training part of the data being evaluated, at most ``SAMPLE_CAP``
samples of it (fewer for large inputs: ``sample_cap``; a stratified draw, seeded with the run's
seed, so MNIST costs seconds), and scored on each split it is reported for:

- classifiers: the majority class of the training part, and scikit-learn's StandardScaler +
  LogisticRegression on the flattened inputs (padded sequences flattened with their padding);
- autoencoders (``encode``/``reconstruct``): PCA with as many components as the model's code
  (``latent_dim``), scored by the reconstruction reporter's squared error (sum over features, mean
  over examples). A VAE pays for its prior with reconstruction error, so beside its likelihood it
  also gets the independent-features model (each feature on its own, fitted on the training part:
  a Bernoulli with add-one smoothing or a Gaussian, as its decoder's likelihood), in nats per
  example, against which its comparison is made (its importance-sampled NLL, or on a split without
  one its -ELBO, an upper bound of the NLL);
- character language models: unigram frequencies of the training targets with add-one smoothing,
  in bits per character (overlapping training windows count a character as often as training does);
- forecasters: naive, seasonal naive and AR(p) from ``forecasting.py``, by MASE.

The comparison is made on the validation split when the data has one, else on the evaluated split,
against the best baseline; the model is behind when its accuracy is lower by more than one standard
error of the difference (``accuracy_tolerance``), or for the other metrics when it is worse by more
than 1% of the baseline's figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

SAMPLE_CAP = 5000          # training samples a baseline is fitted on (stratified, seeded draw)
VALUE_CAP = 25_000_000     # and at most this many values (samples x features): large images get fewer
RELATIVE_TOLERANCE = 0.01  # lower-is-better metrics: behind when worse by more than 1%
HIGHER_IS_BETTER = {"accuracy", "balanced_accuracy"}
# first found; balanced accuracy is there only where the training classes are skewed (classification.py)
COMPARED = ("balanced_accuracy", "accuracy", "mase", "bits_per_char", "nll", "nelbo", "squared_error")
ADVICE = {"classify": "try a longer budget (--epochs N), standardised inputs, or a smaller learning rate "
                      "(--lr)",
          "forecast": "try a longer budget (--epochs N), --transform log1p, or --instance-norm standardise",
          "other": "try a longer budget (--epochs N) or a smaller learning rate (--lr)"}
METRIC_NAMES = {"accuracy": "accuracy", "balanced_accuracy": "balanced accuracy",
                "squared_error": "squared error / example", "mase": "MASE", "bits_per_char": "bits/char",
                "nll": "NLL (nats)", "nelbo": "-ELBO (nats)"}


# -- the baselines themselves: plain functions of arrays ------------------------------------------
def majority_accuracy(train_y: np.ndarray, y: np.ndarray) -> float:
    """Accuracy on ``y`` of always predicting the most frequent class of ``train_y``."""
    return float(np.mean(y == np.bincount(train_y).argmax()))


def balanced_accuracy(y: np.ndarray, predicted: np.ndarray) -> float:
    """The mean recall of the classes present in ``y`` (scikit-learn's balanced_accuracy_score)."""
    classes = np.unique(y)
    return float(np.mean([np.mean(predicted[y == c] == c) for c in classes]))


def sample_cap(features: int) -> int:
    """Training samples a baseline is fitted on: ``SAMPLE_CAP``, fewer where each sample has more
    than ``VALUE_CAP / SAMPLE_CAP`` features (5,000 MNIST images; 166 images of 3 x 224 x 224), so
    the fits stay seconds and a few hundred MB whatever the input size."""
    return max(1, min(SAMPLE_CAP, VALUE_CAP // max(features, 1)))


def capped(x: np.ndarray, y: np.ndarray | None, seed: int) -> tuple[np.ndarray, ...]:
    """At most ``sample_cap`` samples of (x, y) (N, features): a stratified draw when labelled
    (random if a class is too rare)."""
    cap = sample_cap(x.shape[1])
    if len(x) <= cap:
        return x, y
    from sklearn.model_selection import train_test_split

    try:
        keep, _ = train_test_split(np.arange(len(x)), train_size=cap, random_state=seed, stratify=y)
    except ValueError:   # a class with a single sample cannot be stratified
        keep, _ = train_test_split(np.arange(len(x)), train_size=cap, random_state=seed)
    return x[keep], None if y is None else y[keep]


def logistic_regression(train_x: np.ndarray, train_y: np.ndarray, seed: int):
    """StandardScaler + LogisticRegression fitted on (at most ``SAMPLE_CAP``) flattened training
    samples; None when the training part holds a single class."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = capped(train_x, train_y, seed)
    if len(np.unique(y)) < 2:
        return None
    # 300 iterations: lbfgs converges in ~130 on 5,000 standardised MNIST images (100 does not)
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)).fit(x, y)


def fit_pca(train_x: np.ndarray, components: int, seed: int):
    """PCA with ``components`` (at most the capped training part's rank bound) fitted on training."""
    from sklearn.decomposition import PCA

    x, _ = capped(train_x, None, seed)
    return PCA(min(components, *x.shape), random_state=seed).fit(x)


def pca_squared_error(pca, x: np.ndarray) -> float:
    """Squared error of PCA's reconstructions, summed over features, mean over examples."""
    return float(((pca.inverse_transform(pca.transform(x)) - x) ** 2).sum(1).mean())


def independent_nll(train_x: np.ndarray, x: np.ndarray, likelihood: str) -> float:
    """-log p(x) in nats per example under independent features fitted on training: a Bernoulli
    per feature with add-one smoothing ((ones + 1) / (n + 2)), or a Gaussian with its variance
    floored at exp(-12) as the VAE floors its decoder's (``LatentModel.reconstruction_nll``)."""
    if likelihood == "bernoulli":
        p = (train_x.sum(0) + 1.0) / (len(train_x) + 2.0)
        return float(-(x * np.log(p) + (1 - x) * np.log1p(-p)).sum(1).mean())
    mean, variance = train_x.mean(0), np.maximum(train_x.var(0), np.exp(-12.0))
    return float(0.5 * ((x - mean) ** 2 / variance + np.log(2 * np.pi * variance)).sum(1).mean())


def unigram_bits_per_char(train_ids: np.ndarray, ids: np.ndarray, vocabulary_size: int) -> float:
    """Bits per character of ``ids`` under the training characters' frequencies, add-one smoothed."""
    counts = np.bincount(train_ids, minlength=vocabulary_size) + 1.0
    return float(-np.log2(counts[ids] / counts.sum()).mean())


# -- the comparison ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    """The model against its best baseline on one split and metric."""

    model: str
    split: str
    metric: str
    model_value: float
    baseline: str
    baseline_value: float
    tolerance: float

    @property
    def higher_is_better(self) -> bool:
        return self.metric in HIGHER_IS_BETTER

    @property
    def behind(self) -> bool:
        if self.higher_is_better:
            return self.model_value < self.baseline_value - self.tolerance
        return self.model_value > self.baseline_value + self.tolerance

    def message(self, task: str) -> str:
        where = {"val": "validation", "test": "test", "train": "training"}.get(self.split, self.split)
        return (f"{self.model}'s {where} {METRIC_NAMES.get(self.metric, self.metric)} "
                f"{_show(self.metric, self.model_value)} is behind "
                f"{_possessive(_baseline_name(self.baseline))} "
                f"{_show(self.metric, self.baseline_value)} on the same split; "
                f"{ADVICE.get(task, ADVICE['other'])}")

    def to_dict(self) -> dict[str, Any]:
        return {"split": self.split, "metric": self.metric, "model_value": self.model_value,
                "baseline": self.baseline, "baseline_value": self.baseline_value,
                "higher_is_better": self.higher_is_better, "tolerance": self.tolerance,
                "behind": self.behind}


def _possessive(name: str) -> str:
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def _show(metric: str, value: float) -> str:
    return f"{100 * value:.1f}%" if metric in HIGHER_IS_BETTER else f"{value:.4g}"


def _baseline_name(name: str) -> str:
    fixed = {"majority_class": "the majority class", "logistic_regression": "logistic regression",
             "independent_features": "independent features", "unigram": "unigram frequencies",
             "naive": "the naive forecast"}
    if name in fixed:
        return fixed[name]
    kind, _, number = name.rpartition("_")
    return {"pca": f"PCA ({number} components)", "seasonal_naive": f"seasonal naive (period {number})",
            "ar": f"AR({number})"}.get(kind, name)


def accuracy_tolerance(model: float, baseline: float, samples: int) -> float:
    """How far below the baseline's accuracy the model may be before it is behind: one standard
    error of the difference of two accuracies on ``samples`` (binomial, as if independent: the
    conservative side of the paired one), and never less than 1.5 samples' worth, so a model one
    sample behind is not (the accuracies are means of float32 and float64 sums)."""
    n = max(samples, 1)
    spread = (model * (1 - model) + baseline * (1 - baseline)) / n
    return max(1.5 / n, float(np.sqrt(max(spread, 0.0))))


def compare(model: str, split: str, figures: dict[str, dict[str, float]], samples: int) -> Comparison | None:
    """The model against the best baseline of the first compared metric in ``figures`` (one split's
    ``{metric: {"model": v, baseline: v, ...}}``); None when nothing can be compared."""
    for metric in COMPARED:
        values = {k: v for k, v in figures.get(metric, {}).items() if v is not None}
        if "model" not in values or len(values) < 2:
            continue
        baselines = {k: v for k, v in values.items() if k != "model"}
        pick = max if metric in HIGHER_IS_BETTER else min
        best = pick(baselines, key=baselines.get)
        tolerance = (accuracy_tolerance(values["model"], baselines[best], samples)
                     if metric in HIGHER_IS_BETTER else RELATIVE_TOLERANCE * abs(baselines[best]))
        return Comparison(model, split, metric, values["model"], best, baselines[best], tolerance)
    return None
