"""A run's baselines: fitted once on the training part of the data being evaluated, scored on the
evaluated split and on validation, beside the model's own figures there; the comparison on validation
gives eval.json's ``baselines`` block and ``warnings`` (what and why: ``baselines.py``).
``baseline_check`` does the validation comparison alone, for a training summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.base import ArrayData, DataSplits
from ..data.labels import labelled_part
from ..errors import NeuralzooError
from ..models.base import Model
from .base import EvaluationContext
from .baselines import (balanced_accuracy, compare, fit_pca, independent_nll, logistic_regression,
                        majority_accuracy, pca_squared_error, sample_cap, unigram_bits_per_char)
from .classification import skewed


def task_of(model: Model, data: DataSplits) -> str | None:
    """Which baselines apply: classify, reconstruct, text, forecast; None for none (GANs, encoders)."""
    if model.info.task in ("forecast", "text"):
        return model.info.task
    if not len(data.train):
        return None
    if hasattr(model, "predict_proba") and data.train.y is not None:
        return "classify"
    if hasattr(model, "reconstruct") and hasattr(model, "encode"):
        return "reconstruct"
    return None


def _flat(x: torch.Tensor) -> np.ndarray:
    return x.flatten(1).float().numpy()


class FittedBaselines:
    """The task's baselines fitted once on the training part; ``score(part)`` gives
    ``{metric: {baseline: value}}`` for any split (forecasting: the model's figures too)."""

    def __init__(self, model: Model, data: DataSplits, task: str, seed: int) -> None:
        self.model, self.data, self.task = model, data, task
        train = labelled_part(data.train) if task == "classify" else data.train   # --labels: N of them
        n = len(train)
        cap = sample_cap(int(np.prod(train.x.shape[1:])))
        used = (f"all {n:,} training samples" if n <= cap else
                f"{cap:,} of the {n:,} training samples ({{}} draw, seed {seed})")
        # skewed training classes: balanced accuracy beside accuracy, and the comparison made on it
        self.skewed = task == "classify" and skewed(model.info.class_counts)
        if task == "classify":
            self.train_y = train.y.numpy()
            self.regression = logistic_regression(_flat(train.x), self.train_y, seed)
            self.fitted_on = (f"majority class: the {n:,} training labels; logistic regression "
                              f"(StandardScaler + LogisticRegression, flattened inputs): "
                              f"{used.format('a stratified')}")
        elif task == "reconstruct":
            self.pca = fit_pca(_flat(train.x), model.config.latent_dim, seed)
            self.fitted_on = f"PCA with {self.pca.n_components_} components: {used.format('a random')}"
            self.likelihood = getattr(model, "likelihood", None) if hasattr(model, "log_likelihood") else None
            if self.likelihood:
                self.train_flat = _flat(train.x)
                self.fitted_on += f"; independent features ({self.likelihood}): all {n:,} training samples"
        elif task == "text":
            self.train_ids = train.y.flatten().numpy()
            self.fitted_on = (f"unigram frequencies (add-one) of the {len(self.train_ids):,} training "
                              "targets")
        else:
            self.fitted_on = ("naive, seasonal naive, AR(p) and the MASE scale: the training part "
                              "(evaluation/forecasting.py)")

    def score(self, part: ArrayData) -> dict[str, dict[str, float]]:
        if self.task == "classify":
            y = part.y.numpy()
            majority = np.full_like(y, np.bincount(self.train_y).argmax())
            predictions = {"majority_class": majority}
            if self.regression is not None:
                predictions["logistic_regression"] = self.regression.predict(_flat(part.x))
            out = {"accuracy": {name: float(np.mean(p == y)) for name, p in predictions.items()}}
            if self.skewed:
                out["balanced_accuracy"] = {name: balanced_accuracy(y, p) for name, p in predictions.items()}
            return out
        if self.task == "reconstruct":
            x = _flat(part.x)
            out = {"squared_error": {f"pca_{self.pca.n_components_}": pca_squared_error(self.pca, x)}}
            if self.likelihood:
                out["nll"] = {"independent_features": independent_nll(self.train_flat, x, self.likelihood)}
            return out
        if self.task == "text":
            ids, size = part.y.flatten().numpy(), len(self.model.info.text.vocabulary)
            return {"bits_per_char": {"unigram": unigram_bits_per_char(self.train_ids, ids, size)}}
        from .forecasting import forecast_report

        metrics = forecast_report(self.model, part, self.data.train, self.data.info.series)["metrics"]
        return {"mase": {name: m["mase"] for name, m in metrics.items()}}


def split_metrics(model: Model, part: ArrayData) -> dict[str, float]:
    """Means of ``model.loss``'s metrics over ``part``, in the model's inference precision."""
    from ..training.context import StepContext
    from ..training.metrics import evaluate_metrics

    step = StepContext(loss=model.loss, device=model.device, use_bf16=model.precision == "bf16",
                       channels_last=model.infers_channels_last)
    return evaluate_metrics(model, part, 256, step)


def model_figures(model: Model, part: ArrayData, task: str, seed: int) -> dict[str, float]:
    """The model's figures on a split the reporters did not score (forecasting: in ``score``)."""
    if task == "reconstruct":
        from .reconstruction import latent_pass

        torch.manual_seed(seed)   # a VAE's posterior draws, as the reconstruction reporter seeds them
        with model.autocast():
            measured = latent_pass(model, part.x)
        out = {"squared_error": float(measured["errors"].mean())}
        if hasattr(model, "log_likelihood"):
            out["nelbo"] = measured["metrics"]["nelbo"]
        return out
    if task == "classify":   # as the classification reporter computes it
        with model.autocast():
            predicted = model.predict_logits(part.x, lengths=part.lengths).argmax(1)
        out = {"accuracy": float((predicted == part.y).float().mean())}
        if skewed(model.info.class_counts):
            out["balanced_accuracy"] = balanced_accuracy(part.y.numpy(), predicted.numpy())
        return out
    if task == "text":
        return {"bits_per_char": split_metrics(model, part)["bits_per_char"]}
    return {}


def reported_figures(result: dict[str, Any], task: str, skewed: bool = False) -> dict[str, float]:
    """The model's figures on the evaluated split, read from the reporters' blocks (``skewed``
    training classes: balanced accuracy too)."""
    if task == "classify":
        return {k: result[k] for k in ("accuracy", "balanced_accuracy")
                if k in result and (k == "accuracy" or skewed)}
    if task == "text":
        return {"bits_per_char": result["text"]["bits_per_char"]} if "text" in result else {}
    if task == "reconstruct" and "squared_error" in result:
        out = {"squared_error": result["squared_error"]}
        if "likelihood" in result:
            out["nll"] = result["likelihood"]["nll"]
        return out
    return {}


def _merge(model: dict[str, float], baselines: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    if "nelbo" in model:   # a split without the importance-sampled NLL: the -ELBO stands in for it
        baselines = {("nelbo" if k == "nll" else k): v for k, v in baselines.items()}
    metrics = dict.fromkeys([*model, *baselines])   # the model's metrics first, in order
    return {metric: {**({"model": model[metric]} if metric in model else {}), **baselines.get(metric, {})}
            for metric in metrics}


def baseline_report(ctx: EvaluationContext, result: dict[str, Any] | None = None) -> dict[str, Any]:
    """eval.json's ``baselines`` block and ``warnings`` list: the baselines on the evaluated split
    (the model's figures read from ``result``) and on validation, where the comparison is made
    (on the evaluated split when the data has no validation split); ``baselines`` None when none
    apply (GANs, self-supervised encoders, unlabelled or empty training parts)."""
    task = task_of(ctx.model, ctx.data)
    if task is None:
        return {"baselines": None, "warnings": []}
    fitted = FittedBaselines(ctx.model, ctx.data, task, ctx.seed)
    splits: dict[str, Any] = {}
    if result is not None:
        splits[ctx.split] = _merge(reported_figures(result, task, fitted.skewed), fitted.score(ctx.part))
    val = ctx.data.val
    compared = "val" if val is not None and len(val) else ctx.split
    if compared not in splits:
        part = ctx.data.split(compared)
        splits[compared] = _merge(model_figures(ctx.model, part, task, ctx.seed), fitted.score(part))
    comparison = compare(ctx.model.name, compared, splits[compared],
                         len(ctx.data.split(compared)))
    warnings = [comparison.message(task)] if comparison is not None and comparison.behind else []
    return {"baselines": {"fitted_on": fitted.fitted_on, "splits": splits,
                          "comparison": None if comparison is None else comparison.to_dict()},
            "warnings": warnings}


def baseline_check(model: Model | str | Path, data: DataSplits | None = None, which: str = "best",
                   device: str = "cpu", seed: int | None = None) -> list[str]:
    """The one-line messages (none when the model holds its own) of the comparison on validation,
    for a training summary: ``model`` a trained model (with ``data``, its data in memory: nothing is
    loaded) or a run directory / checkpoint (its ``which`` checkpoint and its data are loaded).
    Writes nothing and warns nothing: the caller prints or warns (``BaselineWarning``). ``seed``: of
    the baselines' draws (default: the run's training seed, 0 for a model never saved)."""
    if not isinstance(model, Model):
        from ..runs import load
        from ..training.context import resolve_device
        from .data import eval_data_config, load_eval_data

        model = load(model, which, resolve_device(device))
        data = data or load_eval_data(model, eval_data_config(model, {}), need_validation=True)
    if data is None:
        raise NeuralzooError("baseline_check: give the model's data with a model in memory")
    if data.val is None or not len(data.val):
        return []
    if seed is None:
        run_config = getattr(model, "run_config", None)   # a model never saved has none
        seed = run_config.train.seed if run_config is not None else 0
    ctx = EvaluationContext(model, data, "val", Path("."), seed)
    return baseline_report(ctx)["warnings"] if task_of(model, data) else []
