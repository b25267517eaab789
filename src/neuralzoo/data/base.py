"""What every data set becomes: tensors in memory plus a description of them.

Loaders (``digits``, ``mnist``, ``npz``, ``csv``, image folders) all return a :class:`DataSplits`.
Samples are float32 in a documented range (images in [0, 1]) with shape ``(N, *input_shape)``; labels
are int64 ``(N,)``. Nothing here does per-sample Python work: batches are gathered by index.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import torch

from ..errors import NeuralzooError
from .config import DataConfig  # noqa: F401  (where most code looks for it)
from .standardise import Standardisation


@dataclass
class SeriesInfo:
    """What a forecaster and its evaluation need to know about a time series (``data/series.py``);
    saved in every checkpoint. The baselines (naive, seasonal naive, AR(p)) and the MASE scale are
    not stored: the forecasting evaluation fits them on the training part it is given."""

    columns: list[str]
    lookback: int
    horizon: int
    mean: list[float]                      # per column, of the (transformed) training part
    std: list[float]
    time_column: str | None = None
    transform: str = "none"                # none, sqrt, log1p: applied before the scaling
    period: int = 1                        # seasonal period: seasonal naive and the MASE scale
    ar_order: int = 1                      # order p of the AR(p) baseline
    split: tuple[int, int, int] = (0, 0, 0)   # ends of the train, val and test parts (steps)
    # the window normalisation and linear part chosen on the validation part (data/series_choice.py),
    # used by a forecaster whose instance_norm / linear_fit is auto
    instance_norm: str = "none"
    linear_fit: str = "least-squares"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SeriesInfo":
        # checkpoints written before this class also stored the fitted baselines ("ar", "mase_scale")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in d.items() if k in known}
        values["split"] = tuple(values.get("split", (0, 0, 0)))
        return cls(**values)


@dataclass
class TextInfo:
    """A character language model's vocabulary (``data/text.py``); the last character is U+FFFD,
    which stands for characters never seen in training."""

    vocabulary: str
    seq_len: int = 64

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TextInfo":
        return cls(vocabulary=d["vocabulary"], seq_len=d.get("seq_len", 64))


@dataclass
class LabelDraw:
    """Which training samples kept their labels (``--labels``, data/labels.py); saved in checkpoints."""

    seed: int
    count: int
    per_class: list[int]                  # labels kept per class index
    sha256: str                           # of the drawn indices, int64 little-endian, ascending
    indices: list[int] | None = None      # the drawn positions in the training part (up to 1,000)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "LabelDraw":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def describe(self, total: int) -> str:
        return (f"labels: {self.count} of the {total} training samples kept, class-balanced "
                f"({'/'.join(str(c) for c in self.per_class)} per class; label_seed {self.seed}; indices "
                f"sha256 {self.sha256[:16]}), the other {total - self.count} unlabelled (label -1)")


@dataclass
class DataInfo:
    """Everything a model needs to know about its data; saved in every checkpoint."""

    name: str
    input_shape: tuple[int, ...]          # one sample, e.g. (1, 28, 28) for images or (64,) for vectors
    num_classes: int | None = None
    class_names: list[str] | None = None
    value_range: tuple[float, float] = (0.0, 1.0)   # range of the stored sample values
    description: str = ""                  # protocol: source, split, preprocessing
    # what the data asks of a model: classify (x -> label), forecast (window -> future values, see
    # data/series.py), text (characters -> next character, see data/text.py)
    task: Literal["classify", "forecast", "text"] = "classify"
    series: SeriesInfo | None = None       # forecast: columns, window sizes, scaling
    text: TextInfo | None = None           # text: the vocabulary
    contrast: dict[str, Any] | None = None   # gcn constants fitted on the training part (contrast.py)
    # per-feature mean / std of the training part (standardise.py); inputs are scaled with them
    standardise: Standardisation | None = None
    # training samples per class (after --imbalance / --train-classes): the prior of logit adjustment,
    # and what tells evaluation that the classes were skewed (None: older checkpoints, unlabelled data)
    class_counts: list[int] | None = None
    label_draw: LabelDraw | None = None    # --labels: which training samples kept a label (labels.py)

    @property
    def is_image(self) -> bool:
        return len(self.input_shape) == 3

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DataInfo":
        d = dict(d)
        d["input_shape"] = tuple(d["input_shape"])
        d["value_range"] = tuple(d.get("value_range", (0.0, 1.0)))
        legacy = d.pop("sequence", None)   # checkpoints before SeriesInfo / TextInfo: one dict
        if legacy is not None and d.get("task") == "forecast":
            d.setdefault("series", legacy)
        elif legacy is not None and d.get("task") == "text":
            d.setdefault("text", legacy)
        if d.get("series") is not None:
            d["series"] = SeriesInfo.from_dict(d["series"])
        if d.get("text") is not None:
            d["text"] = TextInfo.from_dict(d["text"])
        if d.get("standardise") is not None:
            d["standardise"] = Standardisation.from_dict(d["standardise"])
        if d.get("label_draw") is not None:
            d["label_draw"] = LabelDraw.from_dict(d["label_draw"])
        return cls(**d)


@dataclass
class ArrayData:
    """One split held as tensors: ``x`` (N, *input_shape) float32, ``y`` (N,) int64 or None.

    Variable-length sequences add ``lengths`` (N,) int64: sample i is ``x[i, :lengths[i]]``, the rest
    is zero padding. Forecasting windows have float ``y`` (N, horizon, F); text has int64 ``x``.
    """

    x: torch.Tensor
    y: torch.Tensor | None = None
    source: str = ""   # the file(s) this came from, for error messages and protocols
    lengths: torch.Tensor | None = None
    # dynamic binarization (Salakhutdinov & Murray 2008; Burda et al. 2016): each batch gathered for
    # training is a fresh Bernoulli draw with the stored values as probabilities (global RNG, which
    # checkpoints carry, so resumed runs draw the same pixels)
    binarize: bool = False
    # images whose pixels were standardised: each channel's value of a raw 0 pixel, which
    # augmentation fills uncovered pixels with (torchvision's order: pad, then Normalize); None: 0
    background: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.x.dim() == 4 and self.x.stride() != torch.empty(self.x.shape, device="meta").stride():
            # images read channels-last and transposed ((N, 1, H, W) with strides (HW, 1, W, 1)) are
            # 'contiguous' to torch, yet convolutions then pick, and hand on, the channels-last layout,
            # which channels-first runs must not get (DP-SGD: Opacus's per-sample convolution gradients
            # are wrong on it); one copy here rather than one per batch
            self.x = self.x.clone(memory_format=torch.contiguous_format)
        if self.y is not None and len(self.y) != len(self.x):
            raise NeuralzooError(f"{self.source or 'data'}: {len(self.x)} samples but "
                                 f"{len(self.y)} labels")
        if self.lengths is not None and len(self.lengths) != len(self.x):
            raise NeuralzooError(f"{self.source or 'data'}: {len(self.x)} samples but "
                                 f"{len(self.lengths)} lengths")
        # a NaN or infinity makes the sum non-finite, so a finite sum clears the whole tensor in one
        # pass without a mask (a sum that overflows on finite values falls back to the elementwise check)
        if (self.x.is_floating_point() and not torch.isfinite(self.x.sum())
                and not torch.isfinite(self.x).all()):
            bad = (~torch.isfinite(self.x.reshape(len(self.x), -1))).any(1).nonzero()[0, 0].item()
            raise NeuralzooError(f"{self.source or 'data'}: x contains NaN or infinity "
                                 f"(first at sample {bad})")

    def __len__(self) -> int:
        return len(self.x)

    def subset(self, index: torch.Tensor) -> "ArrayData":
        return ArrayData(self.x[index], None if self.y is None else self.y[index], self.source,
                         None if self.lengths is None else self.lengths[index], self.binarize, self.background)

    def to(self, device: torch.device | str) -> "ArrayData":
        return ArrayData(self.x.to(device), None if self.y is None else self.y.to(device), self.source,
                         None if self.lengths is None else self.lengths.to(device), self.binarize,
                         self.background)

    def batch(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        """The batch dict every model's ``loss`` takes: ``{"x": ..., "y": ...[, "lengths": ...]}``."""
        x = self.x[index]
        out = {"x": torch.bernoulli(x) if self.binarize else x}
        if self.y is not None:
            out["y"] = self.y[index]
        if self.lengths is not None:
            out["lengths"] = self.lengths[index]
        return out


@dataclass
class DataSplits:
    train: ArrayData
    val: ArrayData | None
    test: ArrayData | None
    info: DataInfo

    def split(self, name: str) -> ArrayData:
        part = getattr(self, name, None) if name in ("train", "val", "test") else None
        if part is None:
            have = [n for n in ("train", "val", "test") if getattr(self, n) is not None]
            raise NeuralzooError(f"data set {self.info.name!r} has no {name!r} split; it has: "
                                 f"{', '.join(have)}")
        return part
