"""What the loop writes and says: the training log lines, the end of each validated epoch
(callbacks, the validation line, the checkpoints) and the end-of-run summary; the ``Trainer``
methods that report, as ``interruptions`` holds those that stop."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from ..config import TrainConfig

from ..fields import to_dict
from ..models.base import Model
from .budget import Budget, stop_reason
from .checkpoint import save_checkpoint
from .context import Distributed
from .faults import StopTraining
from .logger import RunLogger
from .metrics import MetricSums
from .privacy import Privacy, privacy_state


class Reporting:
    """Mixed into ``Trainer``. What these methods use of the trainer is declared here, so this module
    needs nothing from ``loop.py``."""

    model: Model
    optimizers: list[torch.optim.Optimizer]
    cfg: TrainConfig
    state: dict[str, Any]
    world: Distributed
    logger: RunLogger
    run_dir: Path
    durable: bool
    steps_per_epoch: int
    lr: float
    callbacks: Sequence[Any]
    last_val: dict[str, float]
    privacy: Privacy | None
    budget: Budget
    val: Any
    saved_config: dict[str, Any]
    monitor: str
    mode: str
    total: int
    timed_out: bool
    stopped_by_callback: str | None

    convergence_notes: Callable[[str], list[str]]   # Validation's

    def log_train(self, sums: MetricSums, seconds: float, epoch: int) -> float:
        """Log the means since the last log line; stop on a non-finite loss. Returns the loss."""
        state = self.state
        means = sums.means()
        state["train_seconds"] += seconds
        if state["skipped"]:
            means["skipped_steps"] = state["skipped"]
        self.logger.log("train", state["step"], epoch=epoch + state["batch"] / self.steps_per_epoch,
                        lr=self.lr, samples_per_s=sums.count * self.world.world_size / max(seconds, 1e-9),
                        train_seconds=state["train_seconds"], **means)
        return means.get("loss", math.nan)

    def end_epoch(self, improved: bool) -> None:
        """Callbacks (e.g. per-epoch sample grids), the validation log line, the checkpoints."""
        state = self.state
        report: dict[str, Any] = {}
        if self.world.is_main:
            for callback in self.callbacks:   # every callback runs, also after one asked to stop
                try:
                    report.update(callback(self.model, self.run_dir, state["epoch"], self.last_val))
                except StopTraining as stop:
                    self.stopped_by_callback = stop.reason
        if self.privacy:   # the accountant's epsilon spent so far
            report["dp_epsilon"] = self.privacy.epsilon()
        self.logger.log("val", state["step"], epoch=state["epoch"] + state["batch"] / self.steps_per_epoch,
                        best=bool(improved), train_seconds=state["train_seconds"],
                        **{f"val_{k}": v for k, v in self.last_val.items()}, **report)
        if self.world.is_main and self.cfg.verbose:
            shown = "  ".join(f"val_{k} {v:.4f}" for k, v in self.last_val.items())
            shown += f"  epsilon {report['dp_epsilon']:.3f}" if "dp_epsilon" in report else ""
            print(f"epoch {state['epoch'] + (state['batch'] > 0)}/{self.budget.epochs}  step {state['step']}  "
                  f"{shown}  ({state['train_seconds']:.1f}s training)", flush=True)
        # best before last: a crash between the two leaves a "last" that redoes this epoch
        if improved or self.val is None:
            self.save("best")
        self.save("last")

    def save(self, name: str) -> None:
        if self.world.is_main:
            save_checkpoint(self.run_dir / "checkpoints" / f"{name}.safetensors", self.model, self.optimizers,
                            self.saved_config, {**self.state, "monitor": self.monitor, "mode": self.mode,
                                                "last_val": self.last_val, **privacy_state(self.privacy)},
                            sync=self.durable)

    def finish(self, reason: str) -> dict[str, Any]:
        state, cfg = self.state, self.cfg
        if state["step"] >= self.total and cfg.max_steps and self.total < self.budget.epochs * self.steps_per_epoch:
            reason = "max_steps"
        elif self.timed_out:
            reason = "max_minutes"
        notes = self.convergence_notes(reason)
        self.logger.log("end", state["step"], reason=reason, best=state["best"], monitor=self.monitor,
                        train_seconds=state["train_seconds"], warnings=notes,
                        **{f"val_{k}": v for k, v in self.last_val.items()})
        self.logger.close()
        return {"reason": reason, "stopped": stop_reason(reason, self.budget), "steps": state["step"],
                "epochs": state["epoch"], "monitor": self.monitor, "best": state["best"],
                "final": self.last_val, "train_seconds": state["train_seconds"],
                "planned_epochs": self.budget.epochs, "automatic_budget": self.budget.automatic,
                "warnings": notes, "config": to_dict(cfg), **privacy_state(self.privacy)}
