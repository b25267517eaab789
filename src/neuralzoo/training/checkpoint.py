"""Checkpoints that run no code: one safetensors file each.

Tensors: ``model.*`` (state dict), ``optim.{i}.{param}.{key}`` (optimizer state), ``rng.*`` (torch
generator states as uint8 tensors). Metadata (strings): ``format``/``version``, ``config`` (JSON: model
name and config, training, data, data info) and ``state`` (JSON: counters, best metric, optimizer
param groups). Writes go to a temporary file in the same folder, are fsynced, then renamed over the
old file, so a crash at any moment leaves either the old or the new checkpoint, never a torn one.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors import safe_open
from safetensors.torch import save as st_save

from ..errors import NeuralzooError

FORMAT = "neuralzoo-checkpoint"
VERSION = "1"


def atomic_write(path: Path, data: bytes, sync: bool = True) -> None:
    """Write ``path`` whole or not at all: a temporary file beside it, fsynced, renamed over it. A
    failed write (a full disk, an I/O error, a read-only folder) removes the temporary file, leaves the
    old ``path`` as it was and raises a one-line error naming the file. ``sync=False``: no fsync (a
    scratch folder that no power cut needs to find intact; the rename still makes the write whole)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            if sync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        kept = " (the previous version is intact)" if path.exists() else ""
        raise NeuralzooError(f"{path}: could not write ({e.strerror or e}){kept}") from None
    except BaseException:   # a second stop signal mid-write: no temporary file left behind
        tmp.unlink(missing_ok=True)
        raise
    if not sync:
        return
    try:  # persist the rename itself
        fd = os.open(path.parent, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
    except OSError:
        pass


def _optimizer_tensors(i: int, opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, entries in sd["state"].items():
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{i}.{pid}.{key}"] = value
            else:
                scalars[f"{pid}.{key}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def save_checkpoint(path: Path, model: torch.nn.Module, optimizers: list[torch.optim.Optimizer],
                    config: dict[str, Any], state: dict[str, Any], sync: bool = True) -> None:
    tensors: dict[str, torch.Tensor] = {f"model.{k}": v for k, v in model.state_dict().items()}
    optim_meta = []
    for i, opt in enumerate(optimizers):
        t, meta = _optimizer_tensors(i, opt)
        tensors.update(t)
        optim_meta.append(meta)
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for d, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{d}"] = s
    # safetensors wants contiguous, unshared CPU tensors
    tensors = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in tensors.items()}
    metadata = {"format": FORMAT, "version": VERSION, "config": json.dumps(config),
                "state": json.dumps({**state, "optimizers": optim_meta})}
    atomic_write(Path(path), st_save(tensors, metadata=metadata), sync)


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict, dict]:
    """(tensors, config, state) of a checkpoint file; a clear error for anything that is not ours."""
    return _read(path, lambda f: {key: f.get_tensor(key) for key in f.keys()})


def check_format(path: Path, meta: dict[str, str]) -> dict[str, str]:
    """The metadata of a checkpoint this version reads: ours, and of a format version not newer."""
    if meta.get("format") != FORMAT:
        raise NeuralzooError(f"{path}: not a neuralzoo checkpoint (safetensors metadata has no "
                             f"'format: {FORMAT}')")
    version = meta.get("version", "")
    if not version.isdigit():
        raise NeuralzooError(f"{path}: checkpoint format version {version!r} is not a number")
    if int(version) > int(VERSION):
        raise NeuralzooError(f"{path}: checkpoint format {version} is newer than this neuralzoo reads "
                             f"(format {VERSION} and older); upgrade neuralzoo to load it")
    return meta


def _read(path: str | Path, take: Callable[[Any], Any]) -> tuple[Any, dict, dict]:
    """``take(file)`` of an open checkpoint of a format this version reads, and its (config, state);
    one error naming the file for anything else (not ours, truncated, metadata that is not JSON)."""
    path = Path(path)
    if not path.is_file():
        raise NeuralzooError(f"{path}: checkpoint not found")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = check_format(path, f.metadata() or {})
            taken = take(f)
        config, state = json.loads(meta["config"]), json.loads(meta["state"])
        if not (isinstance(config, dict) and isinstance(state, dict)):
            raise ValueError("config and state must be JSON objects")
        return taken, config, state
    except NeuralzooError:
        raise
    except Exception as e:  # safetensors/json errors on foreign or truncated files
        raise NeuralzooError(f"{path}: not a readable neuralzoo checkpoint "
                             f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'corrupt'})"
                             ) from None


