"""Feed-forward classifier: Linear -> [BatchNorm] -> activation -> [Dropout], repeated, then Linear."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from ..config import check_choices, param
from ..errors import NeuralzooError
from ..registry import register
from .classifier import Classifier

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "sigmoid": nn.Sigmoid,
               "leaky_relu": nn.LeakyReLU, "elu": nn.ELU}


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


@register("mlp")
class MLP(Classifier):
    Config = MLPConfig
    summary = "feed-forward classifier (hidden sizes, activation, dropout, batch norm)"
    # MNIST, 3 epochs: validation accuracy 97.87% against 96.82% with Adam lr 1e-3 constant (defaults.py)
    train_defaults = {"lr": 3e-3, "schedule": "one-cycle"}
    search_space = {"hidden_sizes": {"type": "categorical", "choices": ["128", "256,128", "512,256"]},
                    "dropout": {"type": "float", "low": 0.0, "high": 0.5},
                    "label_smoothing": {"type": "categorical", "choices": [0.0, 0.1]}}
    demo = {"epochs": 40, "lr": 3e-3, "schedule": "one-cycle", "batch_size": 32, "batch_norm": True,
            "dropout": 0.2}

    def __init__(self, config: MLPConfig, info) -> None:
        super().__init__(config, info)
        in_features = math.prod(info.input_shape)
        sizes = [in_features, *config.hidden_sizes]
        self.net = nn.Sequential(nn.Flatten(), *dense_stack(sizes, config.activation, config.dropout,
                                                            config.batch_norm),
                                 nn.Linear(sizes[-1], self.num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, K) logits
