"""The autoencoder and the VAE as a scikit-learn transformer and as outlier detectors, in
scikit-learn's conventions (``NeuralZooOutlierDetector``) and in PyOD's (``NeuralZooPyOD``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.base import OutlierMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .base import NeuralZooEstimator, _validate

# Iglewicz & Hoaglin (1993): a modified z-score 0.6745 (s - median) / MAD above 3.5 marks an outlier;
# contamination="auto" puts the threshold there on the training scores, assuming no outlier rate
MODIFIED_Z = 3.5


class NeuralZooTransformer(TransformerMixin, NeuralZooEstimator):
    """An autoencoder or VAE as a transformer: ``transform`` gives the codes (the VAE's posterior
    means), ``inverse_transform`` decodes codes to data space (the VAE's Bernoulli or Gaussian
    means), ``score`` is the mean log-likelihood per sample: the VAE's importance-sampled log p(x)
    (Burda et al. 2016) with ``likelihood_samples`` draws; for the autoencoder the mean negative
    reconstruction loss it was trained on (squared error or Bernoulli cross-entropy, in nats)."""

    default_model = "autoencoder"
    task = "classify"   # what unlabelled image / vector data asks of a model
    capability = "decode"
    own_parameters = {"likelihood_samples": 100}

    def __sklearn_tags__(self) -> Any:   # scikit-learn >= 1.6 (before: _more_tags)
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]   # computed and returned in float32
        return tags

    def fit(self, X: Any, y: Any = None) -> "NeuralZooTransformer":
        x = _validate(self, X, reset=True, allow_nd=True, dtype=np.float32)
        return self._train(x)

    def transform(self, X: Any) -> np.ndarray:
        x = self._inputs(X)
        return self.model_.infer(self.model_.encode, x).float().numpy()

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Codes (N, latent_dim) -> data (N, *the shape of the rows fit was given)."""
        import torch

        check_is_fitted(self, "model_")
        codes = np.asarray(X, dtype=np.float32)
        latent = self.model_.config.latent_dim
        if codes.ndim != 2 or codes.shape[1] != latent:
            raise ValueError(f"inverse_transform takes codes shaped (N, {latent}); got {codes.shape}")
        from ..data.standardise import invert_standardise

        out = self.model_.infer(self.model_.decode, torch.from_numpy(codes)).float()
        out = invert_standardise(out, self.model_.info.standardise).numpy()   # the fit's units
        return out.reshape(len(out), *self._fitted_row_shape())

    def _fitted_row_shape(self) -> tuple[int, ...]:
        return (self.n_features_in_,) if self._fit_ndim == 2 else tuple(self.model_.info.input_shape)

    def _train(self, x: np.ndarray, y: np.ndarray | None = None,
               class_names: list[str] | None = None) -> "NeuralZooTransformer":
        self._fit_ndim = x.ndim
        return super()._train(x, y, class_names)

    def score_samples_log_likelihood(self, X: Any) -> np.ndarray:
        """Log-likelihood per sample (N,), as ``score`` averages it."""
        x, model = self._inputs(X), self.model_
        if hasattr(model, "log_likelihood"):
            with self._draws():
                return model.log_likelihood(x, samples=int(self.likelihood_samples)).double().numpy()
        def nll(rows):   # (B,) the reconstruction loss without the denoising corruption
            return model.reconstruction_nll(model.decoder(model.encode(rows)).float(), rows)

        return -model.infer(nll, x).double().numpy()

    def score(self, X: Any, y: Any = None) -> float:
        return float(np.mean(self.score_samples_log_likelihood(X)))


class _Detector(NeuralZooEstimator):
    """Fitting and scoring shared by the two conventions: ``raw_scores`` are the model's anomaly
    scores (higher = more anomalous: squared reconstruction error, or the VAE's -ELBO / -log p(x))."""

    default_model = "autoencoder"
    task = "classify"
    capability = "anomaly_scores"

    def fit(self, X: Any, y: Any = None) -> "_Detector":
        x = _validate(self, X, reset=True, allow_nd=True, dtype=np.float32)
        self._check_contamination()
        self._train(x)
        self.training_scores_ = self.raw_scores(x)   # (N,) of the training rows, higher = more anomalous
        self._set_threshold(self.training_scores_)
        return self

    def raw_scores(self, X: Any) -> np.ndarray:
        options = {} if self.score_method is None else {"method": self.score_method}
        x = self._inputs(X)
        with self._draws():
            return self.model_.anomaly_scores(x, **options).double().numpy()

    def _check_contamination(self) -> None:
        c = self.contamination
        if not (c == "auto" and self.allows_auto) and not (
                isinstance(c, (int, float)) and not isinstance(c, bool) and 0 < c <= 0.5):
            allowed = "'auto' or " if self.allows_auto else ""
            raise ValueError(f"contamination must be {allowed}a float in (0, 0.5], got {c!r}")

    def _cut(self, scores: np.ndarray) -> float:
        """The raw score above which a sample is an outlier: the training scores' (1 - contamination)
        quantile, or for "auto" the modified z-score rule (``MODIFIED_Z``)."""
        if self.contamination == "auto":
            median = float(np.median(scores))
            mad = float(np.median(np.abs(scores - median))) or float(np.std(scores)) or 1.0
            return median + MODIFIED_Z * mad / 0.6745
        return float(np.quantile(scores, 1 - self.contamination))


