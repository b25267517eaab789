"""The semi-supervised GAN with feature matching (Salimans et al. 2016, "Improved techniques for
training GANs", NeurIPS, Sec. 3.1 and 5; their MNIST recipe: github.com/openai/improved-gan,
mnist_svhn_cifar10/train_mnist_feature_matching.py and nn.py).

The discriminator is a K-class classifier whose (K+1)-th "generated" logit is fixed at 0, so with
Z(x) = sum_k exp(l_k(x)): D(x) = Z / (Z + 1), -log D(x) = softplus(lse) - lse, -log(1 - D(x)) =
softplus(lse), lse = log Z. Its loss: cross-entropy on the labelled batch plus
w * (-log D(x_unlabelled) - log(1 - D(G(z)))) / 2. The generator matches the mean of D's last hidden
layer on unlabelled real and generated batches (feature matching, Sec. 3.1). ``forward`` is the
classifier (the K logits): evaluation, export and attacks see a classifier; ``sample`` is the
generator. Everything outside the two networks (noise draws, the two-optimizer step) follows
``adversarial.py``'s conventions.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from ..cards.semi_gan import CARD
from ..fields import param
from ..errors import NeuralzooError
from ..registry import register
from .base import batch_noise, check_temperature, labelled_part
from .classifier import Classifier
from .gan_layers import NoisyWeightNormMLP


@dataclass
class SemiGANConfig:
    # defaults: the paper's MNIST model (the code above): D 784-1000-500-250-250-250-10 with Gaussian
    # noise and weight normalisation, G 100 -> 500 -> 500 -> pixels
    hidden_sizes: tuple[int, ...] = param((1000, 500, 250, 250, 250), "discriminator's hidden widths")
    generator_sizes: tuple[int, ...] = param((500, 500), "generator's hidden widths")
    latent_dim: int = param(100, "size of the generator's noise z ~ U(0, 1)")
    input_noise: float = param(0.3, "std of the Gaussian noise added to the discriminator's input")
    hidden_noise: float = param(0.5, "std of the Gaussian noise added to each hidden layer's output")
    unlabelled_weight: float = param(1.0, "weight of the unsupervised (real/generated) loss")
    average_decay: float = param(0.9999, "decay of the weight average of the classifier used for "
                                         "evaluation and prediction (Polyak averaging; 0: off)")
    init_samples: int = param(500, "training samples for the data-dependent initialisation of the "
                                   "weight-normalised layers (Salimans & Kingma 2016; 0: off)")
    beta1: float = param(0.5, "Adam beta1 of both optimizers (0.5 in the paper's code)")
    beta2: float = param(0.999, "Adam beta2 of both optimizers")

    def __post_init__(self) -> None:
        for name in ("hidden_sizes", "generator_sizes"):
            sizes = getattr(self, name)
            if not sizes or any(h < 1 for h in sizes):
                raise NeuralzooError(f"{name} must be positive integers, got {sizes}")
        if self.latent_dim < 1 or self.init_samples < 0:
            raise NeuralzooError("latent_dim must be positive and init_samples >= 0")
        for name in ("input_noise", "hidden_noise", "unlabelled_weight"):
            if not getattr(self, name) >= 0:
                raise NeuralzooError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("average_decay", "beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise NeuralzooError(f"{name} must be in [0, 1), got {getattr(self, name)}")


def unsupervised_terms(real_logits: torch.Tensor, fake_logits: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """(-log D(x_real), -log(1 - D(x_fake))) per sample from the K logits, the (K+1)-th fixed at 0:
    softplus(lse) - lse and softplus(lse), stable for any logits."""
    real, fake = torch.logsumexp(real_logits.float(), 1), torch.logsumexp(fake_logits.float(), 1)
    return F.softplus(real) - real, F.softplus(fake)


def feature_matching(real_features: torch.Tensor, fake_features: torch.Tensor,
                     batch: dict | None = None) -> torch.Tensor:
    """Mean squared difference of the batch means of D's features (the paper's code: a mean over units)."""
    return (global_mean(real_features, batch) - global_mean(fake_features, batch)).square().mean()


def global_mean(h: torch.Tensor, batch: dict | None) -> torch.Tensor:
    """The mean of ``h`` (B, F) over the global batch: under torchrun (a ``shard`` in the batch) the
    sums are all-reduced with autograd, so the square of a difference of means (not a mean over
    samples) is the one a single process computes, as batch norm's statistics (training/parallel.py)."""
    # sums in float64: one process and the ranks' partial sums then round to the same float32 mean
    totals = torch.cat([h.double().sum(0), h.new_full((1,), len(h), dtype=torch.float64)])
    if batch is not None and "shard" in batch:
        from torch.distributed.nn.functional import all_reduce

        totals = all_reduce(totals)
    return (totals[:-1] / totals[-1]).float()


