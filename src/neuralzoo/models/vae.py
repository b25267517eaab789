"""Variational autoencoder (Kingma & Welling 2014), MLP or convolutional, with the importance-weighted
bound of Burda et al. 2016 (IWAE) as an option.

Encoder: q(z|x) = N(mu(x), diag(exp(logvar(x)))); prior p(z) = N(0, I); decoder p(x|z) Bernoulli (data
in [0, 1]) or Gaussian with a learned per-feature variance (real values). All quantities are in nats
per example (summed over pixels and latent units, averaged over the batch):

  -ELBO(x) = E_q[-log p(x|z)] + KL(q(z|x) || p(z))
  KL       = 1/2 sum_j (mu_j^2 + exp(logvar_j) - logvar_j - 1)              (Kingma & Welling, App. B)
  -L_k(x)  = -log 1/k sum_i p(x|z_i) p(z_i) / q(z_i|x),  z_i ~ q(z|x)       (Burda et al., Eq. 8)

``beta`` weights the KL term (beta-VAE) and ``kl_warmup_steps`` ramps that weight linearly from 0
(Bowman et al. 2016); the reported ``nelbo`` is always the exact bound with weight 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from ..cards.vae import CARD
from ..fields import check_choices, param
from ..errors import NeuralzooError
from ..registry import register
from .base import batch_noise, check_temperature
from .latent import LatentConfig, LatentModel, build_decoder, build_encoder


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) per latent dimension, shaped like ``mu``, in closed
    form (Kingma & Welling 2014, App. B): 1/2 (mu^2 + exp(logvar) - logvar - 1)."""
    return 0.5 * (mu ** 2 + logvar.exp() - logvar - 1)


@dataclass
class VAEConfig(LatentConfig):
    decoder: Literal["auto", "bernoulli", "gaussian"] = param("auto", "p(x|z): bernoulli for [0, 1] "
                                                              "data, gaussian for real values (auto: "
                                                              "by the data's value range)")
    beta: float = param(1.0, "weight of the KL term (1: the ELBO; >1: beta-VAE)")
    kl_warmup_steps: int = param(0, "linear KL warm-up: the KL weight rises from 0 to beta over "
                                 "this many training steps (0: off)")
    iw_samples: int = param(1, "training objective: 1 = ELBO, k > 1 = importance-weighted bound "
                            "(IWAE) with k samples")

    def __post_init__(self) -> None:
        self.check_architecture()
        if not self.beta > 0:
            raise NeuralzooError(f"beta must be positive, got {self.beta}")
        if self.kl_warmup_steps < 0:
            raise NeuralzooError(f"kl_warmup_steps must be >= 0, got {self.kl_warmup_steps}")
        if self.iw_samples < 1:
            raise NeuralzooError(f"iw_samples must be a positive integer, got {self.iw_samples}")
        check_choices(self)


