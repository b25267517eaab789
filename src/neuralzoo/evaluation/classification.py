"""Classification: accuracy, balanced accuracy (the mean per-class recall), macro F1, per-class
precision/recall/F1, the confusion matrix and, for two classes, the precision-recall AUC (average
precision of the second class), with a picture of the matrix and of the first test images (wrong
predictions highlighted).

The headline is accuracy, unless the training classes were skewed (``DataInfo.class_counts``: the
largest class at least ``SKEW_RATIO`` times the smallest one present): then balanced accuracy, which
a classifier cannot raise by favouring the frequent classes, and the headline's note says why.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .base import EvaluationContext, Headline, Reporter


# MNIST's natural spread (6742 / 5421 = 1.24) keeps accuracy; a long tail (--imbalance 10: 10) does not
SKEW_RATIO = 1.5


def skew(class_counts: list[int] | None) -> float | None:
    """Largest over smallest training class count (classes with no training sample left out)."""
    present = [n for n in class_counts or [] if n > 0]
    return max(present) / min(present) if len(present) > 1 else None


def skewed(class_counts: list[int] | None) -> bool:
    """Whether the headline (and the comparison with the baselines) is balanced accuracy."""
    ratio = skew(class_counts)
    return ratio is not None and ratio >= SKEW_RATIO


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """(K, K) counts: row = true class, column = predicted class (scikit-learn's convention)."""
    return np.bincount(true * classes + predicted, minlength=classes * classes).reshape(classes, classes)


def per_class_scores(matrix: np.ndarray) -> tuple[np.ndarray, ...]:
    """Precision, recall, F1 and support per class from a confusion matrix; a ratio with nothing
    to count (no prediction of a class, no sample of it) is 0, as scikit-learn's zero_division=0.
    Computed here rather than imported: scikit-learn's import costs ~0.7 s of every evaluate."""
    hits = np.diag(matrix).astype(np.float64)
    predicted, support = matrix.sum(0), matrix.sum(1)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, support, out=np.zeros_like(hits), where=support > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(hits), where=total > 0)
    return precision, recall, f1, support


class ClassificationReporter(Reporter):
    name = "classification"

    def applies(self, ctx: EvaluationContext) -> bool:
        return (ctx.model.info.task == "classify" and hasattr(ctx.model, "predict_proba")
                and ctx.part.y is not None)

    def report(self, ctx: EvaluationContext) -> dict[str, Any]:
        from ..images import save_confusion, save_predictions

        model, part = ctx.model, ctx.part
        # one pass: the loss metrics and the predictions from the same logits
        logits = model.predict_logits(part.x, lengths=part.lengths)   # (N, K)
        ctx.metrics = {k: float(v) for k, v in model.metrics_from_logits(logits, part.y).items()}
        predicted, true = logits.argmax(1).numpy(), part.y.numpy()
        k = logits.shape[1]
        names = ctx.data.info.class_names or [str(i) for i in range(k)]
        matrix = confusion_matrix(true, predicted, k)
        precision, recall, f1, support = per_class_scores(matrix)
        accuracy = float(np.mean(predicted == true))
        # scikit-learn's balanced_accuracy_score: the mean recall of the classes present in the split
        balanced = float(np.mean(recall[support > 0]))
        save_confusion(matrix, names, ctx.out_dir / "confusion.png",
                       f"{model.run_config.model}: accuracy {accuracy:.4f}")
        if part.x.dim() == 4:  # a picture of the first 32 test images, wrong ones highlighted
            n = min(32, len(part))
            save_predictions(part.x[:n].float().numpy(), [names[i] for i in predicted[:n]],
                             [names[i] for i in true[:n]], ctx.out_dir / "predictions.png")
        block = {
            "accuracy": accuracy,
            "balanced_accuracy": balanced,
            "errors": int(np.sum(predicted != true)),
            "macro_f1": float(np.mean(f1)),
            "per_class": {names[i]: {"precision": float(precision[i]), "recall": float(recall[i]),
                                     "f1": float(f1[i]), "support": int(support[i])} for i in range(k)},
            "confusion_matrix": matrix.tolist(),
        }
        if k == 2 and len(np.unique(true)) == 2:
            from sklearn.metrics import average_precision_score   # here: ~0.7 s of import

            scores = torch.softmax(logits, 1)[:, 1].numpy()
            block["pr_auc"] = float(average_precision_score(true == 1, scores))
            block["pr_auc_positive_class"] = names[1]
        if skewed(model.info.class_counts):
            ratio = skew(model.info.class_counts)
            block["headline_note"] = (f"headline: balanced accuracy, as the training classes are skewed "
                                      f"(largest / smallest class {ratio:.3g} >= {SKEW_RATIO})")
        return block

    def headline(self, block: dict[str, Any]) -> Headline:
        if "headline_note" in block:
            return Headline("balanced_accuracy", block["balanced_accuracy"], higher_is_better=True,
                            note=block["headline_note"])
        return Headline("accuracy", block["accuracy"], higher_is_better=True)
