"""What an exported ONNX file is given after the exporter, and the quiet it runs in: output shapes
declared from the graph's own behaviour, no debugging records, no third-party noise on the console."""

from __future__ import annotations

import contextlib
import logging
import warnings
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from ..errors import NeuralzooWarning

if TYPE_CHECKING:
    from .graphs import Graph

# Two sizes per dynamic axis label, distinct within and across the two runs, so an output axis that
# follows an input axis is recognised by following it in both runs.
PROBES = ({"batch": 3, "steps": 5}, {"batch": 4, "steps": 7})


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence what the exporter and ONNX Runtime's quantization tools print that a user cannot act
    on: Python warnings from their internals (torch.export's FutureWarnings through copyreg, the
    flat-weight UserWarning of nn.RNN), and log records (torch's "torchvision is not installed",
    onnxruntime's root-logger "Please consider to run pre-processing" and "Axis 1 is out-of-range"
    when a rank-1 weight falls back to per-tensor scales). neuralzoo's own warnings still pass."""
    root = logging.getLogger()
    placeholder = logging.NullHandler() if not root.handlers else None
    if placeholder is not None:   # logging.warning() would otherwise install a stderr handler for good
        root.addHandler(placeholder)
    disabled = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            warnings.simplefilter("default", NeuralzooWarning)
            yield
    finally:
        logging.disable(disabled)
        if placeholder is not None:
            root.removeHandler(placeholder)


def declare_outputs(proto: Any, graph: "Graph") -> None:
    """Declare each output's shape from two runs of the graph at different sizes of every dynamic
    input axis: an axis that follows an input axis gets its name (``steps``), one that changes
    otherwise a name of its own, one that stays put its size. The exporter can record the example's
    size for an axis that is dynamic (torch.export gives nn.LSTM's output the example's step count),
    and ONNX Runtime then warns on every call at another length (VerifyOutputSizes). Intermediate
    shape records go too: the runtime infers them again and they can carry the same fixed sizes."""
    import onnxruntime

    del proto.graph.value_info[:]
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3   # the probe itself would be warned about the shapes being fixed
    session = onnxruntime.InferenceSession(proto.SerializeToString(), options,
                                           providers=["CPUExecutionProvider"])
    runs = [session.run(None, probe_feeds(graph, sizes)) for sizes in PROBES]
    for index, value in enumerate(proto.graph.output):
        shapes = [run[index].shape for run in runs]
        dims = value.type.tensor_type.shape.dim
        del dims[:]
        for axis, (first, second) in enumerate(zip(*shapes)):
            dim = dims.add()
            label = next((name for name in PROBES[0] if (first, second) == (PROBES[0][name],
                                                                              PROBES[1][name])), None)
            if first == second:
                dim.dim_value = first
            else:
                dim.dim_param = label or f"{value.name}_axis{axis}"


def probe_feeds(graph: "Graph", sizes: dict[str, int]) -> dict[str, np.ndarray]:
    """The graph's example inputs resized along their dynamic axes (values do not matter here)."""
    feeds = {}
    for name, example in graph.inputs.items():
        shape = [sizes[graph.dynamic.get(name, {})[axis]] if axis in graph.dynamic.get(name, {}) else s
                 for axis, s in enumerate(example.shape)]
        feeds[name] = np.zeros(shape, dtype=example.numpy().dtype)
    return feeds


def strip_debug_records(proto: Any) -> None:
    """Drop what the dynamo exporter records on each node for debugging (the FX node, the module
    path, the Python stack trace with this machine's file paths): nothing a runtime reads, about a
    fifth of an int8 file, and no place for local paths in a file meant to be shipped."""
    for body in (proto.graph, *proto.functions):
        for node in body.node:
            del node.metadata_props[:]
            node.doc_string = ""