@register(CARD)
class VAE(LatentModel):
    Config = VAEConfig
    monitor = ("nelbo", "min")

    def __init__(self, config: VAEConfig, info) -> None:
        super().__init__(config, info)
        self.init_likelihood(config.decoder)
        self.encoder = build_encoder(config, info, 2 * config.latent_dim)
        self.decoder = build_decoder(config, info)
        if self.likelihood == "gaussian":   # a proper density: learned per-feature log-variance
            self.output_logvar = nn.Parameter(torch.zeros(info.input_shape))

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).float().chunk(2, dim=1)  # (B, L) each
        return mu, logvar

    def encode(self, x: Any) -> torch.Tensor:
        return self.posterior(self.as_input(x, check_values=False))[0]   # the posterior mean as the code

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None,
               temperature: float = 1.0) -> torch.Tensor:
        """``n`` draws z ~ N(0, temperature^2 I) (1: the prior p(z)), decoded to the mean of p(x|z):
        (n, *input_shape)."""
        z = torch.randn(n, self.config.latent_dim, generator=generator).to(self.device)
        z = z * check_temperature(temperature)
        return self.decode(z)

    def kl_weight(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | float:
        """beta, ramped linearly from 0 over the first kl_warmup_steps training steps (the loop puts
        the global step in training batches; evaluation batches have none and get beta)."""
        if "step" not in batch or self.config.kl_warmup_steps == 0:
            return self.config.beta
        return self.config.beta * (batch["step"].float() / self.config.kl_warmup_steps).clamp(max=1)

    def log_weights(self, x: torch.Tensor, samples: int, kl_weight: torch.Tensor | float = 1.0,
                    batch: dict[str, torch.Tensor] | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """log p(x|z_i) + w * (log p(z_i) - log q(z_i|x)) for ``samples`` draws: (k, B); also the
        reconstruction terms -log p(x|z_i) (k, B) and the analytic KL (B,). ``batch``: a training
        batch, whose noise the draws come from (``batch_noise``)."""
        mu, logvar = self.posterior(x)
        def draw(rows: int, generator: torch.Generator | None) -> torch.Tensor:   # seeded draws on the CPU
            return torch.randn(rows, samples, mu.shape[1], generator=generator,
                               device="cpu" if generator is not None else mu.device)

        eps = batch_noise(batch or {}, len(x), draw).transpose(0, 1).to(mu.device)  # (k, B, L)
        z = mu + (0.5 * logvar).exp() * eps
        out = self.decoder(z.flatten(0, 1)).float().unflatten(0, (samples, len(x)))  # (k, B, *shape)
        rec = self.reconstruction_nll(out, x)
        # log N(z; mu, sigma) - log N(z; 0, 1) with (z - mu) / sigma = eps; the log(2 pi) terms cancel
        log_ratio = 0.5 * (eps ** 2 + logvar - z ** 2).sum(-1)  # log p(z) - log q(z|x), (k, B)
        kl = gaussian_kl(mu, logvar).sum(1)
        return -rec + kl_weight * log_ratio, rec, kl

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = batch["x"]
        k = self.config.iw_samples
        weight = self.kl_weight(batch)
        log_w, rec, kl = self.log_weights(x, k, weight, batch)
        if k == 1:   # the ELBO with the KL in closed form (lower variance than the sampled ratio)
            objective = rec[0] + weight * kl
        else:
            objective = -(torch.logsumexp(log_w, 0) - math.log(k))
        return {"loss": objective.mean(), "nelbo": (rec[0] + kl).mean(),
                "reconstruction": rec[0].mean(), "kl": kl.mean()}

    @torch.no_grad()
    def log_likelihood(self, x: Any, samples: int = 5000, budget: int = 32768) -> torch.Tensor:
        """Importance-sampled log p(x) per sample (N,) with q(z|x) as the proposal (Burda et al. 2016,
        Sec. 5): log 1/k sum_i p(x, z_i)/q(z_i|x). At most ``budget`` decoder rows at a time."""
        x = self.as_input(x)
        rows = max(1, min(64, len(x), budget // samples))
        # sample chunks that divide k evenly: one compiled shape for all of them
        chunk = max(d for d in range(1, min(samples, max(1, budget // rows)) + 1) if samples % d == 0)
        # at this size (e.g. 10,000 images x k=5000) compiling pays: ~2x, as inductor fuses the
        # Bernoulli log-likelihood and the sums that follow the decoder's matmuls
        log_weights = (torch.compile(self.log_weights, dynamic=False)
                       if len(x) * samples >= 2 ** 24 else self.log_weights)
        out = []
        for start in range(0, len(x), rows):
            part = x[start:start + rows].to(self.device)
            total = torch.full((len(part),), -math.inf, device=self.device)
            for _ in range(samples // chunk):
                log_w = log_weights(part, chunk)[0]
                total = torch.logaddexp(total, torch.logsumexp(log_w, 0))
            out.append((total - math.log(samples)).cpu())
        return torch.cat(out) if out else torch.empty(0)

    @torch.no_grad()
    def negative_elbo(self, x: torch.Tensor, samples: int = 1) -> torch.Tensor:
        """-ELBO per sample (B,), the reconstruction term averaged over ``samples`` draws."""
        _, rec, kl = self.log_weights(x, samples)
        return rec.mean(0) + kl

    def score_batch(self, x: torch.Tensor, method: str = "elbo", samples: int = 10) -> torch.Tensor:
        """Anomaly score: -ELBO (``elbo``) or the importance-sampled -log p(x) (``nll``), in nats."""
        if method == "nll":
            return -self.log_likelihood(x, samples)
        if method == "elbo":
            return self.negative_elbo(x, samples)
        raise NeuralzooError(f"score method must be elbo or nll for a VAE, got {method!r}")
