"""Anomaly detection with a trained autoencoder or VAE: scores, threshold, flags, and (with labels)
AUROC and average precision.

Scores are higher for more anomalous samples: the reconstruction error (autoencoder), the negative
ELBO or the importance-sampled negative log-likelihood (VAE). The threshold is either given, or set
from a contamination rate c as the (1 - c) quantile of the scores of the run's own training data (the
data the model learned as normal), as scikit-learn's outlier detectors do with ``contamination``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.base import ArrayData, DataSplits
from ..errors import NeuralzooError
from .base import EvaluationContext, Headline, Reporter

REFERENCE_SAMPLES = 5000   # training samples scored to place a contamination threshold


def score(model, x: torch.Tensor, method: str, samples: int = 100) -> torch.Tensor:
    if samples < 1:
        raise NeuralzooError(f"iw_samples must be a positive integer, got {samples}")
    return model.anomaly_scores(x, method=method, samples=samples)


def default_method(model) -> str:
    return "elbo" if hasattr(model, "log_likelihood") else "reconstruction"


def detect(model, data: DataSplits, part: ArrayData, out: Path, *, method: str = "auto",
           samples: int = 100, contamination: float | None = None, threshold: float | None = None,
           normal_classes: tuple[str, ...] | None = None, split: str = "test") -> dict[str, Any]:
    """Score ``part``; write a CSV of scores and flags, detect.json, and roc.png when labelled."""
    if method == "auto":
        method = default_method(model)
    if contamination is not None and not 0 < contamination < 0.5:
        raise NeuralzooError(f"contamination must be in (0, 0.5), got {contamination}")
    scores = score(model, part.x, method, samples).numpy()
    if threshold is None:
        contamination = 0.05 if contamination is None else contamination
        reference = data.train
        if len(reference) > REFERENCE_SAMPLES:
            pick = torch.randperm(len(reference), generator=torch.Generator().manual_seed(0))
            reference = reference.subset(pick[:REFERENCE_SAMPLES])
        ref_scores = score(model, reference.x, method, samples).numpy()
        threshold = float(np.quantile(ref_scores, 1 - contamination))
        rule = (f"the {1 - contamination:g} quantile of the scores of {len(reference)} samples of "
                f"the run's training data (contamination {contamination:g})")
    else:
        rule = "given (--threshold)"
    flags = scores > threshold
    result: dict[str, Any] = {
        "data": data.info.name, "split": split, "samples": len(part), "score": method,
        "iw_samples": samples if method != "reconstruction" else None,
        "threshold": threshold, "threshold_rule": rule, "flagged": int(flags.sum()),
        "flagged_fraction": float(flags.mean()) if len(flags) else 0.0}
    is_anomaly = _anomaly_labels(model, data, part, normal_classes)
    out.parent.mkdir(parents=True, exist_ok=True)
    files = [str(out)]
    if is_anomaly is not None:
        from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

        from ..plots import save_roc

        normal = normal_classes or tuple(model.run_config.data.train_classes or ())
        result.update(normal_classes=list(normal), anomalies=int(is_anomaly.sum()))
        if 0 < is_anomaly.sum() < len(is_anomaly):
            result["auroc"] = float(roc_auc_score(is_anomaly, scores))
            result["average_precision"] = float(average_precision_score(is_anomaly, scores))
            fpr, tpr, _ = roc_curve(is_anomaly, scores)
            roc = out.with_name("roc.png")
            save_roc(fpr, tpr, result["auroc"], roc, f"{model.name}, score {method}")
            files.append(str(roc))
        else:
            result["auroc"] = None
            result["note"] = "AUROC needs both normal and anomalous samples in the split"
    with out.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["index", "score", "anomaly", *(["label", "true_anomaly"] if is_anomaly
                                                       is not None else [])])
        for i, (s, flag) in enumerate(zip(scores, flags)):
            extra = [] if is_anomaly is None else [int(part.y[i]), int(is_anomaly[i])]
            writer.writerow([i, f"{s:.6g}", int(flag), *extra])
    summary = out.with_name("detect.json")
    summary.write_text(json.dumps(result, indent=2) + "\n")
    result["files"] = [*files, str(summary)]
    return result


def _anomaly_labels(model, data: DataSplits, part: ArrayData,
                    normal_classes: tuple[str, ...] | None) -> np.ndarray | None:
    """1 for samples whose class is not normal, or None without labels / a notion of normal."""
    normal = normal_classes or model.run_config.data.train_classes
    if part.y is None or not normal:
        return None
    names = data.info.class_names or [str(i) for i in range(int(part.y.max()) + 1)]
    unknown = [c for c in normal if c not in names]
    if unknown:
        raise NeuralzooError(f"normal classes {', '.join(unknown)} are not classes of "
                             f"{data.info.name!r}: {', '.join(names)}")
    normal_index = torch.tensor([names.index(c) for c in normal])
    return (~torch.isin(part.y, normal_index)).numpy().astype(np.int64)


class AnomalyReporter(Reporter):
    """For runs trained on some classes only (``--train-classes``: the one-class protocol of Ruff et
    al. 2018), how well the model's default anomaly score separates the other classes of the split:
    AUROC and average precision. ``neuralzoo detect`` adds thresholds, flags and the ROC curve."""

    name = "anomaly"
    samples = 100   # Monte Carlo samples of a VAE's -ELBO score, as detect's default

    def applies(self, ctx: EvaluationContext) -> bool:
        return (hasattr(ctx.model, "anomaly_scores") and ctx.part.y is not None
                and bool(ctx.model.run_config.data.train_classes))

    def report(self, ctx: EvaluationContext) -> dict[str, Any]:
        from sklearn.metrics import average_precision_score, roc_auc_score

        is_anomaly = _anomaly_labels(ctx.model, ctx.data, ctx.part, None)
        method = default_method(ctx.model)
        normal = list(ctx.model.run_config.data.train_classes)
        block: dict[str, Any] = {"score": method, "normal_classes": normal,
                                 "anomalies": int(is_anomaly.sum()), "samples": len(is_anomaly)}
        if 0 < is_anomaly.sum() < len(is_anomaly):
            torch.manual_seed(ctx.seed)
            scores = score(ctx.model, ctx.part.x, method, self.samples).numpy()
            block.update(auroc=float(roc_auc_score(is_anomaly, scores)),
                         average_precision=float(average_precision_score(is_anomaly, scores)))
        return {"anomaly": block}

    def headline(self, block: dict[str, Any]) -> Headline | None:
        auroc = block["anomaly"].get("auroc")
        return None if auroc is None else Headline("anomaly AUROC", auroc, higher_is_better=True)
