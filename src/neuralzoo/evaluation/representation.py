"""How good a model's features are as a representation, for every model that can ``encode`` (the
self-supervised encoders, the autoencoder's code, the VAE's posterior mean), on labelled data: the
k-NN probe with every training label (k = 20, cosine, majority vote, features standardised with the
training split's statistics; ``neuralzoo probe`` has the label budgets and the linear probe). It is
the self-supervised models' headline; the autoencoder and the VAE keep theirs."""

from __future__ import annotations

from typing import Any

from .base import EvaluationContext, Headline, Reporter
from .probe import knn_error, model_features

K = 20


class RepresentationReporter(Reporter):
    name = "representation"

    def applies(self, ctx: EvaluationContext) -> bool:
        train = ctx.data.train
        return (hasattr(ctx.model, "encode") and ctx.data.info.task == "classify"
                and train is not None and train.y is not None and ctx.part.y is not None
                and len(train) > K)

    def report(self, ctx: EvaluationContext) -> dict[str, Any]:
        from sklearn.preprocessing import StandardScaler

        train, part = ctx.data.train, ctx.part
        features = model_features(ctx.model, train.x).numpy()
        scaler = StandardScaler().fit(features)
        error = knn_error(scaler.transform(features), train.y.numpy(),
                          scaler.transform(model_features(ctx.model, part.x).numpy()), part.y.numpy(), K)
        return {"knn_accuracy": float(1 - error),
                "knn_protocol": f"k-NN (k={K}, cosine) on the features, all {len(train)} training "
                                f"labels, standardised with training statistics; {ctx.split} split"}

    def headline(self, block: dict[str, Any]) -> Headline:
        return Headline("knn_accuracy", block["knn_accuracy"], higher_is_better=True)
