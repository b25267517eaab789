"""Writing an export: one self-contained ``.onnx`` file per graph of ``graphs.py``, with the
preprocessing constants in its metadata and a README.txt that says how to feed each graph; PyTorch's
TorchScript exporter where ``torch.export`` fixes an axis that must stay dynamic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..errors import NeuralzooError
from .graphs import Graph, describe, exporting, graphs, preprocessing, require_onnx
from .tidy import declare_outputs, quiet, strip_debug_records

if TYPE_CHECKING:
    from ..models.base import Model


def export_onnx(model: "Model", folder: str | Path, opset: int | None = None) -> list[Path]:
    """Write one self-contained .onnx file per graph into ``folder``, plus README.txt; the paths."""
    require_onnx()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with exporting(model), quiet():
        return _export_graphs(model, folder, opset)


def _export_graphs(model: "Model", folder: Path, opset: int | None) -> list[Path]:
    import onnx

    written, lines = [], [f"neuralzoo {model.name} exported to ONNX (float32, channels-first)."]
    for graph in graphs(model):
        path = folder / f"{graph.name}.onnx"
        shapes = {name: {axis: torch.export.Dim(label, min=1)
                         for axis, label in graph.dynamic.get(name, {}).items()} for name in graph.inputs}
        kwargs = {} if opset is None else {"opset_version": opset}
        try:
            program = torch.onnx.export(graph.module.eval(), tuple(graph.inputs.values()), dynamo=True,
                                        input_names=list(graph.inputs), output_names=graph.outputs,
                                        dynamic_shapes=tuple(shapes.values()), verbose=False, **kwargs)
        except Exception as e:   # the exporter's own errors: say which model and graph
            raise NeuralzooError(f"{model.name}: the {graph.name} graph could not be exported "
                                 f"({type(e).__name__}: {str(e).splitlines()[0][:200]})") from None
        program.save(str(path), external_data=False)
        proto = onnx.load(str(path))
        fixed = static_axes(proto, graph)
        if fixed:   # torch.export specialised an axis (it unrolls nn.RNN over time): the TorchScript exporter
            torchscript_export(graph, path, opset)
            proto = onnx.load(str(path))
            graph.note = (f"{graph.note}; " if graph.note else "") + (
                f"exported with the TorchScript exporter: torch.export fixed the {', '.join(fixed)} axis")
        strip_debug_records(proto)
        declare_outputs(proto, graph)
        entry = proto.metadata_props.add()
        entry.key, entry.value = "neuralzoo", json.dumps(preprocessing(model))
        onnx.save(proto, str(path))
        written.append(path)
        described = ", ".join(f"{n} {describe(t.shape, graph.dynamic.get(n, {}))}"
                              for n, t in graph.inputs.items())
        lines.append(f"{path.name}: inputs {described}; outputs {', '.join(graph.outputs)}"
                     + (f" ({graph.note})" if graph.note else ""))
    lines.append("Preprocessing constants: the metadata key 'neuralzoo' of each file (JSON).")
    if model.info.standardise is not None:
        lines.append("Feature vectors are standardised: feed (x - standardise.mean) / standardise.std "
                     "per feature (the metadata's lists); data-space outputs (reconstructions) come "
                     "back standardised: multiply by std and add mean.")
    (folder / "README.txt").write_text("\n".join(lines) + "\n")
    return written


def static_axes(proto: Any, graph: Graph) -> list[str]:
    """The axes declared dynamic that the exported graph's inputs hold fixed."""
    fixed = []
    for value in proto.graph.input:
        dims = value.type.tensor_type.shape.dim
        for axis, label in graph.dynamic.get(value.name, {}).items():
            if axis < len(dims) and not dims[axis].dim_param:
                fixed.append(label)
    return fixed


def torchscript_export(graph: Graph, path: Path, opset: int | None) -> None:
    """The fallback the issue of a fixed axis calls for: PyTorch's TorchScript-based exporter."""
    with quiet():   # deprecated in favour of dynamo=True, which fixed an axis here
        torch.onnx.export(graph.module.eval(), tuple(graph.inputs.values()), str(path), dynamo=False,
                          input_names=list(graph.inputs), output_names=graph.outputs,
                          dynamic_axes={**graph.dynamic, **{n: {1: "batch"} if n.endswith("_out") else
                                                            {0: "batch"} for n in graph.outputs}},
                          **({} if opset is None else {"opset_version": opset}))
