"""``neuralzoo.tune``: an Optuna study whose trials are ordinary neuralzoo runs.

Each trial trains through ``api.train`` into ``STUDY/trial_NNNN`` with the study's fixed settings
plus the values the sampler suggests, and reports the family's validation monitor (accuracy,
validation loss, -ELBO, forecast error) after every epoch so the pruner can stop it; its value is
the best validation figure of the run. The test part is never read during the search. The study
lives in Optuna's journal file ``STUDY/journal.log`` (or ``storage``), so a study continues where
it stopped and several processes, on one machine or on several, can work on one study: ``trials``
is the study's total, each worker stopping once that many trials have ended.
"""

from __future__ import annotations

import json
import os
import socket
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import NeuralzooError
from .space import Dimension, build_space

if TYPE_CHECKING:
    from ..run_config import RunConfig

STUDY_FILE = "study.json"   # what the study searches: model, fixed settings, space, monitor
SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "hyperband", "none")


def require_optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise NeuralzooError("neuralzoo tune needs Optuna: pip install 'neuralzoo[tune]'") from None
    return optuna


class Reporter:
    """The loop's epoch callback of a trial: report the monitored validation metric, stop when pruned."""

    def __init__(self, trial: Any, monitor: str) -> None:
        self.trial, self.monitor = trial, monitor

    def __call__(self, model: Any, run_dir: Path, epoch: int, metrics: dict[str, float]) -> dict[str, Any]:
        from ..training.faults import StopTraining

        if self.monitor not in metrics:
            return {}
        self.trial.report(float(metrics[self.monitor]), step=epoch)
        if self.trial.should_prune():
            raise StopTraining("pruned")
        return {}


def _storage(optuna: Any, study_dir: Path, storage: str | None) -> Any:
    if storage:
        return storage
    try:   # Optuna >= 4
        from optuna.storages.journal import JournalFileBackend
        backend = JournalFileBackend(str(study_dir / "journal.log"))
    except ImportError:   # Optuna 3
        backend = optuna.storages.JournalFileStorage(str(study_dir / "journal.log"))
    return optuna.storages.JournalStorage(backend)


def _sampler(optuna: Any, name: Any, space: dict[str, Dimension], seed: int) -> Any:
    if not isinstance(name, str):
        return name   # an Optuna sampler object (Python API)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return optuna.samplers.GridSampler({n: d.grid() for n, d in space.items()}, seed=seed)
    raise NeuralzooError(f"sampler must be one of {', '.join(SAMPLERS)}, got {name!r}")


def _pruner(optuna: Any, name: Any, epochs: int | None) -> Any:
    if not isinstance(name, str):
        return name   # an Optuna pruner object (Python API)
    if name == "median":   # Optuna's defaults, but judge from the first epoch on
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
    if name == "hyperband":
        # the automatic budget (no --epochs) plans its epochs per trial: Optuna infers the maximum
        return optuna.pruners.HyperbandPruner(min_resource=1,
                                              max_resource="auto" if epochs is None else max(epochs, 1))
    if name == "none":
        return optuna.pruners.NopPruner()
    raise NeuralzooError(f"pruner must be one of {', '.join(PRUNERS)}, got {name!r}")


def _settle(study_dir: Path, plan: dict[str, Any]) -> dict[str, Any]:
    """A new study records its plan; a continued one must be asked the same question."""
    path = study_dir / STUDY_FILE
    if not path.is_file():
        from ..training.checkpoint import atomic_write

        atomic_write(path, (json.dumps(plan, indent=2) + "\n").encode())
        return plan
    saved = json.loads(path.read_text())
    changed = [key for key in ("model", "settings", "space") if saved.get(key) != plan[key]]
    if changed:
        raise NeuralzooError(f"{path}: this study searches {saved['model']!r} with other "
                             f"{' and '.join(changed)}; a continued study keeps them (use another --study)")
    return saved


