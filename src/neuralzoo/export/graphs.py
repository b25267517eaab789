"""The graphs an ONNX export of a trained model holds (``pip install 'neuralzoo[onnx]'``), chosen by
capability, with their example inputs and the preprocessing constants for the metadata:

    classifier        classifier.onnx   x -> logits, probabilities
    autoencoder/VAE   encoder.onnx      x -> code (the VAE: mean, log_variance)
                      decoder.onnx      code -> reconstruction (data space: Bernoulli or Gaussian means)
    GAN               generator.onnx    noise (with a conditional model's one-hot class) -> image
    self-supervised   encoder.onnx      x -> features
    forecaster        forecaster.onnx   window -> forecast (scaled units)
    language model    step.onnx         ids, h[, c] -> logits, h_out[, c_out]

The batch size is dynamic everywhere, the sequence length for the recurrent models. The exporter is
the one PyTorch recommends (``torch.onnx.export(..., dynamo=True)``, which needs onnxscript); graphs
are float32, channels-first. ``neuralzoo.export.export_model`` is the Python entry point,
``neuralzoo export`` the CLI; ``write.py`` writes the files.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import torch
from torch import nn

from ..errors import NeuralzooError

if TYPE_CHECKING:
    from ..models.base import Model

EXTRA = "pip install 'neuralzoo[onnx]'"


def require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as e:
        raise NeuralzooError(f"ONNX export needs onnx, onnxscript and onnxruntime ({e.name} is missing): "
                             f"{EXTRA}") from None


@contextlib.contextmanager
def exporting(model: "Model") -> Iterator["Model"]:
    """The model as the graphs hold it (float32, channels-first, eval mode) for the duration, and
    back in the layout it infers in afterwards (``Model.infer`` feeds image models channels-last)."""
    model.float().to(memory_format=torch.contiguous_format).eval()
    try:
        yield model
    finally:
        if model.infers_channels_last:
            model.to(memory_format=torch.channels_last)


def exported(folder: str | Path, graph: "Graph", suffix: str = ".onnx") -> Path:
    """The file of an exported graph in ``folder``, which must exist."""
    path = Path(folder) / f"{graph.name}{suffix}"
    if not path.is_file():
        raise NeuralzooError(f"{path}: not found; export first (neuralzoo export RUN)")
    return path


class _Step(nn.Module):
    """The character language model one call at a time, its recurrent state explicit: (ids, h[, c])
    -> (logits, h[, c]), so a runtime can read a prompt and then generate step by step."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor, h: torch.Tensor, c: torch.Tensor | None = None) -> Any:
        outputs, _, new = self.model.recur(ids, None, h if c is None else (h, c))
        logits = self.model.head(outputs).float()   # (B, T, V)
        return (logits, *new) if isinstance(new, tuple) else (logits, new)


class _Call(nn.Module):
    """A graph over one of the model's capabilities (the model's weights, not a copy)."""

    def __init__(self, model: nn.Module, method: str) -> None:
        super().__init__()
        self.model, self.method = model, method

    def forward(self, x: torch.Tensor) -> Any:   # one input (the language model's step: _Step)
        if self.method == "classify":
            logits = self.model(x).float()
            return logits, torch.softmax(logits, 1)
        return getattr(self.model, self.method)(x)


@dataclass
class Graph:
    name: str
    module: nn.Module
    inputs: dict[str, torch.Tensor]          # example inputs, by name
    outputs: list[str]
    dynamic: dict[str, dict[int, str]] = field(default_factory=dict)   # input -> {axis: name}
    note: str = ""


