"""The privacy block of eval.json: the (epsilon, delta) a differentially private run spent.

The figure is the whole run's, read from its ``last`` checkpoint beside the evaluated one: the best
checkpoint is chosen by comparing every validated epoch, so it depends on all the iterates and carries
the privacy cost of all of them (post-processing of the whole sequence), not only of the steps
before it was written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..training.checkpoint import describe
from ..training.privacy import spent
from .base import EvaluationContext, Reporter


class PrivacyReporter(Reporter):
    name = "privacy"

    def applies(self, ctx: EvaluationContext) -> bool:
        return ctx.model.run_config.train.dp_epsilon is not None

    def report(self, ctx: EvaluationContext) -> dict[str, Any]:
        evaluated = Path(ctx.model.checkpoint)
        last = evaluated.with_name("last.safetensors")
        return {"privacy": spent(describe(last if last.is_file() else evaluated)["state"])}
