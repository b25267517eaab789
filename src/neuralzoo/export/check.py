"""Checks of an ONNX export against PyTorch: ONNX Runtime's float32 graphs output for output
(``neuralzoo export --check``), and the int8 graphs scored on the run's test samples beside them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from .graphs import Graph, exported, exporting, graphs, require_onnx

if TYPE_CHECKING:
    from ..models.base import Model


@torch.no_grad()
def check_onnx(model: "Model", folder: str | Path, samples: torch.Tensor,
               batches: tuple[int, ...] = (1, 17)) -> dict[str, dict[str, float]]:
    """ONNX Runtime (CPU) against PyTorch on the same inputs: the largest absolute difference over
    every output of each exported graph, per batch size. ``samples``: inputs as the model reads them
    (e.g. the run's test images); decoders get their codes, generators seeded noise."""
    require_onnx()
    import onnxruntime

    generator = torch.Generator().manual_seed(0)
    report: dict[str, dict[str, float]] = {}
    with exporting(model):
        for graph in graphs(model):
            session = onnxruntime.InferenceSession(str(exported(folder, graph)),
                                                   providers=["CPUExecutionProvider"])
            report[graph.name] = {}
            for batch in batches:
                rows = samples[torch.arange(batch) % len(samples)]
                feeds = graph_feeds(model, graph, rows, generator)
                expected = graph.module(*feeds.values())
                expected = expected if isinstance(expected, tuple) else (expected,)
                got = session.run(None, {name: t.numpy() for name, t in feeds.items()})
                report[graph.name][f"batch {batch}"] = max(
                    float((torch.from_numpy(g) - e.float()).abs().max()) for g, e in zip(got, expected))
    return report


@torch.no_grad()
def graph_feeds(model: "Model", graph: Graph, rows: torch.Tensor, generator: torch.Generator
                ) -> dict[str, torch.Tensor]:
    """A graph's inputs for data samples ``rows`` (as the model reads them): the samples themselves,
    a decoder their codes, a generator seeded noise, the language model's step the characters from
    a zero state."""
    if graph.name == "decoder":
        return {"code": model.encode(rows).float()}
    if graph.name == "generator":
        return {"noise": model.noise(len(rows), generator=generator)}
    if graph.name == "step":
        return {"ids": rows.long(), **{n: torch.zeros(t.shape[0], len(rows), t.shape[2])
                                       for n, t in list(graph.inputs.items())[1:]}}
    return {next(iter(graph.inputs)): rows}


# The bounds int8 graphs are held to beside float32 on the same test samples: accuracy may fall by
# at most one point, an error may rise by at most 5%, and an output without ground truth (features,
# images) may move by at most 5% of its mean magnitude.
ACCURACY_DROP = 0.01
ERROR_RISE = 0.05
RELATIVE_DIFFERENCE = 0.05


@dataclass
class Int8Score:
    graph: str
    metric: str
    float32: float
    int8: float
    largest_difference: float   # over the graph's main output (a classifier's probabilities)
    samples: int

    @property
    def within(self) -> bool:
        if self.metric == "accuracy":
            return self.int8 >= self.float32 - ACCURACY_DROP
        if self.metric == "relative difference":
            return self.int8 <= RELATIVE_DIFFERENCE
        return self.int8 <= self.float32 * (1 + ERROR_RISE)

    @property
    def bound(self) -> str:
        return ("a drop of at most 1 point" if self.metric == "accuracy" else
                f"at most {RELATIVE_DIFFERENCE:.0%}" if self.metric == "relative difference" else
                f"a rise of at most {ERROR_RISE:.0%}")

    def line(self) -> str:
        shown = (lambda v: f"{v:.1%}") if self.metric == "accuracy" else (lambda v: f"{v:.4g}")
        inputs = "noise draws" if self.graph == "generator" else "test samples"
        return (f"{self.graph}.int8.onnx on {self.samples} {inputs}: {self.metric} "
                f"{shown(self.int8)} against {shown(self.float32)} in float32 (bound: {self.bound}); "
                f"largest output difference {self.largest_difference:.3g}")


@torch.no_grad()
def score_int8(model: "Model", folder: str | Path, x: torch.Tensor, y: torch.Tensor | None,
               limit: int = 1000) -> list[Int8Score]:
    """Each int8 graph in ``folder`` beside its float32 graph on test samples ``x`` (targets ``y``):
    a classifier's accuracy, an autoencoder's reconstruction mean squared error through its int8
    encoder and decoder, and otherwise (features, generated images: no ground truth) the mean absolute
    difference relative to the float output's magnitude. The recurrent graphs get no int8 file."""
    require_onnx()
    x, y = x[:limit], None if y is None else y[:limit]
    scores = []
    with exporting(model):
        present = {g.name: g for g in graphs(model) if (Path(folder) / f"{g.name}.int8.onnx").is_file()}
        for name, graph in present.items():
            if name == "decoder" and "encoder" in present:
                continue   # scored with its encoder
            feeds = graph_feeds(model, graph, x, torch.Generator().manual_seed(0))
            runs = {kind: _run(folder, f"{name}{kind}", feeds) for kind in ("", ".int8")}
            main = {kind: outputs[1 if name == "classifier" else 0] for kind, outputs in runs.items()}
            if name == "encoder" and "decoder" in present:
                main = {kind: _run(folder, f"decoder{kind}", {"code": torch.from_numpy(outputs[0])})[0]
                        for kind, outputs in runs.items()}
                value = {kind: float(((out - x.numpy()) ** 2).mean()) for kind, out in main.items()}
                metric, name = "reconstruction mean squared error", "encoder+decoder"
            elif name == "classifier" and y is not None:
                value = {k: float((out.argmax(-1) == y.numpy()).mean()) for k, out in main.items()}
                metric = "accuracy"
            else:
                spread = float(np.abs(main[""]).mean()) or 1.0
                value = {"": 0.0, ".int8": float(np.abs(main[".int8"] - main[""]).mean()) / spread}
                metric = "relative difference"
            scores.append(Int8Score(name, metric, value[""], value[".int8"],
                                    float(np.abs(main[".int8"] - main[""]).max()), len(x)))
    return scores


def _run(folder: str | Path, graph: str, feeds: dict[str, torch.Tensor]) -> list[np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(Path(folder) / f"{graph}.onnx"),
                                           providers=["CPUExecutionProvider"])
    return session.run(None, {name: t.numpy() for name, t in feeds.items()})
