"""Inputs from requests, in the model's terms: pixels drawn on the page (JSON) and uploaded files (an
image or an ``.npz`` row). Anything wrong is a ``BadInput`` with one line and a 4xx status, never a
server error; an uploaded file is read through the same checks as ``neuralzoo predict`` (shape,
channels, NaN, no pickles), from a temporary file whose name the request does not choose.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import torch

from ..data.base import DataInfo
from ..data.files import IMAGE_SUFFIXES
from ..data.inputs import model_inputs, read_inputs
from ..errors import NeuralzooError

UPLOAD_SUFFIXES = (*IMAGE_SUFFIXES, ".npz")
MAX_ROWS = 256


class BadInput(NeuralzooError):
    """A request the server refuses: ``status`` 400 (malformed), 413 (too large), 415 (file type)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def pixels_to_input(pixels: list, info: DataInfo) -> torch.Tensor:
    """Values drawn on the page (nested lists in [0, 1], in the model's input shape, or height x
    width for a one-channel image; a standardised model's features in the data's units) -> a batch
    of one, with the model's contrast normalisation or standardisation."""
    try:
        array = np.asarray(pixels, dtype=np.float64)
    except (ValueError, TypeError):
        raise BadInput("pixels: not a rectangular array of numbers") from None
    shape = tuple(info.input_shape)
    if info.is_image and array.shape == shape[1:]:
        array = np.broadcast_to(array, shape)   # one grey drawing for every channel
    if array.shape != shape:
        raise BadInput(f"pixels: shape {array.shape}, the model takes {shape}")
    if not np.isfinite(array).all():
        raise BadInput("pixels: contain NaN or infinity")
    low, high = info.value_range
    if info.standardise is None and (array.min() < low or array.max() > high):   # standardised: raw units
        raise BadInput(f"pixels: values must lie in [{low:g}, {high:g}] (the training scaling)")
    x = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))[None]
    return model_inputs(x, info)


def upload_to_input(content: bytes, filename: str, info: DataInfo) -> tuple[torch.Tensor, list[str]]:
    """An uploaded image or ``.npz`` (key ``x``) -> (N, *input_shape) and the rows' names."""
    shown = Path(filename or "upload").name[:80]
    suffix = Path(shown).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise BadInput(f"{shown}: unsupported file type; upload an image ({', '.join(IMAGE_SUFFIXES)}) "
                       "or an .npz with key 'x'", status=415)
    if not content:
        raise BadInput(f"{shown}: the file is empty")
    with tempfile.TemporaryDirectory(prefix="neuralzoo-upload-") as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(content)
        try:
            inputs = read_inputs(str(path), info)
        except NeuralzooError as e:   # name the upload, not the temporary file
            raise BadInput(str(e).replace(str(path), shown)) from None
    if inputs.lengths is not None:
        raise BadInput(f"{shown}: padded sequences are not served; upload rows of shape {info.input_shape}")
    if not 1 <= len(inputs.x) <= MAX_ROWS:   # read_inputs has refused NaN already
        raise BadInput(f"{shown}: {len(inputs.x)} rows; upload 1 to {MAX_ROWS}")
    return inputs.x, [shown if name == path.name else name for name in inputs.names]


def check_number(name: str, value: float, low: float, high: float) -> float:
    if not (math.isfinite(value) and low <= value <= high):
        raise BadInput(f"{name}: {value} outside [{low:g}, {high:g}]")
    return value
