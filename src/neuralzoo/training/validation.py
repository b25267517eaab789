"""The loop's validation: which metric it monitors and in which direction, a check that it exists
before the first epoch, when to validate, each validation pass and its history (read back on
resume), and the ConvergenceWarning at the end (the ``Trainer`` mixes this in)."""

from __future__ import annotations

import warnings
from typing import Any

import torch

from ..config import TrainConfig
from ..errors import ConvergenceWarning, NeuralzooError
from ..models.base import Model
from .budget import convergence_note
from .logger import read_metrics
from .metrics import evaluate_metrics


def monitor_of(model: Model | type[Model], cfg: TrainConfig) -> tuple[str, str]:
    """(metric, "min" or "max") the run monitors: ``--monitor`` or the model's own (a class works too)."""
    name = cfg.monitor or model.monitor[0]
    if name.startswith("val_"):
        name = name[4:]
    mode = model.monitor[1] if name == model.monitor[0] else ("min" if "loss" in name else "max")
    return name, mode


class Validation:
    """The ``Trainer``'s validation methods; they use its model, data, state, config and context."""

    model: Model
    val: Any
    cfg: TrainConfig
    state: dict[str, Any]
    monitor: str
    mode: str
    ctx: Any
    world: Any
    last_val: dict[str, float]
    history: list[tuple[int, float]]
    budget: Any
    run_dir: Any
    total: int
    timed_out: bool
    logger: Any
    save: Any

    def check_monitor(self) -> None:
        """Fail now, not after an epoch, when the monitored validation metric does not exist."""
        if self.val is None:
            return
        # the probe's random draws (a VAE's posterior samples) must not move the RNG a resume restored
        with torch.random.fork_rng(devices=[]):
            reported = evaluate_metrics(self.model, self.val.subset(torch.arange(min(2, len(self.val)))), 2,
                                        self.ctx)
        if self.monitor not in reported:
            raise NeuralzooError(f"monitor {self.monitor!r} is not a validation metric of "
                                 f"{self.model.name!r}; it reports: {', '.join(sorted(reported))}")

    def validate(self) -> bool:
        """Validation metrics of the epoch; whether this epoch's model is the new best: the monitored
        metric improved, or tied with a lower validation loss (the checkpoint is kept, but only a
        strict improvement resets the patience count: a loss lower by 1e-9 is no progress)."""
        state = self.state
        self.last_val = (evaluate_metrics(self.model, self.val, self.cfg.eval_batch_size, self.ctx,
                                          self.world) if self.val else {})
        value, best = self.last_val.get(self.monitor), state["best"]
        better = (lambda a, b: a < b) if self.mode == "min" else (lambda a, b: a > b)
        # a tie on a coarse monitor (accuracy on a validation part of a few dozen samples moves in
        # steps of several points and ties for many epochs) goes to the lower validation loss, not to
        # the earliest epoch: on small tables the earliest was far from the best (benchmarks/tabular.py)
        loss, best_loss = self.last_val.get("loss"), state.get("best_loss")
        tie_won = (value is not None and value == best and self.monitor != "loss" and loss is not None
                   and (best_loss is None or loss < best_loss))
        improved = value is not None and (best is None or better(value, best))
        if improved:
            state["best"], state["bad_epochs"] = value, 0
        elif value is not None:   # a tie won keeps the checkpoint but is no progress for patience
            state["bad_epochs"] += 1
        if (improved or tie_won) and loss is not None:
            state["best_loss"] = loss
        if value is not None:
            self.history.append((state["step"], value))
        return improved or tie_won

    def validate_start(self) -> None:
        """A model that starts as its baseline (the hybrid forecaster: a frozen linear part, the
        network's output zero) is validated before its first step, so the network is kept only
        where it beats that start on validation."""
        improved = self.validate()
        self.logger.log("val", 0, epoch=0.0, best=bool(improved), train_seconds=0.0,
                        **{f"val_{k}": v for k, v in self.last_val.items()})
        self.save("best")

    def validation_due(self) -> bool:
        """Validate after this epoch: every ``validate_every`` epochs and when training ends."""
        state = self.state
        return (state["epoch"] % self.budget.validate_every == 0 or state["epoch"] >= self.budget.epochs
                or state["step"] >= self.total or self.timed_out or state["batch"] > 0)

    def restore_history(self) -> None:
        """A resumed run's validation history, read back from metrics.jsonl (not kept in the
        checkpoint: a run validated 10,000 times would rewrite it at every save)."""
        key = f"val_{self.monitor}"
        self.history = [(event["step"], event[key]) for event in read_metrics(self.run_dir)
                        if event["event"] == "val" and key in event and event["step"] <= self.state["step"]]

    def convergence_notes(self, reason: str) -> list[str]:
        """A ConvergenceWarning (its text also goes to the summary and metrics.jsonl) when the run
        ended by its budget while the monitored validation metric was still clearly improving."""
        note = (convergence_note(self.history, self.state, self.monitor, self.mode,
                                 len(self.val) if self.val is not None else None)
                if reason != "early_stopping" and self.world.is_main else None)
        if note is None:
            return []
        warnings.warn(note, ConvergenceWarning, stacklevel=3)
        return [note]
