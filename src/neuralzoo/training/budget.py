"""How long a run trains when the user does not say: the automatic budget, and the check that a run
ended while its validation metric was still clearly improving.

Defaults sized for 60,000 MNIST images starve a small data set: 10 epochs of 4,000 sequences at batch
128 are 290 updates, and a 100-window series gets 10. So without ``--epochs`` a run plans at least
``auto_min_steps`` updates and 10 epochs, validates about ``MAX_VALIDATIONS`` times, and stops early
once the monitored metric has not improved for a quarter of those validations (at least 10), keeping
the best checkpoint, as Keras's ``EarlyStopping`` and scikit-learn's ``n_iter_no_change`` do. It never
stops before half of the plan: the families' recipes use one-cycle schedules (Smith & Topin 2019),
whose high-learning-rate middle often holds the metric flat before the annealing gains. An explicit
``--epochs N`` means N epochs, validated after each, stopped early only with ``--patience``.

``still_improving`` plays the part of scikit-learn's ``ConvergenceWarning``: the best value of the last
fifth of the run beats the best before it by more than one point (metrics in [0, 1] that grow, such as
accuracy) or 2% (everything else), so training longer would likely help.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..config import TrainConfig

MIN_STEPS = 4000         # the automatic budget's floor of optimizer steps, unless the model sets its own
MIN_EPOCHS = 10          # the automatic budget never plans fewer epochs than the old default
MAX_VALIDATIONS = 100    # validations of one automatic run, at most about this many
LATE_FRACTION = 0.2      # "the end of training" for the convergence check: its last fifth


@dataclass(frozen=True)
class Budget:
    """The planned epochs, how often to validate and when to stop early."""

    epochs: int
    validate_every: int          # epochs between validations (1 unless the budget is automatic)
    patience: int | None         # validations without improvement before stopping; None: never
    automatic: bool
    earliest_stop: float = 0.0   # fraction of the planned steps before which it never stops early

    def describe(self, steps_per_epoch: int) -> str:
        """One line for the start of a run: what was planned and how to change it."""
        if not self.automatic:
            return f"{self.epochs} epochs ({self.epochs * steps_per_epoch:,} steps)"
        every = "every epoch" if self.validate_every == 1 else f"every {self.validate_every} epochs"
        stop = (f", stopping after {self.patience} validations without improvement"
                if self.patience else "")
        return (f"automatic budget: up to {self.epochs} epochs ({self.epochs * steps_per_epoch:,} steps), "
                f"validating {every}{stop}; --epochs N fixes it")


STOP_REASONS = {   # why a run ended, in words, for the summary line
    "budget": "the automatic budget ran out",
    "early_stopping": "no improvement in {patience} validations",
    "epochs": "the epochs asked for are done",
    "max_steps": "--max-steps reached",
    "max_minutes": "--max-minutes reached",
}


def stop_reason(reason: str, budget: Budget) -> str:
    """``reason`` (the summary's code) as the words the training summary prints."""
    return STOP_REASONS.get(reason, reason).format(patience=budget.patience)


def plan_budget(cfg: TrainConfig, steps_per_epoch: int, has_validation: bool,
                model_min_steps: int | None = None) -> Budget:
    """The budget of a run with ``steps_per_epoch`` steps per epoch (``--max-steps`` and
    ``--max-minutes`` still cap it in the loop); ``model_min_steps``: the model's own floor
    (``Model.auto_min_steps``), where ``--auto-min-steps`` is not given."""
    if cfg.epochs is not None:
        return Budget(cfg.epochs, 1, cfg.patience, automatic=False)
    min_steps = next(v for v in (cfg.auto_min_steps, model_min_steps, MIN_STEPS) if v is not None)
    epochs = max(MIN_EPOCHS, math.ceil(min_steps / max(steps_per_epoch, 1)))
    validate_every = max(1, epochs // MAX_VALIDATIONS)
    validations = math.ceil(epochs / validate_every)
    patience = cfg.patience or max(10, math.ceil(validations / 4))
    return Budget(epochs, validate_every, patience if has_validation else None, automatic=True,
                  earliest_stop=0.5)


def still_improving(history: list[tuple[int, float]], mode: str,
                    samples: int | None = None) -> tuple[float, float] | None:
    """(best before the last fifth, best within it) when the late gain is clear; else None.

    ``history``: (step, monitored value) of every validation, in order; ``mode``: "max" or "min";
    ``samples``: the validation part's size: a [0, 1] metric must also gain two samples' worth (on
    46 validation rows one sample is 2.2 points of accuracy: noise, not a trend)."""
    if len(history) < 3:
        return None
    last_step = history[-1][0]
    cut = last_step - LATE_FRACTION * last_step
    before = [value for step, value in history if step <= cut]
    late = [value for step, value in history if step > cut]
    if not before or not late or not all(map(math.isfinite, before + late)):
        return None
    pick = max if mode == "max" else min
    best_before, best_late = pick(before), pick(late)
    gain = best_late - best_before if mode == "max" else best_before - best_late
    unit_interval = mode == "max" and all(0.0 <= v <= 1.0 for v in before + late)
    tolerance = max(0.01, 2 / samples if samples else 0.0) if unit_interval else 0.02 * abs(best_before)
    return (best_before, best_late) if gain > tolerance else None


def convergence_note(history: list[tuple[int, float]], state: dict, monitor: str, mode: str,
                     samples: int | None = None) -> str | None:
    """What to tell the user when ``still_improving`` holds for the run's validation history."""
    late = still_improving(history, mode, samples)
    if late is None:
        return None
    return (f"val {monitor} was still improving when training ended ({late[0]:.4g} -> {late[1]:.4g} in "
            f"the last fifth of {state['step']:,} steps); train longer, e.g. --epochs "
            f"{2 * max(state['epoch'], 1)}")