def graphs(model: "Model") -> list[Graph]:
    """The graphs a model's capabilities call for (module docstring), with example inputs."""
    shape = tuple(model.info.input_shape)
    batch = {0: "batch"}
    if model.info.task == "forecast":   # a window may be of any length unless a linear term reads it whole
        dims = batch if model.config.linear_skip else {0: "batch", 1: "steps"}
        return [Graph("forecaster", _Call(model, "forward"), {"window": torch.randn(2, *shape)},
                      ["forecast"], {"window": dims},
                      note="window and forecast in the scaled units of the metadata's series: "
                           "(value - mean) / std after its transform")]
    if model.info.task == "text":
        cfg = model.config
        h = torch.zeros(cfg.num_layers, 2, cfg.hidden_size)
        states = {"h": h, "c": h.clone()} if cfg.cell == "lstm" else {"h": h}
        return [Graph("step", _Step(model), {"ids": torch.zeros(2, 3, dtype=torch.long), **states},
                      ["logits", *(f"{n}_out" for n in states)],
                      {"ids": {0: "batch", 1: "steps"}, **{n: {1: "batch"} for n in states}},
                      note="ids: indices into the metadata's vocabulary; h (and c): the state, zeros "
                           "at the start; feed the *_out state back for the next call")]
    if hasattr(model, "predict_proba"):
        sequence = len(shape) == 2 and not model.info.is_image and hasattr(model, "rnn")
        dims = {0: "batch", 1: "steps"} if sequence else batch
        return [Graph("classifier", _Call(model, "classify"), {"x": torch.rand(2, *shape)},
                      ["logits", "probabilities"], {"x": dims})]
    if hasattr(model, "encode") and hasattr(model, "decode"):
        latent = model.config.latent_dim
        encoder = (Graph("encoder", _Call(model, "posterior"), {"x": torch.rand(2, *shape)},
                         ["mean", "log_variance"], {"x": batch}) if hasattr(model, "posterior") else
                   Graph("encoder", _Call(model, "encode"), {"x": torch.rand(2, *shape)}, ["code"],
                         {"x": batch}))
        return [encoder, Graph("decoder", _Call(model, "decode"), {"code": torch.randn(2, latent)},
                               ["reconstruction"], {"code": batch})]
    if hasattr(model, "encode"):   # the self-supervised encoders: images -> features
        return [Graph("encoder", _Call(model, "encode"), {"x": torch.rand(2, *shape)}, ["features"],
                      {"x": batch})]
    if hasattr(model, "sample") and hasattr(model, "noise"):
        if hasattr(model, "standing_statistics"):   # computed now, so the graph holds them as constants
            model.standing_statistics()
        noise = model.noise(2)
        return [Graph("generator", _Call(model, "forward"), {"noise": noise}, ["image"], {"noise": batch},
                      note=describe_noise(noise_layout(model)))]
    raise NeuralzooError(f"{model.name!r} has no capability ONNX export covers")


def preprocessing(model: "Model") -> dict[str, Any]:
    """What an application needs beside the graph to feed it and read it."""
    info = model.info
    return {"neuralzoo_model": model.name, "input_shape": list(info.input_shape),
            "value_range": list(info.value_range), "class_names": info.class_names,
            "contrast": info.contrast, "data": info.description,
            "standardise": None if info.standardise is None else asdict(info.standardise),
            "series": None if info.series is None else asdict(info.series),
            "vocabulary": None if info.text is None else info.text.vocabulary,
            "noise": noise_layout(model)}


def noise_layout(model: "Model") -> dict[str, Any] | None:
    """A generator's input columns, so another runtime can sample: ``latent`` independent standard
    normal values (neuralzoo's ``noise()`` at temperature 1), then for a class-conditional model a
    one-hot class over ``class_names``, drawn by neuralzoo from the training labels' frequencies."""
    if not (hasattr(model, "noise") and hasattr(model, "latent_draw")):
        return None
    latent = model.config.latent_dim
    layout: dict[str, Any] = {"size": model.generator_inputs, "latent": {
        "columns": [0, latent], "distribution": "normal", "mean": 0.0, "std": 1.0}, "class": None}
    if model.config.conditional:
        layout["class"] = {"columns": [latent, latent + model.num_classes], "encoding": "one-hot",
                           "class_names": model.info.class_names,
                           "prior": [round(float(p), 6) for p in model.label_prior]}
    return layout


def describe_noise(layout: dict[str, Any]) -> str:
    latent, label = layout["latent"]["columns"][1], layout["class"]
    text = (f"noise: {layout['size']} values per image: columns 0-{latent - 1} independent standard "
            f"normal draws N(0, 1) (multiply them by a temperature below 1 for less varied, cleaner "
            f"images)")
    if label is not None:
        first, end = label["columns"]
        text += (f", then columns {first}-{end - 1} the class one-hot (1 at the index of the class in "
                 f"the metadata's class_names, 0 elsewhere; to sample unlabelled, draw the class from "
                 f"the metadata's noise.class.prior, the training labels' frequencies)")
    return text + "; the metadata's key noise says the same"


def describe(shape: torch.Size, dynamic: dict[int, str]) -> str:
    return "(" + ", ".join(dynamic.get(i, str(s)) for i, s in enumerate(shape)) + ")"
