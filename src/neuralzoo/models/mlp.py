"""Feed-forward classifier: Linear -> [BatchNorm] -> activation -> [Dropout], repeated, then Linear."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from ..cards.mlp import CARD
from ..fields import check_choices, param
from ..errors import NeuralzooError
from ..registry import register
from .classifier import Classifier

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "sigmoid": nn.Sigmoid,
               "leaky_relu": nn.LeakyReLU, "elu": nn.ELU, "softplus": nn.Softplus}


@dataclass
class MLPConfig:
    hidden_sizes: tuple[int, ...] = param((256, 128), "widths of the hidden layers, e.g. 256,128")
    activation: Literal["relu", "tanh", "gelu", "sigmoid", "leaky_relu"] = param("relu", "hidden "
                                                                                  "activation")
    dropout: float = param(0.0, "dropout probability after each hidden layer")
    batch_norm: bool = param(False, "batch normalisation before each activation")

    def __post_init__(self) -> None:
        if any(h < 1 for h in self.hidden_sizes):
            raise NeuralzooError(f"hidden_sizes must be positive integers, got {self.hidden_sizes}")
        if not 0 <= self.dropout < 1:
            raise NeuralzooError(f"dropout must be in [0, 1), got {self.dropout}")
        check_choices(self)


def dense_stack(sizes: list[int], activation: str, dropout: float, batch_norm: bool) -> list[nn.Module]:
    """Hidden layers for consecutive ``sizes`` (in, h1, h2, ...); shared with the CNN's dense head."""
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        layers.append(nn.Linear(fan_in, fan_out, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm1d(fan_out))
        layers.append(ACTIVATIONS[activation]())
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
    return layers


@register(CARD)
class MLP(Classifier):
    Config = MLPConfig

    def __init__(self, config: MLPConfig, info) -> None:
        super().__init__(config, info)
        in_features = math.prod(info.input_shape)
        sizes = [in_features, *config.hidden_sizes]
        self.net = nn.Sequential(nn.Flatten(), *dense_stack(sizes, config.activation, config.dropout,
                                                            config.batch_norm),
                                 nn.Linear(sizes[-1], self.num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, K) logits
