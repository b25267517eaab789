"""Semi-supervised VAE (Kingma, Rezende, Mohamed & Welling 2014, "Semi-supervised learning with deep
generative models", the model M2; M1+M2 with ``encoder_run``): the label y is a latent variable,
observed for the labelled examples and inferred by the classifier q(y|x) for the others.

Generative model p(y) = 1/K, p(z) = N(0, I), p(x|y,z) (Bernoulli for [0, 1] data, as the VAE's);
inference q(z|x,y) = N(mu(x,y), diag(exp(logvar(x,y)))) and q(y|x), whose logits are ``forward``.
In nats per example (Kingma et al., Eqs. 6-9):

  L(x,y) = E_q(z|x,y)[-log p(x|y,z)] + KL(q(z|x,y) || p(z)) - log p(y)        labelled: -ELBO(x,y)
  U(x)   = sum_y q(y|x) L(x,y) - H(q(y|x))                                    unlabelled: y summed out
  J      = sum_l L + sum_u U + alpha E_labelled[-log q(y|x)],  alpha = 0.1 N  (Sec. 4)

A step's batch stands in for the N examples: the loss is J / N on it, so labelled and unlabelled rows
count by their numbers in the batch and the classification term weighs alpha / N = 0.1
(``classification_weight``) per example, whatever the data's size. Without ``unlabelled_x`` (fully
labelled training, validation) it is the labelled part alone: a supervised M2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..cards.semi_vae import CARD
from ..fields import check_choices, param
from ..errors import NeuralzooError
from ..registry import register
from .base import batch_noise, check_temperature, labelled_part
from .classifier import Classifier
from .latent import LatentConfig, LatentModel, build_decoder, build_encoder
from .semi_vae_m1 import load_encoder_run
from .vae import gaussian_kl


@dataclass
class SemiVAEConfig(LatentConfig):
    # Kingma et al., Sec. 4.1: M2 on MNIST with one hidden layer of 500 softplus units in every MLP
    # and a 50-dimensional z (their M1, for M1+M2: two layers of 600, z1 of 50: train it as a vae)
    latent_dim: int = param(50, "size of z, the style code beside the label")
    hidden_sizes: tuple[int, ...] = param((500,), "mlp: hidden widths of q(y|x), q(z|x,y) (the "
                                          "decoder p(x|y,z) mirrors them)")
    activation: Literal["softplus", "relu", "tanh", "gelu", "leaky_relu", "elu"] = param(
        "softplus", "hidden activation")
    decoder: Literal["auto", "bernoulli", "gaussian"] = param("auto", "p(x|y,z): bernoulli for [0, 1] "
                                                              "data, gaussian for real values (auto: "
                                                              "by the data's value range)")
    classification_weight: float = param(0.1, "alpha / N: weight of -log q(y|x) per labelled example "
                                         "against the bound (Kingma et al.'s alpha = 0.1 N)")
    kl_warmup_steps: int = param(0, "linear KL warm-up: the KL weight rises from 0 to 1 over this "
                                 "many training steps (0: off)")
    encoder_run: str | None = param(None, "M1+M2: a trained vae run (directory or checkpoint) whose "
                                    "frozen encoder means are M2's inputs (default: none, M2 on the data)")

    def __post_init__(self) -> None:
        self.check_architecture()
        if not self.classification_weight >= 0:
            raise NeuralzooError(f"classification_weight must be >= 0, got {self.classification_weight}")
        if self.kl_warmup_steps < 0:
            raise NeuralzooError(f"kl_warmup_steps must be >= 0, got {self.kl_warmup_steps}")
        check_choices(self)


@register(CARD)
class SemiVAE(Classifier):
    Config = SemiVAEConfig
    uses_unlabelled = True   # the loop gives it unlabelled_x beside the labelled batch (--labels)
    # the VAE's likelihood without its capabilities (a classifier has no reconstruct): borrowed
    init_likelihood = LatentModel.init_likelihood
    reconstruction_nll = LatentModel.reconstruction_nll
    to_data_space = LatentModel.to_data_space

    def __init__(self, config: SemiVAEConfig, info) -> None:
        super().__init__(config, info)
        k = self.num_classes
        # M1+M2: M2 models M1's codes (a vector per example, Gaussian p(z1|y,z2)) instead of the data
        self.m1 = None if config.encoder_run is None else load_encoder_run(config.encoder_run, info)
        if self.m1 is None:
            self.init_likelihood(config.decoder)
            code = info
        else:
            self.likelihood = "gaussian"
            code = replace(info, input_shape=(self.m1.config.latent_dim,),
                           value_range=(-math.inf, math.inf))
        if self.likelihood == "gaussian":
            self.output_logvar = nn.Parameter(torch.zeros(code.input_shape))
        shape = tuple(code.input_shape)
        conv = config.architecture == "conv"
        joint = (shape[0] + k, *shape[1:]) if conv else (math.prod(shape) + k,)
        self.classifier = build_encoder(config, code, k)   # q(y|x): logits (B, K)
        self.encoder = build_encoder(config, replace(code, input_shape=joint), 2 * config.latent_dim)
        self.decoder = build_decoder(replace(config, latent_dim=config.latent_dim + k), code)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """What M2 models: the data, or under M1+M2 the frozen M1 encoder's posterior means."""
        return x if self.m1 is None else self.m1.posterior(x)[0].detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))   # (B, K) logits of q(y|x)

    def bound(self, x: torch.Tensor, y: torch.Tensor, eps: torch.Tensor,
              kl_weight: torch.Tensor | float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """(L(x,y) with the KL weighted, its exact value) per example (B,) for features ``x`` and labels
        ``y``, z = mu + sigma eps (the reparameterisation, one draw)."""
        onehot = F.one_hot(y, self.num_classes).to(x.dtype)   # (B, K)
        # q(z|x,y)'s input: y appended to the flat features, or as K constant planes of an image
        joined = (torch.cat([x, onehot[:, :, None, None].expand(-1, -1, *x.shape[2:])], 1)
                  if self.config.architecture == "conv" else torch.cat([x.flatten(1), onehot], 1))
        mu, logvar = self.encoder(joined).float().chunk(2, dim=1)   # (B, L) each
        z = mu + (0.5 * logvar).exp() * eps
        rec = self.reconstruction_nll(self.decoder(torch.cat([z, onehot], 1)).float(), x)
        kl = gaussian_kl(mu, logvar).sum(1)
        log_k = math.log(self.num_classes)   # -log p(y) under the uniform prior
        return rec + kl_weight * kl + log_k, rec + kl + log_k

    def gaussian_noise(self, batch: dict[str, torch.Tensor], rows: int, draws: int,
                       stream: int) -> torch.Tensor:
        """Seeded eps for ``rows`` examples, ``draws`` each (models.base.batch_noise): (rows, draws, L)."""
        def draw(n: int, generator: torch.Generator | None) -> torch.Tensor:
            return torch.randn(n, draws, self.config.latent_dim, generator=generator,
                               device="cpu" if generator is not None else self.device)
        return batch_noise(batch, rows, draw, stream).to(self.device)

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, y, warmup = self.features(batch["x"]), batch["y"], self.config.kl_warmup_steps
        # the KL weight ramps from 0 to 1 with the global step, as the VAE's (evaluation: no step, 1)
        weight = (batch["step"].float() / warmup).clamp(max=1) if warmup and "step" in batch else 1.0
        logits = self.classifier(x).float()   # (B_l, K)
        eps = self.gaussian_noise(labelled_part(batch), len(x), 1, 0)[:, 0]   # (B_l, L)
        labelled, exact = self.bound(x, y, eps, weight)
        total, rows, out = labelled.sum(), len(x), {"labelled_nelbo": exact.mean()}
        if "unlabelled_x" in batch:
            u = self.features(batch["unlabelled_x"])
            k, n = self.num_classes, len(u)
            log_q = F.log_softmax(self.classifier(u).float(), 1)   # (B_u, K)
            # every class at once: the batch repeated K times, class-major, one pass through the nets
            every = u.repeat(k, *[1] * (u.dim() - 1))   # (K B_u, ...)
            labels = torch.arange(k, device=u.device).repeat_interleave(n)
            eps = self.gaussian_noise(batch, n, k, 1).transpose(0, 1).flatten(0, 1)   # (K B_u, L)
            bounds, _ = self.bound(every, labels, eps, weight)
            unlabelled = (log_q.exp() * (bounds.view(k, n).T + log_q)).sum(1)   # sum_y q (L + log q)
            total, rows = total + unlabelled.sum(), rows + n
            out["unlabelled_loss"] = unlabelled.mean()
        # the classifier's own cross-entropy: class weights, label smoothing and logit adjustment
        classification = self.metrics_from_logits(logits, y)["loss"]
        return {"loss": total / rows + self.config.classification_weight * classification,
                "classification": classification, **out,
                "accuracy": (logits.argmax(1) == y).float().mean()}

    @torch.no_grad()
    def sample(self, n: int, labels: torch.Tensor | int | None = None,
               generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
        """``n`` draws from p(x|y,z) (its mean, in data space): y given (an int or (n,) labels) or from
        the uniform p(y), z ~ N(0, temperature^2 I). (n, *input_shape)."""
        z = torch.randn(n, self.config.latent_dim, generator=generator) * check_temperature(temperature)
        if labels is None:
            labels = torch.randint(self.num_classes, (n,), generator=generator)
        labels = torch.as_tensor(labels, dtype=torch.long).expand(n)
        if not ((labels >= 0) & (labels < self.num_classes)).all():
            raise NeuralzooError(f"labels must be in 0..{self.num_classes - 1}")
        onehot = F.one_hot(labels, self.num_classes).float()
        out = self.decoder(torch.cat([z, onehot], 1).to(self.device)).float()
        return self.to_data_space(out) if self.m1 is None else self.m1.decode(out)
