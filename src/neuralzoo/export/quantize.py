"""int8 ONNX files beside an export (``neuralzoo export --quantize int8``): ONNX Runtime's static QDQ
quantization for models with convolutions, dynamic int8 for dense and recurrent ones."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from .check import graph_feeds
from .graphs import exported, exporting, graphs, require_onnx
from .tidy import quiet

if TYPE_CHECKING:
    from ..models.base import Model


# Below this share of the weights in int8 the file is no smaller and nothing runs in int8 worth the
# name: ONNX Runtime quantizes MatMul, Gemm and Conv weights, not the GRU and RNN operators, nor the
# LSTM's weights, which the exported graph reorders (Slice, Concat) into ONNX's gate order at run time.
LEAST_QUANTIZED_SHARE = 0.5


@dataclass
class Quantized:
    written: list[Path]
    skipped: dict[str, str]   # graph -> why no int8 file was written


def quantize_int8(model: "Model", folder: str | Path, train: torch.Tensor, calibration: int = 512
                  ) -> Quantized:
    """``GRAPH.int8.onnx`` beside each exported graph: ONNX Runtime's static QDQ quantization,
    per channel, calibrated on ``calibration`` training samples, for models with convolutions; dynamic
    int8 (weights int8, activations quantized on the fly) for the dense and recurrent ones. A graph
    whose weights stay mostly float (a GRU) gets no int8 file, and README.txt says why. README.txt
    gains the sizes and the operator types left in float."""
    require_onnx()
    folder = Path(folder)
    with exporting(model), quiet():
        result, lines = _quantize_graphs(model, folder, train[:calibration].float())
    with open(folder / "README.txt", "a") as f:
        f.write("\n".join(lines) + "\n")
    return result


def _quantize_graphs(model: "Model", folder: Path, rows: torch.Tensor) -> tuple[Quantized, list[str]]:
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_dynamic, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    convolutional = any(isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) for m in model.modules())
    result, lines = Quantized([], {}), []
    for graph in graphs(model):
        source, target = exported(folder, graph), folder / f"{graph.name}.int8.onnx"
        if convolutional:
            (name, inputs), = graph_feeds(model, graph, rows, torch.Generator().manual_seed(0)).items()

            class Reader(CalibrationDataReader):
                def __init__(self) -> None:
                    self.batches = iter([{name: inputs[i:i + 64].numpy()}
                                         for i in range(0, len(inputs), 64)])

                def get_next(self) -> dict | None:
                    return next(self.batches, None)

            prepared = folder / f".{graph.name}.prepared.onnx"
            quant_pre_process(str(source), str(prepared))
            quantize_static(str(prepared), str(target), Reader(), quant_format=QuantFormat.QDQ,
                            per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
            prepared.unlink()
            how = f"static QDQ, per channel, calibrated on {len(rows)} training samples"
        else:
            quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
            how = "dynamic (int8 weights, activations quantized at run time)"
        proto = onnx.load(str(target))
        share = quantized_share(onnx.load(str(source)), proto)
        if share < LEAST_QUANTIZED_SHARE:
            target.unlink()
            recurrent = sorted(set(float_operators(proto)) & {"GRU", "LSTM", "RNN"})
            result.skipped[graph.name] = (
                f"ONNX Runtime's int8 quantization covers {share:.0%} of the graph's weights (it leaves "
                f"{', '.join(recurrent) or 'the main operators'} in float32), so the file would be no "
                f"smaller; use {source.name}")
            lines.append(f"{target.name}: not written: {result.skipped[graph.name]}")
            continue
        floats = float_operators(proto)
        lines.append(f"{target.name}: int8, {how}; {target.stat().st_size:,} bytes against "
                     f"{source.stat().st_size:,} in float32; operators left in float: "
                     f"{', '.join(floats) or 'none'}")
        result.written.append(target)
    return result, lines


def quantized_share(source: Any, quantized: Any) -> float:
    """The share of the float graph's weight values held in 8 bits in the quantized graph."""
    import onnx

    def values(proto: Any, types: set[int]) -> int:
        return sum(math.prod(t.dims) for t in proto.graph.initializer if t.data_type in types)

    total = values(source, {onnx.TensorProto.FLOAT})
    return values(quantized, {onnx.TensorProto.INT8, onnx.TensorProto.UINT8}) / max(total, 1)


def float_operators(proto: Any) -> list[str]:
    """Operator types of a quantized graph that compute in float: those not fed by a
    DequantizeLinear and not themselves integer operators (Q/DQ, QLinear*, *Integer)."""
    dequantized = {o for n in proto.graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    integer = ("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear")
    return sorted({n.op_type for n in proto.graph.node if n.op_type not in integer
                   and not n.op_type.startswith("QLinear") and not n.op_type.endswith("Integer")
                   and not any(i in dequantized for i in n.input)})
