"""Autoencoder (MLP or convolutional), optionally denoising (Vincent et al. 2008).

Loss: the reconstruction negative log-likelihood per example (summed over features, averaged over the
batch): binary cross-entropy for data in [0, 1], squared error for real values (``reconstruction``
picks; ``auto`` decides by the data's value range). A denoising autoencoder corrupts the input during
training only and reconstructs the clean target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal

import torch

from ..cards.autoencoder import CARD
from ..fields import check_choices, param
from ..errors import NeuralzooError
from ..registry import register
from .base import batch_noise
from .latent import LatentConfig, LatentModel, build_decoder, build_encoder


@dataclass
class AutoencoderConfig(LatentConfig):
    reconstruction: Literal["auto", "bce", "mse"] = param("auto", "reconstruction loss: bce for "
                                                          "[0, 1] data, mse for real values (auto: "
                                                          "by the data's value range)")
    noise: float = param(0.0, "denoising: std of Gaussian noise added to training inputs (0: off)")
    masking: float = param(0.0, "denoising: fraction of input values set to 0 in training (0: off)")

    def __post_init__(self) -> None:
        self.check_architecture()
        if self.noise < 0:
            raise NeuralzooError(f"noise must be >= 0, got {self.noise}")
        if not 0 <= self.masking < 1:
            raise NeuralzooError(f"masking must be in [0, 1), got {self.masking}")
        check_choices(self)


@register(CARD)
class Autoencoder(LatentModel):
    Config = AutoencoderConfig

    def __init__(self, config: AutoencoderConfig, info) -> None:
        super().__init__(config, info)
        self.init_likelihood({"auto": "auto", "bce": "bernoulli", "mse": "gaussian"}[config.reconstruction])
        self.encoder = build_encoder(config, info, config.latent_dim)
        self.decoder = build_decoder(config, info)

    def reconstruction_nll(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if self.likelihood == "gaussian":   # mse: squared error summed over features
            return ((out - x) ** 2).flatten(1).sum(1)
        return super().reconstruction_nll(out, x)

    def encode(self, x: Any) -> torch.Tensor:
        return self.encoder(self.as_input(x, check_values=False))  # (B, latent_dim)

    def corrupt(self, x: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The denoising corruption of a training batch: Gaussian noise, then masking (``batch_noise``)."""
        def draw(kind: Callable) -> Callable:
            return lambda rows, generator: kind(rows, *x.shape[1:], generator=generator)

        if self.config.noise > 0:
            x = x + self.config.noise * batch_noise(batch, len(x), draw(torch.randn)).to(x.device)
        if self.config.masking > 0:
            keep = batch_noise(batch, len(x), draw(torch.rand), stream=1).to(x.device) >= self.config.masking
            x = x * keep
        return x

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = batch["x"]
        inputs = self.corrupt(x, batch) if self.training else x
        out = self.decoder(self.encoder(inputs)).float()  # (B, *shape)
        nll = self.reconstruction_nll(out, x)  # (B,)
        squared = ((self.to_data_space(out) - x) ** 2).flatten(1).sum(1)
        return {"loss": nll.mean(), "squared_error": squared.mean()}

    def score_batch(self, x: torch.Tensor, method: str = "reconstruction", **_) -> torch.Tensor:
        """Reconstruction error of each sample: squared error, summed over features."""
        if method != "reconstruction":
            raise NeuralzooError(f"an autoencoder scores by reconstruction error only, not {method!r} "
                                 "(elbo and nll need a vae)")
        return ((self(x) - x) ** 2).flatten(1).sum(1)
