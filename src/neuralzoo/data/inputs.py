"""Inputs for prediction, converted to exactly what a trained model saw during training.

A model's :class:`DataInfo` fixes the sample shape; an image file, a folder of images, an ``.npz``
(key ``x``/``X``) or a ``.csv`` table is converted to it with the training scaling (pixels / 255,
the contrast normalisation and the per-feature standardisation fitted on the training part).
An ``.npz`` of padded sequences may hold ``lengths`` (one per sample, as in training files): the
padding is then zeroed and the lengths go to the model, so a sequence model never reads it.
Images are converted to grey or RGB and resized with Pillow, so a photo of any size can be
classified, with one line (``InputWarning``) saying so: a model sees the resized picture, not the
file; arrays are never resized, because their scaling is unknown.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image

from ..errors import InputWarning, NeuralzooError
from .base import DataInfo
from .contrast import apply_contrast
from .files import IMAGE_SUFFIXES, array_to_samples, list_images, numeric_matrix, read_table, stack_images
from .npz import missing_x_error, read_npz
from .standardise import apply_standardise

IMAGE_MODES = {1: "L", 3: "RGB", 4: "RGBA"}   # channels -> Pillow mode


class Inputs(NamedTuple):
    x: torch.Tensor                   # (N, *info.input_shape) float32 (sequences: (N, T, F), any T)
    names: list[str]                  # file names, or row{i}
    lengths: torch.Tensor | None      # (N,) true lengths of padded sequences, or None


def read_inputs(path: str, info: DataInfo, label_column: str | None = None) -> Inputs:
    """Samples float32, their names and (padded sequences) their lengths, with the model's own
    preprocessing (``info.contrast``, ``info.standardise``) applied. ``label_column``: the training
    table's (a ``.csv`` with one column more than the model's features drops it, by the training
    rule: this column, else one named ``label``, else the last)."""
    x, names, lengths = _read(path, info, label_column)
    return Inputs(model_inputs(x, info), names, lengths)


def model_inputs(x: torch.Tensor, info: DataInfo) -> torch.Tensor:
    """Samples in the data's units -> what the model saw in training: its contrast normalisation and
    standardisation, with the constants fitted on its training part."""
    x = x if info.contrast is None else apply_contrast(x, info.contrast)
    return apply_standardise(x, info.standardise)


def _read(path: str, info: DataInfo, label_column: str | None = None) -> Inputs:
    source = Path(path).expanduser()
    if not source.exists():
        raise NeuralzooError(f"{source}: no such file or folder")
    if source.is_dir():
        files = list_images(source)
        if not files:
            raise NeuralzooError(f"{source}: folder holds no image files ({', '.join(IMAGE_SUFFIXES)})")
        return Inputs(_read_images(files, info, source), [p.name for p in files], None)
    suffix = source.suffix.lower()
    if suffix == ".npz":
        return _read_npz(source, info)
    if suffix == ".csv":
        return Inputs(*_read_csv(source, info, label_column), None)
    if suffix in IMAGE_SUFFIXES:
        return Inputs(_read_images([source], info, source), [source.name], None)
    raise NeuralzooError(f"{source}: unsupported input; give an image ({', '.join(IMAGE_SUFFIXES)}), "
                         "a folder of images, an .npz with key 'x' or a .csv table")


def _read_images(files: list[Path], info: DataInfo, source: Path) -> torch.Tensor:
    if not info.is_image:
        raise NeuralzooError(f"{source}: the model takes vectors of {info.input_shape[0]} features, "
                             f"not images; give an .npz with key 'x' of shape (N, {info.input_shape[0]})"
                             " or a .csv table")
    channels, height, width = info.input_shape
    if channels not in IMAGE_MODES:
        raise NeuralzooError(f"{source}: the model takes {channels}-channel images, which cannot be "
                             "made from image files (1, 3 or 4 channels)")
    x = stack_images(files, IMAGE_MODES[channels], (width, height))
    _warn_if_resized(files, (width, height), source)
    return x


def _warn_if_resized(files: list[Path], size: tuple[int, int], source: Path) -> None:
    """One line when images were resized to the model's (W, H): which, from what size, to what."""
    sizes = {}
    for path in files:   # the header only: the pixels were decoded by stack_images
        with Image.open(path) as image:
            if image.size != size:
                sizes[path] = image.size
    if not sizes:
        return
    path, (w, h) = next(iter(sizes.items()))
    if len(files) == 1:
        area, target = w * h, size[0] * size[1]
        verb = "shrunk" if area > target else "enlarged" if area < target else "resized"
        which = f"the {w}x{h} image {verb}"
    else:
        which = f"{len(sizes)} of {len(files)} images resized (e.g. {path.name}, {w}x{h})"
    warnings.warn(f"{source}: {which} to {size[0]}x{size[1]}, the size the model was trained on "
                  "(bilinear)", InputWarning, stacklevel=4)


