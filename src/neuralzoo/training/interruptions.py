"""How the loop meets a stop signal or a non-finite step: the ``Trainer`` methods that end or rewind a
run in the middle (``faults`` holds the signal handler and the exception they answer)."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any, Callable

import torch

from ..config import TrainConfig

from ..fields import to_dict
from ..errors import NeuralzooError
from ..models.base import Model
from .checkpoint import restore
from .context import Distributed
from .faults import GracefulStop, NonFiniteStep
from .logger import RunLogger


class Interruptions:
    """Mixed into ``Trainer``: stopping on a signal or at ``--max-minutes``, rolling back after a
    non-finite step. What they
    use of the trainer is declared here, so this module needs nothing from ``loop.py``."""

    model: Model
    optimizers: list[torch.optim.Optimizer]
    cfg: TrainConfig
    state: dict[str, Any]
    world: Distributed
    device: torch.device
    stop: GracefulStop
    logger: RunLogger
    run_dir: Path
    steps_per_epoch: int
    lr: float
    save: Callable[[str], None]

    def stop_requested(self) -> bool:
        """A stop signal arrived (under torchrun: on any rank; every rank agrees, at every step)."""
        asked = self.stop.signum is not None
        if not self.world.enabled:
            return asked
        return bool(self.world.all_reduce_sum(torch.tensor(float(asked), device=self.device)) > 0)

    def out_of_time(self, mark: float) -> bool:
        """The time budget is spent (every rank agrees: under torchrun they compare at log steps)."""
        cfg, world = self.cfg, self.world
        if cfg.max_minutes is None or (world.enabled and self.state["step"] % cfg.log_every):
            return False
        over = self.state["train_seconds"] + time.perf_counter() - mark >= cfg.max_minutes * 60
        if not world.enabled:
            return over
        return bool(world.all_reduce_sum(torch.tensor(float(over), device=self.device)) > 0)

    def stopped_by_signal(self) -> dict[str, Any]:
        """After a stop signal: save ``last`` where the loop stands and say how to resume; the summary
        carries the exit code, 128 + the signal number."""
        state, signum = self.state, self.stop.signum or 15   # 15: the signal reached another rank
        self.save("last")
        name = signal.Signals(signum).name
        self.logger.log("stop", state["step"], signal=name, train_seconds=state["train_seconds"])
        self.logger.close()
        if self.world.is_main:
            print(f"stopped by {name} at step {state['step']} (epoch {state['epoch'] + 1}, batch "
                  f"{state['batch']} of {self.steps_per_epoch}); saved {self.run_dir / 'checkpoints'}"
                  f"/last.safetensors; resume with: neuralzoo train --resume {self.run_dir}", flush=True)
        return {"reason": "signal", "signal": name, "exit_code": 128 + signum, "steps": state["step"],
                "epochs": state["epoch"], "train_seconds": state["train_seconds"],
                "config": to_dict(self.cfg)}

    def roll_back(self, bad: NonFiniteStep) -> None:
        """A non-finite step (nothing applied): roll back to ``last`` with half the learning rate when
        ``--on-nonfinite rollback`` has rollbacks left, else stop with a one-line error."""
        state, cfg = self.state, self.cfg
        step, last = state["step"] + 1, self.run_dir / "checkpoints" / "last.safetensors"
        if cfg.on_nonfinite == "rollback" and state["rollbacks"] < cfg.max_rollbacks:
            rollbacks, lr_scale = state["rollbacks"] + 1, state["lr_scale"] / 2
            saved = restore(last, self.model, self.optimizers)
            state.update({k: saved[k] for k in state if k in saved})
            state.update(rollbacks=rollbacks, lr_scale=lr_scale)
            self.logger.truncate_after(state["step"])
            self.logger.log("rollback", state["step"], failed_step=step, metric=bad.metric,
                            lr_scale=lr_scale, rollbacks=rollbacks)
            if self.world.is_main:
                print(f"step {step}: {bad}; rolled back to step {state['step']} with the learning rate "
                      f"x{lr_scale:g} (rollback {rollbacks} of {cfg.max_rollbacks})", flush=True)
            return
        tried = (f" after {state['rollbacks']} rollbacks" if cfg.on_nonfinite == "rollback" else "")
        raise NeuralzooError(
            f"training stopped at step {step}{tried}: {bad.metric} is {bad.value} (not finite); likely "
            f"cause: the learning rate ({self.lr:.3g}) is too high or the gradients explode: try a lower "
            "--lr, --grad-clip 1, or --on-nonfinite skip|rollback; the last checkpoint "
            f"{last if last.exists() else '(none yet)'} is intact")