def describe(path: str | Path) -> dict[str, Any]:
    """What a checkpoint holds, read from its header alone (no tensor data, no model built): format,
    run config, training state, and the tensors' names, shapes and dtypes."""
    def header(f: Any) -> tuple[int, dict[str, tuple[list[int], str]]]:
        return (int(f.metadata()["version"]),
                {key: (f.get_slice(key).get_shape(), f.get_slice(key).get_dtype()) for key in f.keys()})

    (version, shapes), config, state = _read(path, header)
    weights = {k[len("model."):]: v for k, v in shapes.items() if k.startswith("model.")}
    state.pop("optimizers", None)
    path = Path(path)
    return {"file": str(path), "bytes": path.stat().st_size, "format": FORMAT, "format_version": version,
            "model": config.get("model"), "preset": config.get("preset"),
            "neuralzoo_version": config.get("version"), "model_config": config.get("model_config"),
            "train": config.get("train"), "data": config.get("data"), "data_info": config.get("data_info"),
            "state": state, "values": sum(math.prod(shape) for shape, _ in weights.values()),
            "weights": {k: f"{dtype}{list(shape)}" for k, (shape, dtype) in weights.items()},
            "optimizer_tensors": sum(k.startswith("optim.") for k in shapes)}


def restore(path: Path, model: torch.nn.Module, optimizers: list[torch.optim.Optimizer]
            ) -> dict[str, Any]:
    """Load model, optimizers and RNG state from a checkpoint; returns the saved training state."""
    tensors, _config, state = read_checkpoint(path)
    load_model_state(model, tensors, path)
    for i, (opt, meta) in enumerate(zip(optimizers, state.get("optimizers", []))):
        per_param: dict[int, dict[str, Any]] = {}
        prefix = f"optim.{i}."
        for key, value in tensors.items():
            if key.startswith(prefix):
                pid, name = key[len(prefix):].split(".", 1)
                per_param.setdefault(int(pid), {})[name] = value
        for key, value in meta["scalars"].items():
            pid, name = key.split(".", 1)
            per_param.setdefault(int(pid), {})[name] = value
        opt.load_state_dict({"state": per_param, "param_groups": meta["param_groups"]})
        match_layouts(opt)
    torch.set_rng_state(tensors["rng.torch"])
    cuda_states = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
    if cuda_states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda_states[: torch.cuda.device_count()])
    return state


def match_layouts(opt: torch.optim.Optimizer) -> None:
    """Give each per-parameter state tensor (Adam's moments) its parameter's memory layout. The file
    holds them contiguous; a channels-last convolution weight beside channels-first moments made the
    fused CPU Adam update the wrong elements after a resume (the classic CNN's first conv weight was off
    by 3e-3 after one resumed step; the unfused update is layout-blind)."""
    for group in opt.param_groups:
        for param in group["params"]:
            for key, value in opt.state.get(param, {}).items():
                if torch.is_tensor(value) and value.shape == param.shape and value.stride() != param.stride():
                    opt.state[param][key] = torch.empty_like(param, dtype=value.dtype).copy_(value)


def load_model_state(model: torch.nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    weights = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        missing, unexpected = model.load_state_dict(weights, strict=False)
    except RuntimeError as e:  # shape mismatch: a checkpoint of another configuration
        raise NeuralzooError(f"{path}: weights do not fit the model: "
                             f"{str(e).splitlines()[-1].strip()}") from None
    if missing or unexpected:
        raise NeuralzooError(f"{path}: weights do not fit the model (missing: "
                             f"{', '.join(missing[:5]) or '-'}; unexpected: "
                             f"{', '.join(unexpected[:5]) or '-'})")
