"""What the autoencoder and the VAE share: encoder/decoder builders (MLP or convolutional, sized from the
data), the reconstruction likelihood chosen by data type, and the capabilities the CLI looks for:
``encode``, ``decode``, ``reconstruct``, ``interpolate`` and ``anomaly_scores``.

Likelihoods (per example: summed over features, never averaged, so the numbers are nats per image):
  Bernoulli, for values in [0, 1]:  -log p(x|z) = sum_i BCE(logit_i, x_i)
  Gaussian, for real values:        -log p(x|z) = sum_i 0.5 * ((x_i - m_i)^2 / s_i^2 + log s_i^2 + log 2 pi)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..fields import param
from ..errors import NeuralzooError
from .base import Model
from .mlp import ACTIVATIONS, dense_stack


@dataclass
class LatentConfig:
    """Architecture fields shared by ``autoencoder`` and ``vae`` (each model's dataclass extends it)."""

    architecture: Literal["mlp", "conv"] = param("mlp", "encoder/decoder type: dense layers, or "
                                                 "strided convolutions / transposed convolutions")
    latent_dim: int = param(32, "size of the code (latent vector)")
    hidden_sizes: tuple[int, ...] = param((512, 256), "mlp: encoder hidden widths (the decoder "
                                          "mirrors them)")
    channels: tuple[int, ...] = param((32, 64), "conv: channels of the stride-2 4x4 convolutions "
                                      "(the decoder mirrors them with transposed convolutions)")
    activation: Literal["relu", "tanh", "gelu", "leaky_relu", "elu"] = param("relu", "hidden "
                                                                              "activation")

    def check_architecture(self) -> None:
        if self.latent_dim < 1:
            raise NeuralzooError(f"latent_dim must be a positive integer, got {self.latent_dim}")
        if any(h < 1 for h in self.hidden_sizes):
            raise NeuralzooError(f"hidden_sizes must be positive integers, got {self.hidden_sizes}")
        if not self.channels or any(c < 1 for c in self.channels):
            raise NeuralzooError(f"channels must be positive integers, got {self.channels}")


def conv_sizes(info, channels: tuple[int, ...]) -> list[tuple[int, int]]:
    """Spatial sizes before and after each stride-2 convolution (4x4, padding 1 halves a side)."""
    if len(info.input_shape) != 3:
        raise NeuralzooError(f"architecture 'conv' needs image data shaped (channels, height, width); "
                             f"{info.name!r} has samples of shape {tuple(info.input_shape)}; use mlp")
    sizes = [tuple(info.input_shape[1:])]
    for _ in channels:
        h, w = sizes[-1]
        if min(h, w) < 2:
            raise NeuralzooError(f"input {info.input_shape[1]}x{info.input_shape[2]} is too small for "
                                 f"{len(channels)} stride-2 convolutions; give fewer channels")
        sizes.append((h // 2, w // 2))
    return sizes


def build_encoder(cfg: LatentConfig, info, out_features: int) -> nn.Sequential:
    """(B, *input_shape) -> (B, out_features)."""
    if cfg.architecture == "mlp":
        sizes = [math.prod(info.input_shape), *cfg.hidden_sizes]
        return nn.Sequential(nn.Flatten(), *dense_stack(sizes, cfg.activation, 0.0, False),
                             nn.Linear(sizes[-1], out_features))
    sizes = conv_sizes(info, cfg.channels)
    layers: list[nn.Module] = []
    previous = info.input_shape[0]
    for c in cfg.channels:
        layers += [nn.Conv2d(previous, c, 4, stride=2, padding=1), ACTIVATIONS[cfg.activation]()]
        previous = c
    h, w = sizes[-1]
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(previous * h * w, out_features))


def build_decoder(cfg: LatentConfig, info) -> nn.Sequential:
    """(B, latent_dim) -> (B, *input_shape): logits (Bernoulli) or means (Gaussian)."""
    if cfg.architecture == "mlp":
        sizes = [cfg.latent_dim, *reversed(cfg.hidden_sizes)]
        return nn.Sequential(*dense_stack(sizes, cfg.activation, 0.0, False),
                             nn.Linear(sizes[-1], math.prod(info.input_shape)),
                             nn.Unflatten(1, tuple(info.input_shape)))
    sizes = conv_sizes(info, cfg.channels)
    h, w = sizes[-1]
    layers: list[nn.Module] = [nn.Linear(cfg.latent_dim, cfg.channels[-1] * h * w),
                               ACTIVATIONS[cfg.activation](), nn.Unflatten(1, (cfg.channels[-1], h, w))]
    outs = [*reversed(cfg.channels[:-1]), info.input_shape[0]]
    previous = cfg.channels[-1]
    for i, c in enumerate(outs):
        (h, w), (big_h, big_w) = sizes[-1 - i], sizes[-2 - i]
        # output_padding restores an odd side (7 -> 14 -> 28 needs none; 7 -> 3 -> 7 needs 1)
        layers.append(nn.ConvTranspose2d(previous, c, 4, stride=2, padding=1,
                                         output_padding=(big_h - 2 * h, big_w - 2 * w)))
        if i < len(outs) - 1:
            layers.append(ACTIVATIONS[cfg.activation]())
        previous = c
    return nn.Sequential(*layers)


def pick_likelihood(choice: str, info) -> str:
    """``auto``: Bernoulli for data stored in [0, 1] (pixels), Gaussian for other real values."""
    if choice != "auto":
        return choice
    low, high = info.value_range
    return "bernoulli" if low >= 0 and high <= 1 else "gaussian"


class LatentModel(Model):
    """Encoder + decoder with a reconstruction likelihood; subclasses define ``encode`` and ``loss``."""

    monitor = ("loss", "min")
    likelihood: str

    @classmethod
    def needs_image(cls, config: LatentConfig) -> bool:
        return config.architecture == "conv"

    def init_likelihood(self, choice: str) -> None:
        self.likelihood = pick_likelihood(choice, self.info)
        low, high = self.info.value_range
        if self.likelihood == "bernoulli" and (low < 0 or high > 1):
            raise NeuralzooError(f"a Bernoulli likelihood needs data in [0, 1]; {self.info.name!r} "
                                 f"has values in [{low:g}, {high:g}]: use gaussian")

    def reconstruction_nll(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """-log p(x | z) per example, (..., B): ``out`` holds decoder outputs (..., B, *shape)."""
        dims = tuple(range(out.dim() - x.dim() + 1, out.dim()))
        if self.likelihood == "bernoulli":
            return F.binary_cross_entropy_with_logits(out, x.expand_as(out), reduction="none").sum(dims)
        logvar = self.output_logvar.clamp(min=-12.0)
        return 0.5 * ((x - out) ** 2 / logvar.exp() + logvar + math.log(2 * math.pi)).sum(dims)

    def to_data_space(self, out: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out

    # -- capabilities --------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (B, latent_dim) -> the decoder's mean in data space (B, *input_shape)."""
        return self.to_data_space(self.decoder(z).float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))  # (B, *input_shape) reconstruction

    def reconstruct(self, x: Any) -> torch.Tensor:
        """Reconstructions (N, *input_shape) of ``x`` (NumPy or torch, ``as_input``)."""
        return self(self.as_input(x).to(self.device))

    @torch.no_grad()
    def interpolate(self, a: torch.Tensor, b: torch.Tensor, steps: int = 10) -> torch.Tensor:
        """Decode the straight line between the codes of samples ``a`` and ``b``: (steps, *shape)."""
        za, zb = self.encode(torch.stack([a, b]).to(self.device)).float()
        t = torch.linspace(0, 1, steps, device=za.device)[:, None]
        return self.decode(za + t * (zb - za))

    @torch.no_grad()
    def anomaly_scores(self, x: Any, batch_size: int = 500, **options) -> torch.Tensor:
        """Per-sample anomaly scores (N,), higher = more anomalous (scikit-learn's ``score_samples``
        has the opposite sign, hence the different name). ``x``: NumPy or torch (``as_input``)."""
        return self.infer(lambda rows: self.score_batch(rows, **options).float(), self.as_input(x),
                          batch_size=batch_size)

    def score_batch(self, x: torch.Tensor, **options) -> torch.Tensor:
        raise NotImplementedError