def build_generator(config: SemiGANConfig, pixels: int, shape: tuple[int, ...]) -> nn.Sequential:
    """Noise -> [Linear, batch norm without a gain (their g=None), softplus] per width -> a
    weight-normalised Linear to the pixels -> sigmoid, initialised as their Lasagne code: Glorot-uniform
    weights (v, for the output), the output's scale 1 and bias 0."""
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip([config.latent_dim, *config.generator_sizes], config.generator_sizes):
        linear, norm = nn.Linear(fan_in, fan_out, bias=False), nn.BatchNorm1d(fan_out)
        nn.init.xavier_uniform_(linear.weight)
        norm.weight.requires_grad_(False)   # a bias only
        layers += [linear, norm, nn.Softplus()]
    output = nn.utils.parametrizations.weight_norm(nn.Linear(config.generator_sizes[-1], pixels))
    nn.init.xavier_uniform_(output.parametrizations.weight.original1)
    nn.init.ones_(output.parametrizations.weight.original0)
    nn.init.zeros_(output.bias)
    return nn.Sequential(*layers, output, nn.Sigmoid(), nn.Unflatten(1, shape))


@register(CARD)
class SemiGAN(Classifier):
    Config = SemiGANConfig
    uses_unlabelled = True   # the loop gives labelled and unlabelled batches (--labels)

    def __init__(self, config: SemiGANConfig, info) -> None:
        super().__init__(config, info)
        pixels = math.prod(info.input_shape)   # any image or vector input, flattened
        self.discriminator = NoisyWeightNormMLP([pixels, *config.hidden_sizes], self.num_classes,
                                                config.input_noise, config.hidden_noise)
        self.generator = build_generator(config, pixels, tuple(info.input_shape))
        if config.average_decay > 0:
            self.averaged_discriminator = copy.deepcopy(self.discriminator).requires_grad_(False)
        low, high = info.value_range   # sigmoid outputs mapped onto the data's range
        self.register_buffer("data_low", torch.tensor(float(low)), persistent=False)
        self.register_buffer("data_span", torch.tensor(float(high - low) or 1.0), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The K class logits (B, K): the live network (with its noise) in training, the weight
        average in eval mode (the paper's code tests the averaged parameters)."""
        net = self.discriminator if self.training else getattr(self, "averaged_discriminator",
                                                                 self.discriminator)
        return net(x)[0]

    def prepare(self, cfg, train) -> None:
        super().prepare(cfg, train)
        if self.config.init_samples:   # their init_param(trainx[:500]) on a seeded random subset
            generator = torch.Generator().manual_seed(cfg.seed)
            rows = torch.randperm(len(train.x), generator=generator)[:self.config.init_samples]
            self.discriminator.initialise_from_data(train.x[rows.to(train.x.device)], generator)
            if hasattr(self, "averaged_discriminator"):
                self.averaged_discriminator.load_state_dict(self.discriminator.state_dict())

    # -- the generator --------------------------------------------------------------------------
    def latent_draw(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.rand(n, self.config.latent_dim, generator=generator)   # (B, latent), U(0, 1)

    def from_noise(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z.to(self.device)) * self.data_span + self.data_low   # (B, *shape)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None,
               temperature: float = 1.0) -> torch.Tensor:
        """``n`` generated samples (batch norm on its running statistics); ``temperature`` scales
        the uniform noise about its centre (1: U(0, 1))."""
        z = 0.5 + check_temperature(temperature) * (self.latent_draw(n, generator) - 0.5)
        was_training = self.generator.training
        self.generator.eval()
        try:
            return self.from_noise(z).float()
        finally:
            self.generator.train(was_training)

    # -- training -------------------------------------------------------------------------------
    def optimizers(self, cfg) -> list[torch.optim.Optimizer]:
        from .optimizers import make_optimizer

        betas = (self.config.beta1, self.config.beta2)
        return [make_optimizer(self.generator.parameters(), cfg, betas=betas),
                make_optimizer(self.discriminator.parameters(), cfg, betas=betas)]

    def discriminate(self, x: torch.Tensor, batch: dict, stream: int, labelled: bool = False
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """D's (logits, features) with its Gaussian noise drawn by ``batch_noise`` (stream 1-5), so a
        resumed or data-parallel run draws what a single run draws (``labelled``: the rows of the
        labelled batch, whose shard under torchrun is ``labelled_shard``)."""
        if labelled:
            batch = labelled_part(batch)
        width = self.discriminator.noise_width
        noise = batch_noise(batch, len(x), lambda rows, g: torch.randn(rows, width, generator=g), stream)
        return self.discriminator(x, noise.to(x.device))

    def train_step(self, batch, optimizers, ctx) -> dict[str, torch.Tensor]:
        g_opt, d_opt = optimizers
        x, y = batch["x"], batch["y"]
        unlabelled = batch.get("unlabelled_x", x)   # fully labelled training: x is both
        z = batch_noise(batch, len(unlabelled), self.latent_draw)
        # parametrize.cached: each weight-normalised weight computed once per phase, not per pass
        with ctx.autocast(), parametrize.cached():   # discriminator step on a detached generated batch
            fake = self.from_noise(z)
            labelled_logits = self.discriminate(x, batch, 1, labelled=True)[0].float()
            real_logits = self.discriminate(unlabelled, batch, 2)[0]
            fake_logits = self.discriminate(fake.detach(), batch, 3)[0]
            supervised = self.metrics_from_logits(labelled_logits, y)
            real_term, fake_term = unsupervised_terms(real_logits, fake_logits)
            unsupervised = (real_term.mean() + fake_term.mean()) / 2
            d_loss = supervised["loss"] + self.config.unlabelled_weight * unsupervised
        ctx.backward(d_loss)
        ctx.update(d_opt, d_loss, "d_loss")
        self.update_average(updates=int(batch["step"]) if "step" in batch else 0)
        trainable = [p for group in d_opt.param_groups for p in group["params"]]
        for p in trainable:   # the generator's gradient flows through D, D's own are not needed
            p.requires_grad_(False)
        with ctx.autocast(), parametrize.cached():   # generator step: feature matching, updated D
            with torch.no_grad():
                real_features = self.discriminate(unlabelled, batch, 4)[1]
            g_loss = feature_matching(real_features, self.discriminate(fake, batch, 5)[1], batch)
        ctx.backward(g_loss)
        for p in trainable:
            p.requires_grad_(True)
        ctx.update(g_opt, g_loss, "feature_matching")
        return {"loss": d_loss.detach(), "supervised_loss": supervised["loss"].detach(),
                "unsupervised_loss": unsupervised.detach(), "feature_matching": g_loss.detach(),
                "accuracy": supervised["accuracy"].detach()}

    @torch.no_grad()
    def update_average(self, updates: int) -> None:
        """Polyak averaging of D's weights (their code: rate 1e-4); the decay warms up as
        min(decay, (1 + u) / (10 + u)) so short runs average recent weights, not the initial ones."""
        if not hasattr(self, "averaged_discriminator"):
            return
        decay = min(self.config.average_decay, (1 + updates) / (10 + updates))
        for average, live in zip(self.averaged_discriminator.parameters(), self.discriminator.parameters()):
            average.lerp_(live, 1 - decay)