def _check_shape(x: torch.Tensor, info: DataInfo, source: Path) -> torch.Tensor:
    if tuple(x.shape[1:]) != tuple(info.input_shape):
        raise NeuralzooError(f"{source}: samples have shape {tuple(x.shape[1:])} but the model "
                             f"expects {tuple(info.input_shape)}")
    return x


def _read_npz(source: Path, info: DataInfo) -> Inputs:
    arrays = read_npz(source)
    key = next((k for k in ("x", "X") if k in arrays), None)
    if key is None:
        raise missing_x_error(source, arrays)
    if "lengths" in arrays:
        return _read_padded(arrays, key, source, info)
    array = arrays[key]
    if not info.is_image and array.ndim == 1 and info.input_shape[0] > 1:
        array = array[None]   # a single feature vector
    if len(info.input_shape) == 2 and array.ndim == 3 and array.dtype.kind in "biuf":
        x = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))   # (N, T, F) sequences
    else:
        x, _ = array_to_samples(array, str(source), key)
    if not torch.isfinite(x).all():
        raise NeuralzooError(f"{source}: {key!r} contains NaN or infinity")
    return Inputs(_check_shape(x, info, source), [f"row{i}" for i in range(len(x))], None)


def _read_padded(arrays: dict[str, np.ndarray], key: str, source: Path, info: DataInfo) -> Inputs:
    """Padded sequences (N, T, F) with ``lengths``: any padded length T, the model's F."""
    from .sequences import sequence_part

    if len(info.input_shape) != 2:
        raise NeuralzooError(f"{source}: holds 'lengths' (padded sequences) but the model takes samples "
                             f"of shape {tuple(info.input_shape)}, not sequences")
    x, lengths = sequence_part(arrays, "train", key, source)
    if x.shape[2] != info.input_shape[1]:
        raise NeuralzooError(f"{source}: sequences have {x.shape[2]} features per step but the model "
                             f"expects {info.input_shape[1]}")
    if not torch.isfinite(x).all():
        raise NeuralzooError(f"{source}: {key!r} contains NaN or infinity inside the lengths")
    return Inputs(x, [f"row{i}" for i in range(len(x))], lengths)


def _read_csv(source: Path, info: DataInfo, label_column: str | None) -> tuple[torch.Tensor, list[str]]:
    if info.is_image:
        raise NeuralzooError(f"{source}: the model takes images of shape {info.input_shape}, not a "
                             "CSV table; give image files or an .npz")
    header, cells = read_table(source)
    features = info.input_shape[0]
    if len(header) == features + 1:   # a training table: drop its labels
        labels = label_column if label_column in header else "label" if "label" in header else header[-1]
        keep = [i for i, name in enumerate(header) if name != labels]
        header, cells = [header[i] for i in keep], cells[:, keep]
    if len(header) != features:
        raise NeuralzooError(f"{source}: {len(header)} columns but the model expects {features} "
                             "features")
    x = torch.from_numpy(numeric_matrix(source, header, cells).astype(np.float32))
    return x, [f"row{i}" for i in range(len(x))]
