"""M1 of M1+M2 (Kingma et al. 2014, Sec. 3.1.3): a trained ``vae`` run read for ``semi_vae``'s
``encoder_run``, frozen. Read as every checkpoint is (safetensors weights, the run config as JSON in
its metadata; nothing unpickled), here in the models layer, which may not import ``neuralzoo.runs``.

The VAE becomes a submodule of the semi-supervised model, so its weights travel in that model's
checkpoints; its architecture is read again from ``encoder_run`` whenever the model is built, so the
M1 run must stay where it was for ``neuralzoo.load`` of an M1+M2 run.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import NeuralzooError
from ..run_config import RunConfig
from .base import Model


def checkpoint_of(run: str | Path) -> Path:
    """A run directory's best checkpoint (its last when there is no best), or the file given."""
    path = Path(run)
    if path.is_dir():
        for which in ("best", "last"):
            if (path / "checkpoints" / f"{which}.safetensors").is_file():
                return path / "checkpoints" / f"{which}.safetensors"
        raise NeuralzooError(f"encoder_run {run}: no checkpoints/best.safetensors or last.safetensors")
    if not path.is_file():
        raise NeuralzooError(f"encoder_run {run}: no such run directory or checkpoint file")
    return path


def load_encoder_run(run: str | Path, info) -> Model:
    """The trained ``vae`` of ``run``, frozen, in eval mode; refused unless it was trained on samples
    of ``info``'s shape and value range."""
    from safetensors import safe_open

    path = checkpoint_of(run)
    try:
        with safe_open(str(path), "pt") as f:
            values = json.loads((f.metadata() or {})["config"])
            tensors = {k[len("model."):]: f.get_tensor(k) for k in f.keys() if k.startswith("model.")}
    except Exception as e:   # safetensors' and json's errors on a foreign or truncated file
        raise NeuralzooError(f"encoder_run {path}: not a neuralzoo checkpoint ({type(e).__name__})") from None
    config = RunConfig.from_dict(values, path)
    if config.model != "vae":
        raise NeuralzooError(f"encoder_run {path}: a {config.model!r} run; M1+M2 needs a 'vae' run")
    m1_info = config.data_info
    if tuple(m1_info.input_shape) != tuple(info.input_shape) or (
            tuple(m1_info.value_range) != tuple(info.value_range)):
        raise NeuralzooError(f"encoder_run {path}: trained on samples of shape {tuple(m1_info.input_shape)} "
                             f"in {tuple(m1_info.value_range)}; this data has {tuple(info.input_shape)} "
                             f"in {tuple(info.value_range)}")
    m1 = config.model_class(config.model_config, m1_info)
    missing, unexpected = m1.load_state_dict(tensors, strict=False)
    if missing or unexpected:
        raise NeuralzooError(f"encoder_run {path}: weights do not fit its config "
                             f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    return m1.requires_grad_(False).eval()
