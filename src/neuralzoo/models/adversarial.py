"""What the MLP GAN and the DCGAN share: losses, the two-optimizer step, the generator EMA,
class-conditioning and sampling. ``gan.py`` and ``dcgan.py`` only build the two networks.

Losses, with D's raw output (logit or critic value) l(x) and fakes G(z):
  non-saturating (Goodfellow et al. 2014, Sec. 3):  D: softplus(-l(x)) + softplus(l(G(z)))
                                                     G: softplus(-l(G(z)))
  minimax (the original value function):            D: as above;  G: -softplus(l(G(z)))
  hinge (Lim & Ye 2017; Miyato et al. 2018):         D: relu(1 - l(x)) + relu(1 + l(G(z)));  G: -l(G(z))
  wgan-gp (Gulrajani et al. 2017, Alg. 1):           D: l(G(z)) - l(x) + 10 (|grad l(x_hat)| - 1)^2
                                                     G: -l(G(z)),  x_hat on lines between x and G(z)
Class-conditional: the one-hot label is appended to the noise, and D adds the projection term
<embed(y), h(x)> to its output (Miyato & Koyama 2018). Samples asked for without labels draw them from
the training labels' frequencies, so p(x) = sum_y p(y) p(x | y) is the data's mixture, not a uniform
one (MNIST's 1s are 11.2% of the training images, its 5s 9.0%). The EMA of the generator's weights
(Yazici et al. 2019) is what ``sample`` and ``forward`` use when ``ema_decay`` > 0; its decay warms up as
min(ema_decay, (1 + u) / (10 + u)) after u updates (TensorFlow's ExponentialMovingAverage with
num_updates), else the random initial weights keep 0.999^u of the average: 10% after 2,300 updates,
which made a 5-epoch DCGAN's EMA samples far worse than its live generator's (Frechet distance 18.7
against 7.5).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..fields import param
from ..errors import NeuralzooError
from .base import Model, batch_noise, check_temperature
from .gan_layers import check_policy, diff_augment


@dataclass
class AdversarialConfig:
    latent_dim: int = param(100, "size of the noise vector z ~ N(0, I)")
    # defaults: the recipe benchmarks/gan_mnist.py validated (hinge, spectral norm, class-conditional)
    loss: Literal["non-saturating", "minimax", "hinge", "wgan-gp"] = param("hinge", "GAN loss")
    gp_weight: float = param(10.0, "wgan-gp: weight of the gradient penalty")
    d_steps: int = param(1, "discriminator updates per generator update (wgan-gp: 5 in the paper)")
    spectral_norm: bool = param(True, "spectral normalisation of the discriminator's weights")
    ema_decay: float = param(0.999, "decay of the generator-weight EMA used for sampling (0: off)")
    conditional: bool | None = param(None, "class-conditional: labels into both networks (default: "
                                           "when the data has labels)")
    beta1: float = param(0.5, "Adam beta1 of both optimizers (0.5: the DCGAN recipe)")
    beta2: float = param(0.999, "Adam beta2 of both optimizers")
    discriminator_lr_ratio: float = param(1.0, "discriminator lr / generator lr (the two time-scale "
                                               "update rule, Heusel et al. 2017: e.g. 4 with lr 1e-4)")
    minibatch_std: int = param(0, "group size of the minibatch standard-deviation feature given to the "
                                  "discriminator's last stage (Karras et al. 2018: 4; 0: off)")
    diff_augment: tuple[str, ...] = param((), "differentiable augmentations of real and generated images "
                                              "before D in training (Zhao et al. 2020): translation, cutout")

    def check_adversarial(self) -> None:
        if self.latent_dim < 1 or self.d_steps < 1:
            raise NeuralzooError("latent_dim and d_steps must be positive integers")
        if not 0 <= self.ema_decay < 1:
            raise NeuralzooError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if not self.discriminator_lr_ratio > 0:
            raise NeuralzooError(f"discriminator_lr_ratio must be > 0, got {self.discriminator_lr_ratio}")
        if self.minibatch_std < 0:
            raise NeuralzooError(f"minibatch_std must be >= 0 (0: off), got {self.minibatch_std}")
        check_policy(self.diff_augment)
        if self.gp_weight < 0:
            raise NeuralzooError(f"gp_weight must be >= 0, got {self.gp_weight}")
        for name in ("beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise NeuralzooError(f"{name} must be in [0, 1), got {getattr(self, name)}")


def resolve_conditioning(config: AdversarialConfig, info) -> AdversarialConfig:
    """The config with ``conditional`` (and a DCGAN's ``conditional_batch_norm``) decided where left
    to the default (None): conditional exactly when the data has labels. Saved configs keep None and
    the data description, so a loaded model decides the same way."""
    conditional = bool(info.num_classes) if config.conditional is None else config.conditional
    changes = {"conditional": conditional}
    if getattr(config, "conditional_batch_norm", False) is None:
        changes["conditional_batch_norm"] = conditional
    return replace(config, **changes)


class Adversarial(Model):
    """Subclasses set ``self.generator`` ((B, latent [+ K]) -> (B, *shape) in [-1, 1]) and
    ``self.discriminator`` ((B, *shape) -> (B, F) features), then call ``finish_init(F)``."""

    monitor = ("loss", "min")

    def __init__(self, config: AdversarialConfig, info) -> None:
        super().__init__(resolve_conditioning(config, info), info)

    def finish_init(self, features: int) -> None:
        cfg, info = self.config, self.info
        self.num_classes = info.num_classes or 0
        if cfg.conditional and not self.num_classes:
            raise NeuralzooError(f"conditional: {info.name!r} has no labels to condition on")
        if cfg.diff_augment and len(info.input_shape) != 3:
            raise NeuralzooError(f"diff_augment needs images shaped (channels, height, width); "
                                 f"{info.name!r} has samples of shape {tuple(info.input_shape)}")
        self.head = nn.Linear(features, 1)
        if cfg.conditional:   # projection discriminator
            self.projection = nn.Embedding(self.num_classes, features)
            # p(y) for unlabelled sampling; set from the training labels by prepare()
            self.register_buffer("label_prior", torch.full((self.num_classes,), 1 / self.num_classes))
        if cfg.spectral_norm:
            for module in [*self.discriminator.modules(), self.head]:
                if isinstance(module, (nn.Linear, nn.Conv2d)):
                    nn.utils.parametrizations.spectral_norm(module)
        if cfg.ema_decay > 0:
            self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False)
        low, high = info.value_range
        self.register_buffer("data_low", torch.tensor(float(low)), persistent=False)
        self.register_buffer("data_span", torch.tensor(float(high - low) or 1.0), persistent=False)

    def prepare(self, cfg, train) -> None:
        super().prepare(cfg, train)
        if self.config.conditional:
            counts = torch.bincount(train.y, minlength=self.num_classes).double()
            self.label_prior.copy_(counts / counts.sum())

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        key = prefix + "label_prior"   # checkpoints from before the prior sampled labels uniformly
        if hasattr(self, "label_prior") and key not in state_dict:
            state_dict[key] = torch.full_like(self.label_prior, 1 / self.num_classes)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @property
    def generator_inputs(self) -> int:
        return self.config.latent_dim + (self.info.num_classes or 0) * self.config.conditional

    # -- the networks -----------------------------------------------------------------------------
    def latent_draw(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.config.latent_dim, generator=generator)   # (B, latent)

    def noise(self, n: int, labels: torch.Tensor | None = None, generator: torch.Generator | None = None,
              temperature: float = 1.0, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Generator inputs: z ~ N(0, temperature^2 I) (or the given draws ``noise``), and the one-hot
        class for a conditional model (``labels``, or drawn from the training labels' prior)."""
        z = (self.latent_draw(n, generator) if noise is None else noise).to(self.device)  # (B, latent)
        z = z * temperature   # the prior's N(0, I) at temperature 1
        if self.config.conditional:
            if labels is None:
                labels = torch.multinomial(self.label_prior.cpu(), n, replacement=True, generator=generator)
            z = torch.cat([z, F.one_hot(labels.to(self.device), self.num_classes).float()], 1)
        return z

    def critic(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """D's raw output (B,) for images in [-1, 1]."""
        h = self.discriminator(x)  # (B, F)
        out = self.head(h).squeeze(1)
        if self.config.conditional:
            # <embed(y), h> as one (B, F) x (F, K) matmul and a gather: the same value without an
            # elementwise (B, F) product that mixed float32 and bfloat16 operands
            scores = F.linear(h, self.projection.weight)  # (B, K)
            out = out + scores.gather(1, labels[:, None]).squeeze(1)
        return out.float()

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        return diff_augment(x, self.config.diff_augment) if self.config.diff_augment else x

    def to_model_range(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.data_low) / self.data_span * 2 - 1

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Noise (B, generator_inputs) -> images in the data's range (B, *shape)."""
        net = getattr(self, "generator_ema", self.generator)
        if net is not self.generator and not self.training:
            self.standing_statistics()
        return ((net(z).float() + 1) / 2) * self.data_span + self.data_low

    @torch.no_grad()
    def standing_statistics(self, batches: int = 16, batch_size: int = 256) -> None:
        """Re-estimate the EMA generator's batch-norm statistics under its own weights ("standing
        statistics", Brock et al. 2019, App. C): the running statistics it copies were gathered by the
        live generator, whose weights differ, and using them as they are spoils the samples. Fixed
        noise from its own RNG: deterministic, and the global RNG is not touched."""
        norms = [m for m in self.generator_ema.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if not norms or getattr(self, "_standing_fresh", False):
            return
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None   # a cumulative average over the batches below
        self.generator_ema.train()
        generator = torch.Generator().manual_seed(0)
        for _ in range(batches):
            self.generator_ema(self.noise(batch_size, generator=generator))
        self.generator_ema.eval()
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        self._standing_fresh = True

    @torch.no_grad()
    def sample(self, n: int, labels: torch.Tensor | int | None = None,
               generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
        """``n`` images from the (EMA) generator, z ~ N(0, temperature^2 I); labels as in ``noise``."""
        temperature = check_temperature(temperature)
        if labels is not None and not self.config.conditional:
            raise NeuralzooError(f"this {self.name!r} run is not class-conditional: train with "
                                 "--conditional to ask for a class")
        if isinstance(labels, int):
            if not 0 <= labels < self.num_classes:
                raise NeuralzooError(f"label {labels} outside 0..{self.num_classes - 1}")
            labels = torch.full((n,), labels, dtype=torch.long)
        return self(self.noise(n, labels, generator, temperature))

    # -- training -------------------------------------------------------------------------------
    def losses(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(D loss, G loss) per the module docstring, from D's outputs on real and fake images."""
        kind = self.config.loss
        if kind in ("non-saturating", "minimax"):
            d_loss = F.softplus(-real).mean() + F.softplus(fake).mean()
            g_loss = F.softplus(-fake).mean() if kind == "non-saturating" else -F.softplus(fake).mean()
        elif kind == "hinge":
            d_loss, g_loss = F.relu(1 - real).mean() + F.relu(1 + fake).mean(), -fake.mean()
        else:
            d_loss, g_loss = fake.mean() - real.mean(), -fake.mean()
        return d_loss, g_loss

    def gradient_penalty(self, x: torch.Tensor, fake: torch.Tensor, labels, batch) -> torch.Tensor:
        draw = lambda rows, generator: torch.rand(rows, *[1] * (x.dim() - 1), generator=generator)  # noqa: E731
        eps = batch_noise(batch, len(x), draw, stream=1).to(x.device)
        mixed = (eps * x + (1 - eps) * fake).requires_grad_(True)
        with torch.autocast(x.device.type, enabled=False):   # a second-order term: float32
            (grad,) = torch.autograd.grad(self.critic(mixed, labels).sum(), mixed, create_graph=True)
        return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Both losses on a batch (no update): what validation and evaluation report."""
        x, labels = self.to_model_range(batch["x"]), batch.get("y")
        fake = self.generator(self.noise(len(x), labels if self.config.conditional else None))
        d_loss, g_loss = self.losses(self.critic(x, labels), self.critic(fake, labels))
        return {"loss": d_loss + g_loss, "d_loss": d_loss, "g_loss": g_loss}

    def optimizers(self, cfg) -> list[torch.optim.Optimizer]:
        from .optimizers import make_optimizer

        betas = (self.config.beta1, self.config.beta2)
        d_params = [p for n, p in self.named_parameters() if not n.startswith("generator")]
        return [make_optimizer(self.generator.parameters(), cfg, betas=betas),
                make_optimizer(d_params, cfg, lr=cfg.lr * self.config.discriminator_lr_ratio,
                               betas=betas)]

    def train_step(self, batch, optimizers, ctx) -> dict[str, torch.Tensor]:
        g_opt, d_opt = optimizers
        x = self.to_model_range(batch["x"])
        labels = batch.get("y") if self.config.conditional else None
        z = self.noise(len(x), labels, noise=batch_noise(batch, len(x), self.latent_draw))
        seen = self.augment   # D sees augmented images in every training call (identity when off)
        with ctx.autocast():   # discriminator step on a detached fake
            fake = self.generator(z)
            real_out, fake_out = self.critic(seen(x), labels), self.critic(seen(fake.detach()), labels)
            d_loss, g_loss = self.losses(real_out, fake_out)
        penalty = (self.gradient_penalty(x, fake.detach().float(), labels, batch)
                   if self.config.loss == "wgan-gp" else torch.zeros((), device=x.device))
        ctx.backward(d_loss + self.config.gp_weight * penalty)
        ctx.update(d_opt, d_loss, "d_loss")
        step = int(batch["step"]) if "step" in batch else 0
        if (step + 1) % self.config.d_steps == 0:   # generator step through the updated D
            d_params = d_opt.param_groups[0]["params"]
            for p in d_params:   # gradients flow through D to G, but D's own are not needed
                p.requires_grad_(False)
            with ctx.autocast():
                g_loss = self.losses(real_out.detach(), self.critic(seen(fake), labels))[1]
            ctx.backward(g_loss)
            for p in d_params:
                p.requires_grad_(True)
            ctx.update(g_opt, g_loss, "g_loss")
            self.update_ema(updates=step // self.config.d_steps)   # a function of the step: resumable
        return {"loss": (d_loss + g_loss).detach(), "d_loss": d_loss.detach(),
                "g_loss": g_loss.detach(), "d_real": real_out.mean().detach(),
                "d_fake": fake_out.mean().detach(), "gradient_penalty": penalty.detach()}

    @torch.no_grad()
    def update_ema(self, updates: int) -> None:
        """Move the EMA generator towards the live one; ``updates`` = generator updates before this."""
        if not hasattr(self, "generator_ema"):
            return
        self._standing_fresh = False
        decay = min(self.config.ema_decay, (1 + updates) / (10 + updates))
        for ema, live in zip(self.generator_ema.parameters(), self.generator.parameters()):
            ema.lerp_(live, 1 - decay)
        for ema, live in zip(self.generator_ema.buffers(), self.generator.buffers()):
            ema.copy_(live)   # batch-norm statistics follow the live generator

    # -- pictures and diagnostics ---------------------------------------------------------------
    @torch.no_grad()
    def latent_walk(self, pairs: int = 8, steps: int = 10,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """Images along straight lines between random noise pairs: (pairs * steps, *shape)."""
        ends = self.noise(2 * pairs, generator=generator)
        a, b = ends[0::2], ends[1::2]   # conditional: each walk also moves between two labels
        t = torch.linspace(0, 1, steps, device=a.device)[None, :, None]
        return self((a[:, None] + t * (b - a)[:, None]).flatten(0, 1))
