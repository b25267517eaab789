"""Run directories and checkpoints -> models: the one way back from files to a trained model.

Below evaluation and the Python API in the layering: ``evaluation``, ``api``, the CLI and the feature
networks of sample quality all load models through here (``neuralzoo.load`` is ``runs.load``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from .config import build
from .data.base import DataInfo
from .errors import NeuralzooError
from .models.base import Model
from .registry import get_model_class
from .training.checkpoint import load_model_state, read_checkpoint
from .training.privacy_layers import plain_layers, private_layers


def read_run_config(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise NeuralzooError(f"{run_dir}: not a neuralzoo run directory (no config.json)")
    try:
        return checked_run_config(json.loads(path.read_text()), path)
    except (ValueError, OSError) as e:
        raise NeuralzooError(f"{path}: not a neuralzoo run config ({type(e).__name__}: {e})") from None


def checked_run_config(config: Any, where: Path, sections: tuple[str, ...] = ("model_config", "train", "data")
                       ) -> dict[str, Any]:
    """A run config (config.json, or a checkpoint's) with a known model and its sections as objects."""
    try:
        get_model_class(config["model"])
        for key in sections:
            if not isinstance(config[key], dict):
                raise TypeError(f"{key!r} is not an object")
        return config
    except NeuralzooError as e:   # e.g. an unknown model name: say which file holds it
        raise NeuralzooError(f"{where}: {e}") from None
    except (KeyError, TypeError) as e:
        raise NeuralzooError(f"{where}: not a neuralzoo run config ({type(e).__name__}: {e})") from None


def checkpoint_path(path: str | Path, which: str = "best") -> Path:
    path = Path(path)
    if path.is_dir():
        ckpt = path / "checkpoints" / f"{which}.safetensors"
        if which == "best" and not ckpt.exists():
            ckpt = path / "checkpoints" / "last.safetensors"
        if not ckpt.exists():
            what = ("a neuralzoo run directory without checkpoints" if (path / "config.json").is_file()
                    else "not a neuralzoo run directory (no config.json, no checkpoints/)")
            raise NeuralzooError(f"{path}: {what}; expected {ckpt}")
        return ckpt
    if not path.exists():
        raise NeuralzooError(f"{path}: no such run directory or checkpoint file")
    return path


def run_dir_of(path: str | Path) -> Path:
    """The run directory of a run directory or of a checkpoint file (``RUN/checkpoints/x.safetensors``
    -> ``RUN``; a checkpoint elsewhere -> its folder): where evaluate and predict write by default."""
    path = Path(path)
    if path.is_dir():
        return path
    if path.parent.name == "checkpoints" and (path.parent.parent / "config.json").is_file():
        return path.parent.parent
    return path.parent


def load(path: str | Path, which: str = "best", device: str | torch.device = "cpu",
         precision: str = "float32") -> Model:
    """Rebuild a trained model from a checkpoint file or run directory alone (no training script).

    The model comes back in eval mode with ``.config`` (its dataclass), ``.info`` (DataInfo) and
    ``.run_config`` (everything the run was trained with); ``precision``: its inference precision
    (``Model.set_precision``: float32, or bf16 where the device has it natively)."""
    ckpt = checkpoint_path(path, which)
    tensors, run_config, _state = read_checkpoint(ckpt)
    model = from_state(run_config, tensors, ckpt)
    model.checkpoint = str(ckpt)
    return model.to(device).set_precision(precision)


def from_state(run_config: dict[str, Any], tensors: dict[str, torch.Tensor], ckpt: Path) -> Model:
    """The trained model of a run config and its ``model.``-prefixed weights (a checkpoint's, or a
    pickled scikit-learn estimator's), in eval mode on the CPU; errors name ``ckpt``."""
    run_config = checked_run_config(run_config, ckpt, ("model_config", "train", "data", "data_info"))
    try:
        cls = get_model_class(run_config["model"])
        info = DataInfo.from_dict(run_config["data_info"])
        model = cls(build(cls.Config, run_config["model_config"]), info)
    except NeuralzooError as e:   # unknown model, invalid model config: name the checkpoint
        raise NeuralzooError(f"{ckpt}: {e}") from None
    except (KeyError, TypeError, AttributeError, ValueError, IndexError) as e:
        raise NeuralzooError(f"{ckpt}: checkpoint config is incomplete or malformed "
                             f"({type(e).__name__}: {e})") from None
    private = run_config["train"].get("dp_epsilon") is not None
    if private:   # trained with Opacus's layers: group norm stays, the recurrent layers become torch's
        private_layers(model)
    load_model_state(model, tensors, ckpt)
    if private:
        plain_layers(model)
    model.run_config = run_config
    model.eval()
    if model.infers_channels_last and run_config.get("train", {}).get("channels_last", True):
        model.to(memory_format=torch.channels_last)   # as trained; Model.infer feeds it so
    return model
