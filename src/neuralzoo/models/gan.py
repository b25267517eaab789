"""The tutorials' fully connected GAN: noise -> 1024 -> 1024 -> image (tanh), discriminator image ->
1024 -> 1024 -> 1, LeakyReLU(0.2) throughout (Goodfellow et al. 2014's setting with the activations of
Radford et al. 2016). Losses, EMA, conditioning and the step live in ``adversarial.py``."""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import nn

from ..cards.gan import CARD
from ..fields import check_choices, param
from ..errors import NeuralzooError
from ..registry import register
from .adversarial import Adversarial, AdversarialConfig
from .gan_layers import MinibatchStd


@dataclass
class GANConfig(AdversarialConfig):
    hidden_sizes: tuple[int, ...] = param((1024, 1024), "hidden widths of both networks")

    def __post_init__(self) -> None:
        self.check_adversarial()
        if not self.hidden_sizes or any(h < 1 for h in self.hidden_sizes):
            raise NeuralzooError(f"hidden_sizes must be positive integers, got {self.hidden_sizes}")
        check_choices(self)


def leaky_stack(sizes: list[int]) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(fan_in, fan_out), nn.LeakyReLU(0.2)]
    return layers


@register(CARD)
class GAN(Adversarial):
    Config = GANConfig

    def __init__(self, config: GANConfig, info) -> None:
        super().__init__(config, info)
        config = self.config   # conditioning resolved from the data
        pixels = math.prod(info.input_shape)
        self.generator = nn.Sequential(*leaky_stack([self.generator_inputs, *config.hidden_sizes]),
                                       nn.Linear(config.hidden_sizes[-1], pixels), nn.Tanh(),
                                       nn.Unflatten(1, tuple(info.input_shape)))
        sizes = [pixels, *config.hidden_sizes]
        extra = [MinibatchStd(config.minibatch_std)] if config.minibatch_std else []   # one more input
        self.discriminator = nn.Sequential(nn.Flatten(), *leaky_stack(sizes[:-1]), *extra,
                                           *leaky_stack([sizes[-2] + len(extra), sizes[-1]]))
        self.finish_init(config.hidden_sizes[-1])
