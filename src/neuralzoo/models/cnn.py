"""Configurable convolutional classifier.

The default is the tutorials' classic stack, Conv32-Pool-Conv64-Pool-Conv64-Dense64-Dense10 with 3x3
"valid" convolutions (about 93k parameters, 16.4 MFLOP per training sample on 28x28). The ``strong``
preset is the same model with two 3x3 convolutions per block, batch norm and dropout (the VGG-style
recipe that, with augmentation, reaches about 99.6% on MNIST).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from ..cards.cnn import CARD
from ..fields import check_choices, param
from ..errors import NeuralzooError
from ..registry import register
from .classifier import Classifier
from .mlp import ACTIVATIONS, dense_stack


MONOTONE = ("relu", "leaky_relu", "tanh")   # max(f(a), f(b)) == f(max(a, b))


@dataclass
class CNNConfig:
    channels: tuple[int, ...] = param((32, 64, 64), "output channels of each convolution block")
    convs_per_block: int = param(1, "convolutions in each block")
    kernel_size: int = param(3, "convolution kernel size")
    padding: Literal["auto", "valid", "same"] = param("auto", "auto: 'valid' unless the input is too "
                                                      "small for it, then 'same'")
    pool_after: tuple[int, ...] = param((1, 2), "1-based block numbers followed by 2x2 max pooling")
    dense_sizes: tuple[int, ...] = param((64,), "hidden widths of the dense head")
    batch_norm: bool = param(False, "batch normalisation after each convolution / dense layer")
    dropout: float = param(0.0, "dropout after each pooled block and each dense hidden layer")
    activation: Literal["relu", "gelu", "leaky_relu", "tanh"] = param("relu", "activation")

    def __post_init__(self) -> None:
        if not self.channels or any(c < 1 for c in self.channels):
            raise NeuralzooError(f"channels must be positive integers, got {self.channels}")
        if self.convs_per_block < 1 or self.kernel_size < 1:
            raise NeuralzooError("convs_per_block and kernel_size must be positive")
        bad = [p for p in self.pool_after if not 1 <= p <= len(self.channels)]
        if bad:
            raise NeuralzooError(f"pool_after: block numbers {bad} outside 1..{len(self.channels)}")
        if not 0 <= self.dropout < 1:
            raise NeuralzooError(f"dropout must be in [0, 1), got {self.dropout}")
        check_choices(self)


def pooling_plan(size: int, cfg: CNNConfig, padding: str) -> list[bool] | None:
    """For an input of ``size`` pixels (the smaller side), whether each block is followed by 2x2
    pooling (requested, and the map still at least 2 pixels); None once the map would vanish."""
    shrink = 0 if padding == "same" else cfg.kernel_size - 1
    plan = []
    for block in range(1, len(cfg.channels) + 1):
        size -= shrink * cfg.convs_per_block
        if size < 1:
            return None
        plan.append(block in cfg.pool_after and size >= 2)
        size //= 2 if plan[-1] else 1
    return plan


@register(CARD)
class CNN(Classifier):
    Config = CNNConfig

    @classmethod
    def needs_image(cls, config: CNNConfig) -> bool:
        return True

    def __init__(self, config: CNNConfig, info) -> None:
        super().__init__(config, info)
        if len(info.input_shape) != 3:
            raise NeuralzooError(f"model 'cnn' needs image data shaped (channels, height, width); "
                                 f"{info.name!r} has samples of shape {tuple(info.input_shape)}")
        in_channels, height, width = info.input_shape
        padding = config.padding
        if padding == "auto":
            padding = "valid" if pooling_plan(min(height, width), config, "valid") else "same"
        plan = pooling_plan(min(height, width), config, padding)
        if plan is None:
            raise NeuralzooError(f"input of {height}x{width} is too small for this conv stack with "
                                 f"padding={padding!r}; use --padding same or fewer blocks")
        self.padding = padding
        act = ACTIVATIONS[config.activation]
        layers: list[nn.Module] = []
        channels = in_channels
        for out_channels, pooled in zip(config.channels, plan):
            for _ in range(config.convs_per_block):
                layers.append(nn.Conv2d(channels, out_channels, config.kernel_size, padding=padding,
                                        bias=not config.batch_norm))
                if config.batch_norm:
                    layers.append(nn.BatchNorm2d(out_channels))
                layers.append(act())
                channels = out_channels
            if pooled:
                # max-pooling commutes with a non-decreasing activation, so pool first: the same
                # outputs and gradients with the activation on 4x fewer values (~10% faster steps
                # for the classic CNN). Both are parameter-free: checkpoint keys do not move.
                at = len(layers) - 1 if config.activation in MONOTONE else len(layers)
                layers.insert(at, nn.MaxPool2d(2))
                if config.dropout > 0:
                    layers.append(nn.Dropout(config.dropout))
        self.features = nn.Sequential(*layers)
        with torch.no_grad():  # infer the flattened size from the data's real shape, in eval mode so
            self.features.eval()   # batch norm neither fails on one 1x1 map nor counts the probe
            flat = math.prod(self.features(torch.zeros(1, *info.input_shape)).shape[1:])
            self.features.train()
        sizes = [flat, *config.dense_sizes]
        self.head = nn.Sequential(nn.Flatten(), *dense_stack(sizes, config.activation, config.dropout,
                                                             config.batch_norm),
                                  nn.Linear(sizes[-1], self.num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (B, K) logits