class NeuralZooOutlierDetector(OutlierMixin, _Detector):
    """An autoencoder or VAE as a scikit-learn outlier detector (the conventions of IsolationForest):
    ``score_samples`` higher = more normal (the negated anomaly score), ``decision_function`` =
    ``score_samples - offset_`` (negative: outlier), ``predict`` in {-1 (outlier), +1 (inlier)}.
    ``contamination``: the expected fraction of outliers in the training data (``offset_`` is that
    quantile of the training scores) or "auto" (the modified z-score rule of Iglewicz & Hoaglin 1993
    on the training scores). ``score_method``: elbo or nll for the VAE (default elbo);
    ``.pyod()`` gives the same fitted detector in PyOD's conventions."""

    allows_auto = True
    own_parameters = {"contamination": "auto", "score_method": None}

    def _set_threshold(self, scores: np.ndarray) -> None:
        self.offset_ = -self._cut(scores)

    def score_samples(self, X: Any) -> np.ndarray:
        return -self.raw_scores(X)

    def decision_function(self, X: Any) -> np.ndarray:
        return self.score_samples(X) - self.offset_

    def predict(self, X: Any) -> np.ndarray:
        return np.where(self.decision_function(X) < 0, -1, 1)

    def pyod(self) -> "NeuralZooPyOD":
        """This fitted detector in PyOD's conventions (the same network and the same cut)."""
        check_is_fitted(self, "model_")
        params = self.get_params(deep=False)
        scores = self.training_scores_
        if params["contamination"] == "auto":   # the fraction the auto rule flags, as PyOD wants a rate
            params["contamination"] = min(0.5, max(float(np.mean(scores > -self.offset_)), 1 / len(scores)))
        other = NeuralZooPyOD(**params)
        other.__dict__.update({k: v for k, v in self.__dict__.items() if k.endswith("_") and k != "offset_"})
        other._set_threshold(scores)
        other.threshold_ = -self.offset_
        other.labels_ = (scores > other.threshold_).astype(int)
        return other


class NeuralZooPyOD(_Detector):
    """An autoencoder or VAE as an outlier detector in PyOD's conventions (``pyod.models.base``):
    after ``fit``, ``decision_scores_`` (the training samples' scores, higher = more abnormal),
    ``threshold_`` (their (1 - contamination) quantile) and ``labels_`` (0 inlier, 1 outlier);
    ``decision_function`` scores new samples, ``predict`` gives {0, 1}, ``predict_proba`` (N, 2)
    the probabilities of [inlier, outlier] by PyOD's ``linear`` (min-max by the training scores) or
    ``unify`` (Kriegel et al. 2011: a Gaussian CDF of the standardised score) method."""

    allows_auto = False
    own_parameters = {"contamination": 0.1, "score_method": None}

    def _set_threshold(self, scores: np.ndarray) -> None:
        self.decision_scores_ = scores
        self.threshold_ = self._cut(scores)
        self.labels_ = (scores > self.threshold_).astype(int)

    def decision_function(self, X: Any) -> np.ndarray:
        return self.raw_scores(X)

    def predict(self, X: Any) -> np.ndarray:
        return (self.decision_function(X) > self.threshold_).astype(int)

    def predict_proba(self, X: Any, method: str = "linear") -> np.ndarray:
        scores, train = self.decision_function(X), self.decision_scores_
        if method == "linear":
            low, high = float(train.min()), float(train.max())
            outlier = np.clip((scores - low) / (high - low or 1.0), 0, 1)
        elif method == "unify":
            from scipy.special import erf

            outlier = np.clip(erf((scores - train.mean()) / ((train.std() or 1.0) * math.sqrt(2))), 0, 1)
        else:
            raise ValueError(f"method must be 'linear' or 'unify', got {method!r}")
        return np.column_stack([1 - outlier, outlier])
