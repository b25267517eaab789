"""The one dataclass of the recurrent models' hyperparameters (``rnn``, ``lstm``, ``gru``; see
``models/sequence.py``): the cell is a field, and each registered name only changes its default."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..fields import check_choices, param
from ..errors import NeuralzooError


@dataclass
class SequenceConfig:
    cell: Literal["rnn", "lstm", "gru"] = param("lstm", "recurrent cell: rnn (Elman, tanh), lstm or gru")
    nonlinearity: Literal["tanh", "relu"] = param(
        "tanh", "rnn cell only: the Elman cell's activation; relu grows linearly with its input where "
        "tanh saturates, so forecasts can follow amplitudes beyond the training range")
    hidden_size: int = param(128, "units of each recurrent layer (per direction)")
    num_layers: int = param(1, "stacked recurrent layers")
    bidirectional: bool = param(False, "also read each sequence backwards (not for text)")
    dropout: float = param(0.0, "dropout between recurrent layers and before the head")
    pooling: Literal["last", "mean"] = param("last", "sequence summary for classification and "
                                             "forecasting: the final state, or the mean output over "
                                             "the real (unpadded) steps")
    embedding_dim: int = param(32, "text: size of the learned character embedding")
    linear_skip: bool = param(True, "forecasting: add a linear autoregressive term over the lookback "
                              "window to the network's forecast (the highway of LSTNet, Lai et al. 2018)")
    linear_fit: Literal["auto", "joint", "least-squares", "iterated", "seasonal-naive", "naive"] = param(
        "auto", "forecasting, with linear_skip: how the linear term is set before training. Fixed, "
        "the network's output starting at zero, so the network learns the residuals of a linear "
        "model (the ARIMA + network hybrid of Zhang 2003: the default starts as a linear forecaster "
        "and can only improve on it where the network learns something): least-squares (one "
        "regression per horizon step), iterated (the one-step least-squares AR model iterated over "
        "the horizon), seasonal-naive or naive (the network learns the seasonally differenced or "
        "differenced series); auto: the one the data chose on its validation part (see --transform "
        "auto); joint: trained with the network")
    members: int = param(1, "forecasting: an ensemble of this many independently initialised networks "
                         "(recurrent layers, head, skip), each trained on its own loss on the same "
                         "batches; the forecast is their mean")
    instance_norm: Literal["auto", "none", "shift", "standardise", "level"] = param(
        "auto", "forecasting: reversible instance normalisation (RevIN, Kim et al. ICLR 2022): each "
        "lookback window is normalised by its own statistics per feature, the network forecasts in "
        "that space and the forecast is mapped back with the same statistics. auto: the one the data "
        "chose on its validation part (none, shift or standardise; see --transform auto); shift: "
        "minus the window's mean, so forecast(x + b) = forecast(x) + b, as a differenced model's; "
        "standardise: the window's mean and std, so forecast(a*x + b) = a*forecast(x) + b for a > 0, "
        "like a linear AR model; level: divided by its mean absolute value in the data's units (after "
        "the transform), so forecast(a*x) = a*forecast(x) and a floor at zero stays visible")
    instance_affine: bool = param(False, "forecasting, with instance_norm: RevIN's learnable per-feature "
                                  "scale and shift of the normalised window, undone on the forecast")
    scale_augment: float = param(0.0, "forecasting: in training, multiply each window and its targets "
                                 "(in the data's units, after the transform) by exp(u), u ~ U(-s, s) per "
                                 "window: amplitudes beyond the training range, the zero floor kept "
                                 "(the scaling augmentation of Um et al. 2017)")

    def __post_init__(self) -> None:
        for name in ("hidden_size", "num_layers", "embedding_dim", "members"):
            if getattr(self, name) < 1:
                raise NeuralzooError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise NeuralzooError(f"dropout must be in [0, 1), got {self.dropout}")
        check_choices(self)
        if self.scale_augment < 0:
            raise NeuralzooError(f"scale_augment must be >= 0, got {self.scale_augment}")
        if self.nonlinearity != "tanh" and self.cell != "rnn":
            raise NeuralzooError(f"nonlinearity {self.nonlinearity!r} is for the rnn cell; the "
                                 f"{self.cell} cell has fixed gates (use --nonlinearity tanh)")
        if self.instance_affine and self.instance_norm == "none":
            raise NeuralzooError("instance_affine needs instance_norm (--instance-norm)")
