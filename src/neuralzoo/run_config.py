"""The run configuration, typed: which model, with which model, training and data settings, from the
command line or a Python call to the checkpoint and back (``RunConfig``), and the one function that
resolves it from its layers (``resolve``).

Precedence, lowest first: the dataclasses' defaults < the model card's ``train_defaults`` < preset <
config file < explicit arguments. Each layer is applied to the dataclasses with ``dataclasses.replace``, so
its values are validated as it is applied and a bad value is blamed on the layer (the config file)
that set it. Nothing here changes an object it is given: every step makes new (frozen) values.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

from .config import TrainConfig

from .fields import build, read_config_file, to_dict, updated
from .data.base import DataInfo
from .data.config import DataConfig
from .errors import NeuralzooError
from .registry import get_model_class

# the keys of a saved run config (config.json, a checkpoint's metadata), in their order there
RUN_KEYS = ("model", "preset", "model_config", "train", "data", "data_info", "version")
SECTIONS = ("model_config", "train", "data")   # the dataclasses a setting may belong to
SECTION_NAMES = {"model_config": "model config", "train": "training config", "data": "data config"}


def section_classes(model_cls: type) -> dict[str, type]:
    """The dataclass of each section (``SECTIONS``) for a model."""
    return {"model_config": model_cls.Config, "train": TrainConfig, "data": DataConfig}


@dataclass(frozen=True)
class RunConfig:
    """Everything a run is trained with: the registered model's name and its ``Config`` dataclass,
    the training and data dataclasses, the preset it started from, and once trained the ``DataInfo``
    of its data and the neuralzoo version that trained it (saved in config.json and every checkpoint).
    """

    model: str
    model_config: Any   # the model's own ``Config`` dataclass (``model_class.Config``)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)
    preset: str | None = None
    data_info: DataInfo | None = None
    version: str | None = None

    @property
    def model_class(self) -> type:
        return get_model_class(self.model)

    def section(self, name: str) -> Any:
        """The dataclass of one section: ``model_config``, ``train`` or ``data``."""
        return getattr(self, name)

    def to_dict(self) -> dict[str, Any]:
        """The JSON layout of config.json and of a checkpoint's ``config`` metadata (``RUN_KEYS``);
        ``data_info`` and ``version`` only once the run has them."""
        out: dict[str, Any] = {"model": self.model, "preset": self.preset,
                               **{name: to_dict(self.section(name)) for name in SECTIONS}}
        if self.data_info is not None:
            out["data_info"] = self.data_info.to_dict()
        if self.version is not None:
            out["version"] = self.version
        return out

    @classmethod
    def from_dict(cls, values: Any, where: str | Path) -> "RunConfig":
        """A saved run config (config.json, a checkpoint's metadata, a pickled estimator's) as a
        ``RunConfig``; anything else is a one-line ``NeuralzooError`` naming ``where`` (the file).
        Checkpoints of older versions load: fields added since take their defaults, and ``DataInfo``
        reads its older layouts."""
        try:
            model_cls = get_model_class(values["model"])
            for name in SECTIONS:
                if not isinstance(values[name], dict):
                    raise TypeError(f"{name!r} is not an object")
            owners = section_classes(model_cls)
            info = values.get("data_info")
            return cls(model=values["model"], preset=values.get("preset"),
                       **{name: build(owners[name], values[name], SECTION_NAMES[name])
                          for name in SECTIONS},
                       data_info=None if info is None else DataInfo.from_dict(info),
                       version=values.get("version"))
        except NeuralzooError as e:   # e.g. an unknown model name or a bad value: say which file holds it
            raise NeuralzooError(f"{where}: {e}") from None
        except (KeyError, TypeError, AttributeError, ValueError, IndexError) as e:
            raise NeuralzooError(f"{where}: not a neuralzoo run config ({type(e).__name__}: {e})") from None


def split_values(model_cls: type, values: Mapping[str, Any], where: str) -> dict[str, dict[str, Any]]:
    """Route flat ``{field: value}`` pairs to the section (model, train or data dataclass) that owns
    them; an unknown name is an error naming ``where`` and the closest valid name."""
    owners = section_classes(model_cls)
    out: dict[str, dict[str, Any]] = {name: {} for name in owners}
    for key, value in values.items():
        key = key.replace("-", "_")
        homes = [name for name, owner in owners.items() if key in {f.name for f in fields(owner)}]
        if not homes:
            valid = sorted({f.name for owner in owners.values() for f in fields(owner)})
            close = difflib.get_close_matches(key, valid, n=1)
            guess = f"; did you mean {close[0]!r}?" if close else ""
            raise NeuralzooError(f"unknown setting {key!r} in {where}{guess} (neuralzoo train "
                                 f"{model_cls.name} --help lists the {len(valid)} settings)")
        out[homes[0]][key] = value
    return out


def apply(run: RunConfig, values: Mapping[str, Any], where: str, blame: bool = False) -> RunConfig:
    """``run`` with one layer of flat settings applied (a new ``RunConfig``). The sections it touches
    are rebuilt and validated now; ``blame``: prefix an error with ``where`` (a config file)."""
    parts = split_values(run.model_class, values, where)
    try:
        return replace(run, **{name: updated(run.section(name), part)
                               for name, part in parts.items() if part})
    except NeuralzooError as e:
        raise NeuralzooError(f"{where}: {e}" if blame else str(e)) from None


def file_layer(values: Mapping[str, Any]) -> dict[str, Any]:
    """A config file's settings, flat: top-level fields and those in its sections (``model_config``,
    ``train``, ``data``); a run's config.json works (its ``data_info`` and ``version`` are not settings)."""
    flat = {k: v for k, v in values.items() if k not in RUN_KEYS}
    for section in SECTIONS:
        if isinstance(values.get(section), dict):
            flat.update(values[section])
        elif section == "data" and isinstance(values.get("data"), str):
            flat["data"] = values["data"]
    return flat


def resolve(model_name: str | None, preset: str | None = None, config_file: str | Path | None = None,
            overrides: Mapping[str, Any] | None = None) -> RunConfig:
    """The run config of a model from its layers, lowest first: the dataclasses' defaults, the
    model card's ``train_defaults``, the preset, the config file, the explicit arguments (``overrides``).
    The model and preset may also come from the config file."""
    file_values: Mapping[str, Any] = read_config_file(config_file) if config_file else {}
    model_name = model_name or file_values.get("model")
    if not model_name:
        raise NeuralzooError("no model given: name one (neuralzoo list shows them)")
    cls = get_model_class(model_name)
    preset = preset or file_values.get("preset")
    layers: list[tuple[str, Mapping[str, Any]]] = []
    if cls.card.train_defaults:   # the family's own defaults for shared settings (e.g. GANs: lr 2e-4)
        layers.append((f"{model_name} defaults", cls.card.train_defaults))
    if preset:
        layers.append((f"preset {preset}", cls.card.preset_settings(preset)))
    if file_values:
        layers.append((str(config_file), file_layer(file_values)))
    layers.append(("the arguments", overrides or {}))
    run = RunConfig(model=model_name, model_config=cls.Config(), preset=preset)
    for where, values in layers:
        run = apply(run, values, where, blame=where == str(config_file))
    return run