def tune(model: str, *, trials: int = 20, space: str | dict[str, Any] | None = None,
         study: str | Path | None = None, storage: str | None = None, sampler: Any = "tpe",
         pruner: Any = "median", timeout: float | None = None, final: bool = False,
         preset: str | None = None, config: str | None = None, **settings: Any) -> Any:
    """Search ``model``'s settings with Optuna; returns the ``optuna.Study``.

    ``settings``: fixed model, training and data settings of every trial (``data="mnist"``,
    ``epochs=5``); ``space``: a space file or dict (``tuning/space.py``), default the family's;
    ``timeout`` in minutes; ``final``: retrain the best settings on training + validation data and
    evaluate once on the test part (``STUDY/final``, ``final.json``)."""
    optuna = require_optuna()
    from ..api import resolve
    from ..registry import get_model_class
    from ..training.validation import monitor_of
    from ..data import load_dataset

    cls = get_model_class(model)
    if not (isinstance(trials, int) and trials >= 1):
        raise NeuralzooError(f"trials must be a positive integer, got {trials!r}")
    dims = build_space(cls, space)
    base = resolve(model, preset, config, settings)   # the fixed settings, checked now
    if not base.data.val_fraction > 0:
        raise NeuralzooError("tune scores trials on validation data: --val-fraction must be > 0")
    train_cfg = base.train
    # the task (and so the monitored metric) of a recurrent model follows from the data
    task = load_dataset(base.data).info.task
    monitor, mode = monitor_of(cls.for_task(task), train_cfg)
    study_dir = Path(study) if study else Path("runs") / f"tune-{model}-{time.strftime('%Y%m%d-%H%M%S')}"
    study_dir.mkdir(parents=True, exist_ok=True)
    plan = _settle(study_dir, {"model": model, "settings": {"preset": preset, "config": config, **settings},
                               "space": {n: d.to_dict() for n, d in dims.items()}, "monitor": monitor,
                               "direction": "maximize" if mode == "max" else "minimize"})
    storage_ = _storage(optuna, study_dir, storage)
    with warnings.catch_warnings():   # the journal storage is "experimental" in some versions
        warnings.simplefilter("ignore")
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        try:
            held = optuna.load_study(study_name=model, storage=storage_).trials
        except KeyError:   # a new study
            held = []
        existing = len(held)
        done = optuna.trial.TrialState
        ended = sum(t.state in (done.COMPLETE, done.PRUNED, done.FAIL) for t in held)
        # a continued study (or a second worker) draws new suggestions, not the first ones again
        seed = train_cfg.seed * 1_000_003 + existing + (os.getpid() if existing else 0)
        study_ = optuna.create_study(study_name=model, storage=storage_, load_if_exists=True,
                                     direction=plan["direction"],
                                     sampler=_sampler(optuna, sampler, dims, seed),
                                     pruner=_pruner(optuna, pruner, train_cfg.epochs))
        # trial 0 is the recipe the user gets without a search, where the space holds it (a grid holds
        # every point already)
        if existing == 0 and sampler != "grid":
            defaults = starting_point(dims, base)
            if defaults:
                study_.enqueue_trial(defaults, skip_if_exists=True)
        objective = Objective(model, preset, config, settings, dims, study_dir, monitor)
        # MaxTrialsCallback stops a worker only after a trial ends, so a study that already holds its
        # total would run one more: re-running a finished command must leave the study as it is
        if ended >= trials:
            print(f"{study_dir}: the study holds {ended} ended trials, --trials {trials}: none to run",
                  flush=True)
        else:
            study_.optimize(objective, n_trials=trials, timeout=None if timeout is None else timeout * 60,
                            catch=(NeuralzooError,), callbacks=[optuna.study.MaxTrialsCallback(
                                trials, states=(done.COMPLETE, done.PRUNED, done.FAIL))])
    from .report import write_report

    write_report(study_, study_dir, plan)
    if final:
        from .report import retrain_best

        retrain_best(study_, study_dir, model, preset, config, settings)
    return study_


def starting_point(dims: dict[str, Dimension], run_config: RunConfig) -> dict[str, Any]:
    """The searched settings' values in ``run_config`` (defaults, preset, fixed settings) that lie in
    the space: a first trial that tells whether the search beats the recipe it starts from."""
    values = {**vars(run_config.data), **vars(run_config.train), **vars(run_config.model_config)}
    point = {}
    for name, dim in dims.items():
        value = values.get(name)
        if isinstance(value, (list, tuple)):
            value = ",".join(map(str, value))
        if dim.kind == "categorical" and value in dim.choices:
            point[name] = value
        elif dim.kind != "categorical" and isinstance(value, (int, float)) and dim.low <= value <= dim.high:
            point[name] = value
    return point


class Objective:
    """One trial: suggested values + fixed settings -> a run in STUDY/trial_NNNN -> its best value."""

    def __init__(self, model: str, preset: str | None, config: str | None, settings: dict[str, Any],
                 dims: dict[str, Dimension], study_dir: Path, monitor: str) -> None:
        self.model, self.preset, self.config, self.settings = model, preset, config, settings
        self.dims, self.study_dir, self.monitor = dims, study_dir, monitor

    def __call__(self, trial: Any) -> float:
        import optuna

        from ..api import train

        values = {name: dim.suggest(trial) for name, dim in self.dims.items()}
        run_dir = self.study_dir / f"trial_{trial.number:04d}"
        trial.set_user_attr("run_dir", str(run_dir))
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        shown = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
        try:
            summary = train(self.model, out=run_dir, preset=self.preset, config=self.config,
                            callbacks=[Reporter(trial, self.monitor)],
                            **{"progress": False, "verbose": False, **self.settings, **values})
        except NeuralzooError as e:   # e.g. a diverging learning rate: the trial fails, the study goes on
            print(f"trial {trial.number} failed ({shown}): {e}", flush=True)
            raise
        if summary["reason"] == "signal":
            raise KeyboardInterrupt(f"trial {trial.number} stopped by a signal; its run: {run_dir}")
        line = f"trial {trial.number}: {summary['epochs']} epochs, {summary['train_seconds']:.1f}s ({shown})"
        if summary["reason"] == "pruned":
            print(f"{line}: pruned", flush=True)
            raise optuna.TrialPruned(f"pruned after epoch {summary['epochs']}")
        if summary["best"] is None:
            raise NeuralzooError(f"{run_dir}: no validation {self.monitor!r} to score the trial by")
        print(f"{line}: best val_{self.monitor} {summary['best']:.4f}", flush=True)
        return float(summary["best"])
