"""What the self-supervised models share: an image encoder trained on a pretext task without labels,
whose features (``encode``) are the product, judged by probes (``neuralzoo probe``).

The encoder (``--encoder``):
- ``cnn``: blocks of two 3x3 convolutions (batch norm, ReLU) each followed by 2x2 average pooling
  while the map is at least 2 pixels (the VGG-style body of the ``strong`` CNN preset); the last
  map flattened (features of size channels[-1] x its height x width) or, with ``global_pool``,
  averaged over space (size ``channels[-1]``). Average, not max, pooling: a blank background gives
  2x2 windows of equal values, and max pooling then routes each window's gradient by float noise
  (measured: 2.5% of a gradient moved between 1 and 2 threads on the rotation task, 6e-6 with
  average pooling), which made runs irreproducible across thread counts and ranks;
- ``mlp``: dense layers (batch norm, ReLU) of ``hidden_sizes``: features of size
  ``hidden_sizes[-1]``.
``forward(x)`` and ``encode(x)`` give the features (B, D); the pretext heads are used by ``loss``
only, so a loaded run is an encoder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from ..fields import param
from ..errors import NeuralzooError
from .base import Model


@dataclass
class PretextConfig:
    """Encoder fields shared by ``rotation``, ``inpaint`` and ``contrastive``."""

    encoder: Literal["cnn", "mlp"] = param("cnn", "encoder: convolution blocks (flattened, or "
                                           "averaged with global_pool), or dense layers")
    channels: tuple[int, ...] = param((32, 64, 128), "cnn: channels of each block of two 3x3 "
                                      "convolutions (the last is the feature size)")
    hidden_sizes: tuple[int, ...] = param((512, 256), "mlp: hidden widths (the last is the feature "
                                          "size)")
    global_pool: bool = param(False, "cnn: average the last map over space instead of flattening it")

    def check_encoder(self) -> None:
        if not self.channels or any(c < 1 for c in self.channels):
            raise NeuralzooError(f"channels must be positive integers, got {self.channels}")
        if not self.hidden_sizes or any(h < 1 for h in self.hidden_sizes):
            raise NeuralzooError(f"hidden_sizes must be positive integers, got {self.hidden_sizes}")


def build_backbone(cfg: PretextConfig, info) -> tuple[nn.Sequential, int]:
    """(B, *input_shape) -> (B, D) features, and D."""
    if cfg.encoder == "mlp":
        layers: list[nn.Module] = [nn.Flatten()]
        previous = math.prod(info.input_shape)
        for width in cfg.hidden_sizes:
            layers += [nn.Linear(previous, width, bias=False), nn.BatchNorm1d(width), nn.ReLU()]
            previous = width
        return nn.Sequential(*layers), previous
    if not info.is_image:
        raise NeuralzooError(f"encoder 'cnn' needs image data shaped (channels, height, width); "
                             f"{info.name!r} has samples of shape {tuple(info.input_shape)}; use "
                             "--encoder mlp")
    layers, previous, side = [], info.input_shape[0], min(info.input_shape[1:])
    for width in cfg.channels:
        for _ in range(2):
            layers += [nn.Conv2d(previous, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                       nn.ReLU()]
            previous = width
        if side >= 2:
            layers.append(nn.AvgPool2d(2))
            side //= 2
    if cfg.global_pool:
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten()), previous
    body = nn.Sequential(*layers, nn.Flatten())
    with torch.no_grad():   # the flattened size from the data's real shape (eval: batch norm on one row)
        size = body.eval()(torch.zeros(1, *info.input_shape)).shape[1]
    return body.train(), size


class PretextModel(Model):
    """An encoder and the pretext task that trains it (``loss``); ``encode`` is its capability."""

    monitor = ("loss", "min")

    @classmethod
    def needs_image(cls, config: PretextConfig) -> bool:
        return True   # every pretext task turns, masks or crops images, whatever the encoder

    def __init__(self, config: PretextConfig, info) -> None:
        super().__init__(config, info)
        self.backbone, self.feature_dim = build_backbone(config, info)

    def encode(self, x: Any) -> torch.Tensor:
        """Frozen features (B, D) of inputs (B, *input_shape): what probes and applications use."""
        return self.backbone(self.as_input(x, check_values=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode(x)   # (B, D)
