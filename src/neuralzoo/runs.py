"""Run directories and checkpoints -> models: the one way back from files to a trained model.

Below evaluation and the Python API in the layering: ``evaluation``, ``api``, the CLI and the feature
networks of sample quality all load models through here (``neuralzoo.load`` is ``runs.load``).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import torch

from .errors import NeuralzooError
from .models.base import Model
from .run_config import RunConfig
from .training.checkpoint import load_model_state, read_checkpoint
from .training.privacy_layers import plain_layers, private_layers


def read_run_config(run_dir: Path) -> RunConfig:
    """The run config of a run directory (its config.json)."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise NeuralzooError(f"{run_dir}: not a neuralzoo run directory (no config.json)")
    try:
        values = json.loads(path.read_text())
    except (ValueError, OSError) as e:
        raise NeuralzooError(f"{path}: not a neuralzoo run config ({type(e).__name__}: {e})") from None
    return RunConfig.from_dict(values, path)


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
    ``.run_config`` (its ``RunConfig``: everything the run was trained with); ``precision``: its
    inference precision (``Model.set_precision``: float32, or bf16 where the device has it natively)."""
    ckpt = checkpoint_path(path, which)
    tensors, values, _state = read_checkpoint(ckpt)
    model = from_state(RunConfig.from_dict(values, ckpt), tensors, ckpt)
    model.checkpoint = str(ckpt)
    return model.to(device).set_precision(precision)


def from_state(run_config: RunConfig, tensors: dict[str, torch.Tensor], ckpt: Path) -> Model:
    """The trained model of a run config and its ``model.``-prefixed weights (a checkpoint's, or a
    pickled scikit-learn estimator's), in eval mode on the CPU; errors name ``ckpt``."""
    if run_config.data_info is None:
        raise NeuralzooError(f"{ckpt}: not a neuralzoo run config (KeyError: 'data_info')")
    try:   # a copy of the model config: the model never shares an object with the run config
        model = run_config.model_class(replace(run_config.model_config), run_config.data_info)
    except NeuralzooError as e:   # e.g. a config the model cannot be built with: name the checkpoint
        raise NeuralzooError(f"{ckpt}: {e}") from None
    except (KeyError, TypeError, AttributeError, ValueError, IndexError) as e:
        raise NeuralzooError(f"{ckpt}: checkpoint config is incomplete or malformed "
                             f"({type(e).__name__}: {e})") from None
    private = run_config.train.dp_epsilon is not None
    if private:   # trained with Opacus's layers: group norm stays, the recurrent layers become torch's
        private_layers(model)
    load_model_state(model, tensors, ckpt)
    if private:
        plain_layers(model)
    model.run_config = run_config
    model.eval()
    if model.infers_channels_last and run_config.train.channels_last:
        model.to(memory_format=torch.channels_last)   # as trained; Model.infer feeds it so
    return model
