"""Classification: accuracy, macro F1, per-class precision/recall/F1 and the confusion matrix, with
a picture of the matrix and of the first test images (wrong predictions highlighted)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import EvaluationContext, Headline, Reporter


class ClassificationReporter(Reporter):
    name = "classification"

    def applies(self, ctx: EvaluationContext) -> bool:
        return (ctx.model.info.task == "classify" and hasattr(ctx.model, "predict_proba")
                and ctx.part.y is not None)

    def report(self, ctx: EvaluationContext) -> dict[str, Any]:
        from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

        from ..plots import save_confusion, save_predictions

        model, part = ctx.model, ctx.part
        probabilities = model.predict_proba(part.x, lengths=part.lengths)   # (N, K)
        predicted, true = probabilities.argmax(1).numpy(), part.y.numpy()
        k = probabilities.shape[1]
        names = ctx.data.info.class_names or [str(i) for i in range(k)]
        precision, recall, f1, support = precision_recall_fscore_support(
            true, predicted, labels=list(range(k)), zero_division=0)
        matrix = confusion_matrix(true, predicted, labels=list(range(k)))
        accuracy = float(np.mean(predicted == true))
        save_confusion(matrix, names, ctx.out_dir / "confusion.png",
                       f"{model.run_config['model']}: accuracy {accuracy:.4f}")
        if part.x.dim() == 4:  # a picture of the first 32 test images, wrong ones highlighted
            n = min(32, len(part))
            save_predictions(part.x[:n].float().numpy(), [names[i] for i in predicted[:n]],
                             [names[i] for i in true[:n]], ctx.out_dir / "predictions.png")
        return {
            "accuracy": accuracy,
            "errors": int(np.sum(predicted != true)),
            "macro_f1": float(np.mean(f1)),
            "per_class": {names[i]: {"precision": float(precision[i]), "recall": float(recall[i]),
                                     "f1": float(f1[i]), "support": int(support[i])} for i in range(k)},
            "confusion_matrix": matrix.tolist(),
        }

    def headline(self, block: dict[str, Any]) -> Headline:
        return Headline("accuracy", block["accuracy"], higher_is_better=True)
