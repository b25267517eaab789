"""Data sets as tensors in memory: ``load_dataset(DataConfig(...)) -> DataSplits``.

The protocol every source goes through is in ``loading.py``; ``config.py`` holds ``DataConfig``
(torch-free), ``base.py`` the tensors and descriptions (``ArrayData``, ``DataSplits``, ``DataInfo``).
The names below load on first use, so ``from neuralzoo.data.config import DataConfig`` (the command
line's flags, ``neuralzoo --help``) imports no torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["DATASETS", "ArrayData", "DataConfig", "DataInfo", "DataSplits", "NeuralzooError",
           "SeriesInfo", "TextInfo", "arrays_dataset", "encode_labels", "load_dataset", "read_idx",
           "read_inputs"]

_HOMES = {"DataConfig": "config", "ArrayData": "base", "DataInfo": "base", "DataSplits": "base",
          "SeriesInfo": "base", "TextInfo": "base", "DATASETS": "loading", "arrays_dataset": "loading",
          "encode_labels": "loading", "load_dataset": "loading", "read_idx": "idx", "read_inputs": "inputs"}


def __getattr__(name: str) -> Any:
    if name == "NeuralzooError":
        from ..errors import NeuralzooError

        return NeuralzooError
    if name in _HOMES:
        return getattr(import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module 'neuralzoo.data' has no attribute {name!r}")
