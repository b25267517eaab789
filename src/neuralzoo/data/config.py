"""Which data set to load and how to split it: ``DataConfig``, in a module without torch, so the
command line builds its flags without importing torch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..errors import NeuralzooError


@dataclass(frozen=True)
class DataConfig:
    """Which data set to load and how to split it (every field is a ``--kebab-case`` CLI flag)."""

    data: str = field(default="digits", metadata={"help": "data set name (digits, mnist) or a path to "
                      ".npz / .csv / an image folder with one sub-folder per class"})
    data_dir: str | None = field(default=None, metadata={"help": "folder holding downloaded data "
                                 "(default: $NEURALZOO_DATA or ~/.cache/neuralzoo)"})
    val_fraction: float = field(default=0.1, metadata={"help": "fraction of the training part held "
                                "out (stratified) for validation; 0 disables validation"})
    split_seed: int = field(default=0, metadata={"help": "seed of the train/validation split (fixed "
                            "so runs with different training seeds see the same split)"})
    limit: int | None = field(default=None, metadata={"help": "use at most this many training samples "
                              "(smoke runs)"})
    label_column: str | None = field(default=None, metadata={"help": "CSV: name of the label column "
                                     "(default: 'label' if present, else the last column)"})
    image_size: int | None = field(default=None, metadata={"help": "image folders: resize every image "
                                   "to this square size (default: all images must share one size)"})
    # -- sequences (data/series.py, data/text.py): time series from a CSV, character text
    lookback: int | None = field(default=None, metadata={"help": "time series: input window length; "
                                 "giving it reads a .csv as a time series (default: 12 for the bundled "
                                 "sunspots; a .csv without it is a classification table)"})
    horizon: int = field(default=1, metadata={"help": "time series: future steps predicted at once"})
    value_columns: tuple[str, ...] = field(default=(), metadata={"help": "time series: the value "
                                           "column(s) (default: every column but the time column)"})
    time_column: str | None = field(default=None, metadata={"help": "time series: the time column "
                                    "(default: one named time, date, year, month or timestamp, if any)"})
    missing: Literal["error", "interpolate"] = field(default="error", metadata={"help": "time series: "
                                                     "empty or NaN values are an error, or linearly "
                                                     "interpolated (from the past and the same split)"})
    test_fraction: float = field(default=0.2, metadata={"help": "fraction held out for testing: time "
                                 "series and text, the final (chronological) part; a single .csv or "
                                 ".npz without a test part, a stratified draw (split_seed); 0: none"})
    period: int = field(default=1, metadata={"help": "time series: seasonal period of the seasonal-naive "
                        "baseline and of the MASE scale"})
    ar_order: int | None = field(default=None, metadata={"help": "time series: order p of the AR(p) "
                                 "least-squares baseline (default: the lookback)"})
    transform: Literal["auto", "none", "sqrt", "log1p", "log"] = field(default="auto", metadata={
        "help": "time series: variance-stabilising transform of the values before scaling (sqrt: "
                "values >= 0, e.g. counts; log1p: values > -1; log: values > 0); auto: none or log, "
                "whichever the least-squares linear forecast of the validation part prefers (with "
                "the window normalisation, stated in the protocol); forecasts and every reported "
                "metric are inverted back to the data's units"})
    seq_len: int = field(default=64, metadata={"help": "text: characters per training window"})
    binarize: Literal["none", "dynamic", "static"] = field(default="none", metadata={
        "help": "binarize [0, 1] values with Bernoulli draws: dynamic = a fresh draw for every training "
                "batch (val/test drawn once with binarize_seed), static = every split drawn once"})
    binarize_seed: int = field(default=0, metadata={"help": "seed of the fixed binarization draws"})
    train_classes: tuple[str, ...] | None = field(default=None, metadata={
        "help": "keep only these classes (names, e.g. 3 or 3,5) in the training and validation parts; "
                "the test part keeps every class (one-class / novelty protocols) (default: all)"})

    # -- semi-supervised training (data/labels.py): N labelled samples, the rest of the training part -1
    labels: int | None = field(default=None, metadata={
        "help": "keep the labels of only N training samples, drawn class-balanced (N/K per class, the "
                "remainder to classes picked by label_seed) after the train/validation split; the others "
                "get label -1 (unlabelled). Models that use unlabelled data train on both, every other "
                "model on the N labelled samples alone (default: every label kept)"})
    label_seed: int = field(default=0, metadata={"help": "seed of the --labels draw (apart from split_seed, "
                            "so label draws vary over one fixed train/validation split)"})

    imbalance: float | None = field(default=None, metadata={
        "help": "cut the training part (after the validation split) to a long-tailed profile: class c "
                "of K keeps n_max * RATIO^(-c/(K-1)) samples (n_max: the largest class), the "
                "exponential profile of Cao et al. 2019's CIFAR-10-LT, drawn with split_seed; "
                "validation and test stay as they are (default: no cut)"})

    contrast: Literal["none", "gcn"] = field(default="none", metadata={
        "help": "gcn: per-sample global contrast normalisation (subtract the sample's mean, divide by its "
                "mean absolute deviation) and min-max scaling to [0, 1] by the training part's extremes, "
                "the preprocessing of Ruff et al. 2018 (images and feature vectors)"})

    standardise: Literal["auto", "on", "off"] = field(default="auto", metadata={
        "help": "standardise each feature of vector inputs (CSV columns, .npz vectors) to zero mean and "
                "unit variance with the training part's statistics, which the model keeps and applies to "
                "every input; auto: unless the values already lie in [0, 1]; on: also images, one mean and "
                "std per channel (torchvision's Normalize); sequences never"})

    def __post_init__(self) -> None:
        if not 0.0 <= self.val_fraction < 1.0:
            raise NeuralzooError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.limit is not None and self.limit < 1:
            raise NeuralzooError(f"limit must be a positive integer, got {self.limit}")
        if self.image_size is not None and self.image_size < 1:
            raise NeuralzooError(f"image_size must be a positive integer, got {self.image_size}")
        for name in ("lookback", "horizon", "period", "ar_order", "seq_len"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise NeuralzooError(f"{name} must be a positive integer, got {value}")
        if not 0.0 <= self.test_fraction < 1.0 or self.val_fraction + self.test_fraction >= 1.0:
            raise NeuralzooError(f"test_fraction must be in [0, 1) and leave training data beside "
                                 f"val_fraction {self.val_fraction}, got {self.test_fraction}")
        if self.missing not in ("error", "interpolate"):
            raise NeuralzooError(f"missing must be one of: error, interpolate; got {self.missing!r}")
        if self.transform not in ("auto", "none", "sqrt", "log1p", "log"):
            raise NeuralzooError(f"transform must be one of: auto, none, sqrt, log1p, log; got "
                                 f"{self.transform!r}")
        if self.binarize not in ("none", "dynamic", "static"):
            raise NeuralzooError(f"binarize must be one of: none, dynamic, static; got {self.binarize!r}")
        if self.contrast not in ("none", "gcn"):
            raise NeuralzooError(f"contrast must be one of: none, gcn; got {self.contrast!r}")
        if self.standardise not in ("auto", "on", "off"):
            raise NeuralzooError(f"standardise must be one of: auto, on, off; got {self.standardise!r}")
        if self.imbalance is not None and not 1.0 <= self.imbalance < float("inf"):
            raise NeuralzooError(f"imbalance must be a ratio >= 1 (largest to smallest class), got "
                                 f"{self.imbalance}")
        if self.labels is not None and self.labels < 1:
            raise NeuralzooError(f"labels must be a positive integer, got {self.labels}")
        if self.train_classes is not None and not self.train_classes:
            raise NeuralzooError("train_classes must name at least one class")
