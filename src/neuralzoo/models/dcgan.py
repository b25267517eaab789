"""DCGAN (Radford et al. 2016): transposed-convolution generator (or, with ``upsample=resize``, resizes
and 3x3 convolutions: Odena et al. 2016) with batch norm and ReLU, strided
convolution discriminator with LeakyReLU(0.2), sized from the data's image shape (28x28 and 32x32 and
64x64, 1 or 3 channels; any side that halves to 7 or less). Batch norm is left out of the discriminator
for WGAN-GP (the penalty is per sample) and with spectral norm. Class-conditional runs feed the one-hot
label to the generator's input and, with ``conditional_batch_norm``, to each of its batch norms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from ..cards.dcgan import CARD
from ..fields import check_choices, param
from ..errors import NeuralzooError
from ..registry import register
from .adversarial import Adversarial, AdversarialConfig
from .gan_layers import ConditionalBatchNorm2d, LabelledSequential, MinibatchStd


@dataclass
class DCGANConfig(AdversarialConfig):
    width: int = param(64, "generator channels of its highest-resolution hidden layer (doubled at "
                           "each halving)")
    discriminator_width: int = param(0, "the same for the discriminator (pytorch/examples' ngf and ndf); "
                                        "0: equal to width")
    discriminator_depth: int = param(1, "convolutions per discriminator stage: the 4x4 stride-2 one, "
                                        "then depth-1 3x3 stride-1 ones at the same width")
    upsample: Literal["transposed", "resize"] = param(
        "transposed", "how the generator doubles the side: a 4x4 stride-2 transposed convolution "
                      "(Radford et al.) or a nearest-neighbour resize then a 3x3 convolution, which "
                      "cannot make checkerboard artifacts (Odena et al. 2016)")
    conditional_batch_norm: bool | None = param(None, "conditional: the generator's batch norms take a "
                                                      "scale and shift per class (de Vries et al. 2017) "
                                                      "(default: when conditional)")

    def __post_init__(self) -> None:
        self.check_adversarial()
        for name in ("width", "discriminator_depth"):
            if getattr(self, name) < 1:
                raise NeuralzooError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.discriminator_width < 0:
            raise NeuralzooError(f"discriminator_width must be >= 0 (0: equal to width), "
                                 f"got {self.discriminator_width}")
        if self.conditional_batch_norm and self.conditional is False:
            raise NeuralzooError("conditional_batch_norm needs conditional=true (labels into the generator)")
        check_choices(self)


def halvings(info) -> tuple[int, int]:
    """(number of stride-2 stages, starting side): 28 -> 2 stages from 7, 32 -> 3 from 4, 64 -> 4."""
    if len(info.input_shape) != 3 or info.input_shape[1] != info.input_shape[2]:
        raise NeuralzooError(f"dcgan needs square images (C, S, S); {info.name!r} has samples of "
                             f"shape {tuple(info.input_shape)}")
    side, stages = info.input_shape[1], 0
    while side % 2 == 0 and side > 7:
        side, stages = side // 2, stages + 1
    if stages == 0:
        raise NeuralzooError(f"dcgan needs an image side that halves at least once (e.g. 28, 32, "
                             f"64), got {info.input_shape[1]}")
    return stages, side


class ChannelsLastUnflatten(nn.Unflatten):
    """Unflatten to a channels-last map: the transposed convolutions after it run channels-last (the
    fast layout of oneDNN and of tensor cores) and return their input gradient so; a channels-first
    map here made the ReLU backward mix layouts, ~30x slower than matched ones. With the flatten
    order below and the projection matmul: 67.0 -> 57.9 ms per conditional 128-image step (A/B in
    one process, 2 cores, bf16, AMD EPYC). Only under autocast: in float32 the whole model stays
    channels-first (``channels_last_float32``), 1,233 against 953 samples/s with everything
    channels-last (Intel Xeon with AMX, benchmarks/peers.py's unconditional recipe). Under bf16 on
    that machine the default recipe runs 2,206 samples/s with the model channels-last against 1,993
    channels-first, the unconditional one 1,762 against 2,221."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        return out.contiguous(memory_format=torch.channels_last) if torch.is_autocast_enabled(
            out.device.type) else out


@register(CARD)
class DCGAN(Adversarial):
    Config = DCGANConfig
    channels_last_float32 = False   # its transposed convolutions run faster channels-first in float32

    def __init__(self, config: DCGANConfig, info) -> None:
        super().__init__(config, info)
        config = self.config   # conditioning resolved from the data
        stages, side = halvings(info)
        channels = info.input_shape[0]
        widths = [config.width * 2 ** i for i in reversed(range(stages))]   # e.g. 128, 64
        classes = (info.num_classes or 0) if config.conditional_batch_norm else 0

        def generator_norm(features: int) -> nn.Module:
            return ConditionalBatchNorm2d(features, classes) if classes else nn.BatchNorm2d(features)

        layers: list[nn.Module] = [nn.Linear(self.generator_inputs, widths[0] * side * side),
                                   ChannelsLastUnflatten(1, (widths[0], side, side)),
                                   generator_norm(widths[0]), nn.ReLU()]

        def double(fan_in: int, fan_out: int, bias: bool) -> list[nn.Module]:
            if config.upsample == "resize":
                return [nn.Upsample(scale_factor=2), nn.Conv2d(fan_in, fan_out, 3, 1, 1, bias=bias)]
            return [nn.ConvTranspose2d(fan_in, fan_out, 4, 2, 1, bias=bias)]

        for fan_in, fan_out in zip(widths, [*widths[1:], None]):
            if fan_out is None:   # the last upsampling produces the image
                layers += [*double(fan_in, channels, True), nn.Tanh()]
            else:
                layers += [*double(fan_in, fan_out, False), generator_norm(fan_out), nn.ReLU()]
        self.generator = LabelledSequential(classes, *layers) if classes else nn.Sequential(*layers)
        norm = config.loss != "wgan-gp" and not config.spectral_norm

        def block(fan_in: int, fan_out: int, kernel: int, stride: int, batch_norm: bool) -> list[nn.Module]:
            # padding 1: kernel 4 stride 2 halves the side, kernel 3 stride 1 keeps it
            conv = nn.Conv2d(fan_in, fan_out, kernel, stride, 1, bias=not batch_norm)
            return [conv, *([nn.BatchNorm2d(fan_out)] if batch_norm else []), nn.LeakyReLU(0.2)]

        d_layers: list[nn.Module] = []
        previous = channels
        for i in range(stages):
            width = (config.discriminator_width or config.width) * 2 ** i   # e.g. 64, 128
            if config.minibatch_std and i == stages - 1:   # before the last stage, as Karras et al.
                d_layers.append(MinibatchStd(config.minibatch_std))
                previous += 1
            # no batch norm on the first layer (Radford et al.)
            d_layers += block(previous, width, 4, 2, norm and i > 0)
            for _ in range(config.discriminator_depth - 1):
                d_layers += block(width, width, 3, 1, norm)
            previous = width
        # flatten before the last activation (elementwise, so the same values): its gradient then
        # arrives in the layout of its input; after a channels-last map it arrived channels-first, and
        # the LeakyReLU backward that mixed layouts was ~30x slower than a matched one
        self.discriminator = nn.Sequential(*d_layers[:-1], nn.Flatten(), d_layers[-1])
        self.finish_init(previous * side * side)
