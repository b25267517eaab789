"""The Python API behind the CLI: resolve configs, train, load (``runs.load``).

Config precedence, lowest first: dataclass defaults < the model card's ``train_defaults`` < preset < config
file < explicit arguments.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import time
import warnings
from dataclasses import fields
from pathlib import Path
from typing import Any, Sequence

import torch

from .config import TrainConfig, build, read_config_file, to_dict
from .data import DataConfig, DataInfo, DataSplits, load_dataset
from .errors import BaselineWarning, NeuralzooError
from .models.base import Model
from .registry import get_model_class, model_names
from .runs import load, read_run_config  # noqa: F401  (load: neuralzoo.load)
from .training.checkpoint import atomic_write
from .training.faults import RunLock
from .training.loop import EpochCallback, fit
from .training.privacy import check_privacy

RUN_KEYS = ("model", "preset", "model_config", "train", "data", "data_info", "version")


def split_values(model_cls: type[Model], values: dict[str, Any], where: str) -> dict[str, dict]:
    """Route flat ``{field: value}`` pairs to the model, train or data dataclass that owns them."""
    owners = {"model_config": model_cls.Config, "train": TrainConfig, "data": DataConfig}
    out: dict[str, dict] = {k: {} for k in owners}
    for key, value in values.items():
        key = key.replace("-", "_")
        homes = [s for s, cls in owners.items() if key in {f.name for f in fields(cls)}]
        if not homes:
            valid = sorted({f.name for cls in owners.values() for f in fields(cls)})
            close = difflib.get_close_matches(key, valid, n=1)
            guess = f"; did you mean {close[0]!r}?" if close else ""
            raise NeuralzooError(f"unknown setting {key!r} in {where}{guess} (neuralzoo train "
                                 f"{model_cls.name} --help lists the {len(valid)} settings)")
        out[homes[0]][key] = value
    return out


def resolve(model_name: str, preset: str | None = None, config_file: str | None = None,
            overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the run config dict (model name, preset, model_config, train, data)."""
    layers: list[tuple[str, dict[str, Any]]] = []
    file_values: dict[str, Any] = read_config_file(config_file) if config_file else {}
    model_name = model_name or file_values.get("model")
    if not model_name:
        raise NeuralzooError("no model given: name one (neuralzoo list shows them)")
    cls = get_model_class(model_name)
    preset = preset or file_values.get("preset")
    if cls.card.train_defaults:   # the family's own defaults for shared settings (e.g. GANs: lr 2e-4)
        layers.append((f"{model_name} defaults", dict(cls.card.train_defaults)))
    if preset:
        layers.append((f"preset {preset}", cls.card.preset_settings(preset)))
    if file_values:
        flat = {k: v for k, v in file_values.items() if k not in RUN_KEYS}
        for section in ("model_config", "train", "data"):
            if isinstance(file_values.get(section), dict):
                flat.update(file_values[section])
            elif section == "data" and isinstance(file_values.get("data"), str):
                flat["data"] = file_values["data"]
        layers.append((str(config_file), flat))
    layers.append(("the arguments", overrides or {}))
    merged: dict[str, dict] = {"model_config": {}, "train": {}, "data": {}}
    owners = {"model_config": (cls.Config, "model config"), "train": (TrainConfig, "training config"),
              "data": (DataConfig, "data config")}
    built: dict[str, Any] = {}
    for where, values in layers:
        for section, part in split_values(cls, values, where).items():
            merged[section].update(part)
        try:   # built after every layer, so a bad value is blamed on the layer (file) that set it
            built = {section: build(owner, merged[section], name)
                     for section, (owner, name) in owners.items()}
        except NeuralzooError as e:
            raise NeuralzooError(f"{where}: {e}" if where == str(config_file) else str(e)) from None
    return {"model": model_name, "preset": preset, **{section: to_dict(built[section]) for section in owners}}


def build_model(run_config: dict[str, Any], info: DataInfo, seed: int = 0) -> Model:
    cls = get_model_class(run_config["model"])
    torch.manual_seed(seed)  # identical initial weights on every rank and every rerun
    return cls(build(cls.Config, run_config["model_config"]), info)


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
        if model and model != run_config["model"]:
            raise NeuralzooError(f"{run_dir} holds a {run_config['model']!r} run, not {model!r}")
        cls = get_model_class(run_config["model"])
        parts = split_values(cls, settings, "the arguments")
        if parts["model_config"] or parts["data"]:
            fixed = ", ".join({**parts["model_config"], **parts["data"]})
            raise NeuralzooError("a resumed run keeps its model and data settings; only training "
                                 f"settings may change (got {fixed})")
        run_config["train"] = to_dict(build(TrainConfig, {**run_config["train"], **parts["train"]}))
        # killed before its first checkpoint: start the same run again from step 0
        from_checkpoint = (run_dir / "checkpoints" / "last.safetensors").exists()
    else:
        run_config = resolve(model or "", preset, config, settings)
        run_dir = Path(out) if out else default_run_dir(run_config["model"])
        from_checkpoint = False
    data = load_dataset(build(DataConfig, run_config["data"]))
    return train_loaded(data, run_config, run_dir, resume=from_checkpoint, callbacks=callbacks)


def train_loaded(data: DataSplits, run_config: dict[str, Any], run_dir: str | Path,
                 resume: bool = False, callbacks: Sequence[EpochCallback] = ()) -> dict[str, Any]:
    """Train on data already in memory (``data.arrays_dataset``: the scikit-learn estimators) with a
    resolved run config (``resolve``) into ``run_dir``; what ``train`` does once it has loaded the data."""
    run_dir = Path(run_dir)
    train_cfg = build(TrainConfig, run_config["train"])
    run_config["data_info"] = data.info.to_dict()
    from .version import __version__

    run_config["version"] = __version__
    net = build_model(run_config, data.info, train_cfg.seed)
    net.check_data(data.train)
    check_privacy(train_cfg, net, data.train, int(os.environ.get("WORLD_SIZE", "1")))
    main_process = int(os.environ.get("RANK", "0")) == 0
    # one writer per run directory: a second train / --resume into a live run is refused
    with RunLock(run_dir, "training") if main_process else contextlib.nullcontext():
        if main_process:
            atomic_write(run_dir / "config.json", (json.dumps(run_config, indent=2) + "\n").encode())
        summary = fit(net, data, train_cfg, run_dir, run_config, resume=resume,
                      callbacks=[*epoch_callbacks(net, train_cfg), *callbacks])
    summary.update(run_dir=str(run_dir), model=run_config["model"],
                   parameters=sum(p.numel() for p in net.parameters()))
    if train_cfg.baselines and main_process and summary["reason"] != "signal":
        from .evaluation import baseline_check   # evaluation sits above training: imported here

        behind = baseline_check(run_dir, data=data)
        for message in behind:
            warnings.warn(message, BaselineWarning, stacklevel=2)
        summary["warnings"] = [*summary.get("warnings", []), *behind]
    return summary
