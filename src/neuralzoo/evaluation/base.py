"""What every reporter of the evaluation shares: the context it reads and the headline it gives.

A reporter owns one capability's figures (classification, reconstruction and likelihood, anomaly,
sample quality, forecasting, text). ``evaluate_run`` builds one ``EvaluationContext`` per run, asks
each reporter whether it applies, merges the blocks they return into eval.json, and takes the
headline from the first reporter that gives one. A new metric is a new reporter (or a new key in one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

from ..data.base import ArrayData, DataSplits
from ..models.base import Model


@dataclass
class EvaluationContext:
    """One evaluation: the model, the data (in the model's terms), the split scored, and options."""

    model: Model
    data: DataSplits
    split: str
    out_dir: Path
    seed: int = 0
    # means of model.loss over the split: computed on first use by ``measure`` (one pass), unless a
    # reporter that already ran the model over the split sets them from that pass
    measure: Callable[[], dict[str, float]] = dict
    iw_samples: int = 5000          # importance samples per example for log p(x)
    quality_samples: int = 10000    # generated (and real) samples for sample quality; 0: skip
    inception: str | Path | None = None   # local Inception weights: also the standard FID
    temperature: float = 1.0        # standard deviation of the latent draws behind samples
    robustness: Any = None          # evaluate --robustness: robustness.AttackSettings

    _metrics: dict[str, float] | None = field(default=None, repr=False)

    @property
    def part(self) -> ArrayData:
        return self.data.split(self.split)

    @property
    def metrics(self) -> dict[str, float]:
        if self._metrics is None:
            self._metrics = self.measure()
        return self._metrics

    @metrics.setter
    def metrics(self, values: dict[str, float]) -> None:
        self._metrics = values


@dataclass(frozen=True)
class Headline:
    """The one figure a table shows for an evaluation (the demo's summary, the CLI's last line)."""

    metric: str
    value: float
    higher_is_better: bool
    note: str | None = None   # why this metric, where the choice depends on the run (one line)

    def to_dict(self) -> dict[str, Any]:
        out = {"metric": self.metric, "value": self.value, "higher_is_better": self.higher_is_better}
        return out if self.note is None else {**out, "note": self.note}


class Reporter:
    """One capability's evaluation. ``report`` returns its block of eval.json (keys merged at the top
    level) and may write pictures to ``ctx.out_dir``; ``headline`` reads that block back."""

    name: ClassVar[str] = ""

    def applies(self, ctx: EvaluationContext) -> bool:
        raise NotImplementedError

    def report(self, ctx: EvaluationContext) -> dict[str, Any]:
        raise NotImplementedError

    def headline(self, block: dict[str, Any]) -> Headline | None:
        return None
