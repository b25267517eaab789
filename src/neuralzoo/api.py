"""The Python API behind the CLI: resolve the run config (``run_config.resolve``), train, load
(``runs.load``).

Config precedence, lowest first: dataclass defaults < the model card's ``train_defaults`` < preset <
config file < explicit arguments (``run_config.resolve``: one function over the dataclasses).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from .config import TrainConfig
from .data import DataInfo, DataSplits, load_dataset
from .errors import BaselineWarning, NeuralzooError
from .models.base import Model
from .registry import get_model_class, model_names
from .run_config import RunConfig, apply, resolve, split_values  # noqa: F401  (resolve: the API's)
from .runs import load, read_run_config  # noqa: F401  (load: neuralzoo.load)
from .training.checkpoint import atomic_write
from .training.faults import RunLock
from .training.loop import EpochCallback, fit
from .training.privacy_checks import check_privacy
from .training.semi import check_semi_supervised


def build_model(run_config: RunConfig, info: DataInfo, seed: int = 0) -> Model:
    """The untrained model of a run config, seeded: identical initial weights on every rank and
    every rerun (a copy of the model config: the model shares no object with ``run_config``)."""
    torch.manual_seed(seed)
    return run_config.model_class(replace(run_config.model_config), info)


def epoch_callbacks(model: Model, cfg: TrainConfig) -> list:
    """The loop's per-epoch callbacks this run asks for: sample grids (``sample_every``)."""
    if not cfg.sample_every:
        return []
    if not hasattr(model, "sample"):
        able = [name for name in model_names() if hasattr(get_model_class(name), "sample")]
        raise NeuralzooError(f"sample_every: {model.name!r} cannot sample; models that can: "
                             f"{', '.join(able)}")
    from .evaluation.epoch_samples import SampleGrid

    return [SampleGrid(cfg.sample_every)]


def default_run_dir(model_name: str) -> Path:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise NeuralzooError("under torchrun give --out RUN_DIR so every process writes the same run")
    return Path("runs") / f"{model_name}-{time.strftime('%Y%m%d-%H%M%S')}"


def train(model: str | None = None, *, out: str | Path | None = None, preset: str | None = None,
          config: str | None = None, resume: str | Path | None = None,
          callbacks: Sequence[EpochCallback] = (), **settings: Any) -> dict[str, Any]:
    """Train a registered model; ``settings`` are any model, training or data fields
    (e.g. ``train("cnn", data="mnist", epochs=5, channels=(32, 64))``). Returns a summary dict."""
    if resume is not None:
        run_dir = Path(resume)
        run_config = read_run_config(run_dir)
        if model and model != run_config.model:
            raise NeuralzooError(f"{run_dir} holds a {run_config.model!r} run, not {model!r}")
        parts = split_values(run_config.model_class, settings, "the arguments")
        if parts["model_config"] or parts["data"]:
            fixed = ", ".join({**parts["model_config"], **parts["data"]})
            raise NeuralzooError("a resumed run keeps its model and data settings; only training "
                                 f"settings may change (got {fixed})")
        run_config = apply(run_config, parts["train"], "the arguments")
        # killed before its first checkpoint: start the same run again from step 0
        from_checkpoint = (run_dir / "checkpoints" / "last.safetensors").exists()
    else:
        run_config = resolve(model, preset, config, settings)
        run_dir = Path(out) if out else default_run_dir(run_config.model)
        from_checkpoint = False
    data = load_dataset(run_config.data)
    return train_loaded(data, run_config, run_dir, resume=from_checkpoint, callbacks=callbacks)


def train_loaded(data: DataSplits, run_config: RunConfig | Mapping[str, Any], run_dir: str | Path,
                 resume: bool = False, callbacks: Sequence[EpochCallback] = (),
                 durable: bool = True) -> dict[str, Any]:
    """Train on data already in memory (``data.arrays_dataset``: the scikit-learn estimators) with a
    resolved run config (``resolve``, or its ``to_dict()``) into ``run_dir``; what ``train`` does once
    it has loaded the data. The caller's run config is left as it was. ``durable=False``: ``run_dir``
    is scratch (an estimator's temporary folder), so its checkpoints skip the fsync that lets a run's
    files survive a power cut (two per checkpoint, two checkpoints per epoch)."""
    from .version import __version__

    run_dir = Path(run_dir)
    if not isinstance(run_config, RunConfig):
        run_config = RunConfig.from_dict(run_config, "the run config")
    run_config = replace(run_config, data_info=data.info, version=__version__)
    train_cfg = run_config.train
    net = build_model(run_config, data.info, train_cfg.seed)
    net.check_data(data.train)
    check_privacy(train_cfg, net, data.train, int(os.environ.get("WORLD_SIZE", "1")))
    check_semi_supervised(train_cfg, net, data.train)
    main_process = int(os.environ.get("RANK", "0")) == 0
    # one writer per run directory: a second train / --resume into a live run is refused
    with RunLock(run_dir, "training") if main_process else contextlib.nullcontext():
        if main_process:
            atomic_write(run_dir / "config.json",
                         (json.dumps(run_config.to_dict(), indent=2) + "\n").encode(), durable)
        summary = fit(net, data, run_config, run_dir, resume=resume,
                      callbacks=[*epoch_callbacks(net, train_cfg), *callbacks], durable=durable)
    summary.update(run_dir=str(run_dir), model=run_config.model,
                   parameters=sum(p.numel() for p in net.parameters()))
    if train_cfg.baselines and main_process and summary["reason"] != "signal":
        from .evaluation import baseline_check   # evaluation sits above training: imported here

        behind = baseline_check(run_dir, data=data)
        for message in behind:
            warnings.warn(message, BaselineWarning, stacklevel=2)
        summary["warnings"] = [*summary.get("warnings", []), *behind]
    return summary
