"""Character language models: held-out bits per character (the cross-entropy in base 2, Graves
2013's measure), perplexity per character, and next-character accuracy, all from one pass of the
model's own loss over the split's windows (each held-out character predicted once)."""

from __future__ import annotations

from typing import Any

from .base import EvaluationContext, Headline, Reporter


class TextReporter(Reporter):
    name = "text"

    def applies(self, ctx: EvaluationContext) -> bool:
        return ctx.model.info.task == "text" and "bits_per_char" in ctx.metrics

    def report(self, ctx: EvaluationContext) -> dict[str, Any]:
        bits = ctx.metrics["bits_per_char"]
        return {"text": {"bits_per_char": bits, "perplexity": 2.0 ** bits,
                         "next_character_accuracy": ctx.metrics.get("accuracy"),
                         "characters": int(ctx.part.y.numel()),
                         "vocabulary": len(ctx.model.info.text.vocabulary)}}

    def headline(self, block: dict[str, Any]) -> Headline:
        return Headline("bits/char", block["text"]["bits_per_char"], higher_is_better=False)
