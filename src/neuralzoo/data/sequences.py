"""Sequence classification data: variable-length sequences from .npz (images read row by row,
``digits-rows`` / ``mnist-rows``, are ``files.image_rows``).

An ``.npz`` holding ``lengths`` (and ``lengths_val`` / ``lengths_test`` beside ``x_val`` / ``x_test``)
holds sequences ``x`` (N, T, F) (or (N, T): one feature) padded to a common T; sample i is
``x[i, :lengths[i]]``. Padding is set to 0 whatever the file holds there (NaN padding is fine), and
models pack the sequences, so padding never changes a result.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import NeuralzooError

ROW_DATASETS = {"digits-rows": "digits", "mnist-rows": "mnist"}
LENGTH_KEYS = {"train": "lengths", "val": "lengths_val", "test": "lengths_test"}


def sequence_part(arrays: dict[str, np.ndarray], split: str, x_name: str, path: Path
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded sequences and their lengths for one split of an .npz file that has ``lengths``."""
    key = LENGTH_KEYS[split]
    source = f"{path} [{x_name}]"
    if key not in arrays:
        raise NeuralzooError(f"{path}: has 'lengths' but no {key!r} for {x_name!r}; give every split "
                             "its lengths")
    x, lengths = arrays[x_name], arrays[key]
    if x.dtype.kind not in "biuf":
        raise NeuralzooError(f"{source}: sequences must be numeric, got dtype {x.dtype}")
    if x.ndim == 2:
        x = x[..., None]
    if x.ndim != 3 or len(x) == 0:
        raise NeuralzooError(f"{source}: sequences must have shape (N, T, F) or (N, T), got {x.shape}")
    if lengths.ndim != 1 or len(lengths) != len(x) or lengths.dtype.kind not in "iu":
        raise NeuralzooError(f"{path}: {key!r} must hold one integer length per sample ({len(x)}), got "
                             f"shape {lengths.shape} dtype {lengths.dtype}")
    bad = np.flatnonzero((lengths < 1) | (lengths > x.shape[1]))
    if len(bad):
        raise NeuralzooError(f"{path}: {key!r}[{bad[0]}] = {lengths[bad[0]]} is outside 1..{x.shape[1]} "
                             "(the padded length T)")
    valid = np.arange(x.shape[1])[None, :] < lengths[:, None]   # (N, T)
    x = np.where(valid[..., None], x, 0).astype(np.float32)    # padding -> 0, even NaN padding
    return torch.from_numpy(x), torch.from_numpy(lengths.astype(np.int64))
