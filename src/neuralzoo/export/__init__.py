"""Export of a trained model for other runtimes, a layer above the models (which compute, and write no
files) and the training loop, below the commands, the server and the estimators:

    graphs.py    the ONNX graphs a model's capabilities call for, their inputs, the metadata
    write.py     one self-contained .onnx file per graph and README.txt
    tidy.py      output shapes declared from two runs, debug records stripped, third-party noise silenced
    check.py     ONNX Runtime against PyTorch (``--check``), int8 graphs scored beside float32
    quantize.py  int8 files beside an export (``--quantize int8``)

``export_model(model, folder)`` is the Python entry point, ``neuralzoo export`` the command.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import NeuralzooError
from .check import Int8Score, check_onnx, score_int8
from .graphs import require_onnx
from .quantize import Quantized, quantize_int8
from .write import export_onnx

if TYPE_CHECKING:
    from ..models.base import Model

__all__ = ["FORMATS", "export_model", "export_onnx", "check_onnx", "score_int8", "quantize_int8",
           "require_onnx", "Int8Score", "Quantized"]

FORMATS = ("onnx",)


def export_model(model: "Model", path: str | Path, format: str = "onnx", opset: int | None = None
                 ) -> list[Path]:
    """Export the trained ``model`` for other runtimes into the folder ``path``: one ONNX file per
    graph and a README.txt; returns the graph files. The model is left in the layout it infers in."""
    if format not in FORMATS:
        raise NeuralzooError(f"unknown export format {format!r}; formats: {', '.join(FORMATS)}")
    return export_onnx(model, path, opset)
