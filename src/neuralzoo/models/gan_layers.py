"""Layers only the GANs use: the discriminator's minibatch standard deviation (Karras et al. 2018),
the generator's class-conditional batch norm (de Vries et al. 2017; Miyato & Koyama 2018), the
differentiable augmentation of the discriminator's inputs (Zhao et al. 2020) and the semi-supervised
GAN's noisy weight-normalised discriminator (Salimans et al. 2016)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import NeuralzooError


class _GroupStd(torch.autograd.Function):
    """(g, M, F) -> (M,): the mean over F of the standard deviation over g, with the gradient written
    out, d stat_m / d x_imf = (x_imf - mean_mf) / (g F std_mf): 4 passes over the map instead of the
    ~12 of autograd through sub, square, mean and sqrt (those made a DCGAN step 1.6x slower)."""

    @staticmethod
    def forward(ctx, groups: torch.Tensor) -> torch.Tensor:
        centred = groups - groups.mean(0)
        std = (centred.square().mean(0) + 1e-8).sqrt_()  # (M, F)
        ctx.save_for_backward(centred, std)
        return std.mean(1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        centred, std = ctx.saved_tensors
        g, _, f = centred.shape
        return centred * (grad[:, None] / (g * f) / std)


class MinibatchStd(nn.Module):
    """Appends one feature (a channel for maps): the standard deviation of every feature over a group
    of samples, averaged into one number per group (Karras et al. 2018, Progressive growing of GANs,
    Sec. 3). D can then tell a batch of near-copies from a real one, which penalises a generator that
    covers too little of the data (low recall). Groups hold samples i, i + B/g, ... (their
    reshape); g is the largest divisor of the batch not above ``group_size``."""

    def __init__(self, group_size: int) -> None:
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, g = len(x), min(self.group_size, len(x))
        while b % g:
            g -= 1
        # the mean over features ignores their order: flatten a map channels-last, its memory order
        flat = x.permute(0, 2, 3, 1) if x.dim() == 4 else x
        groups = flat.reshape(g, b // g, -1)  # (g, B/g, features); at least float32 (bf16 under autocast)
        std = _GroupStd.apply(groups.to(torch.promote_types(x.dtype, torch.float32)))  # (B/g,)
        feature = std.repeat(g).to(x.dtype).view(b, 1, *[1] * (x.dim() - 2))
        out = torch.cat([x, feature.expand(b, 1, *x.shape[2:])], 1)
        return out.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else out


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm with a per-class scale and shift on top of its own: BN(x) (1 + gain_y) + shift_y (de
    Vries et al. 2017; the conditional generator of Miyato & Koyama 2018; BigGAN's 1 + gain form, so
    it starts as plain batch norm). Called with the (B, K) one-hot (or mixed) labels: gain = labels @
    table, so a walk between two labels mixes their scales."""

    def __init__(self, features: int, num_classes: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(features)   # affine: the fast kernel (affine=False was ~5x slower)
        self.gain = nn.Linear(num_classes, features, bias=False)
        self.shift = nn.Linear(num_classes, features, bias=False)
        nn.init.zeros_(self.gain.weight)
        nn.init.zeros_(self.shift.weight)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):   # (B, K) x (K, C): bf16 only adds casts
            gain = 1 + F.linear(labels.float(), self.gain.weight)  # (B, C)
            shift = F.linear(labels.float(), self.shift.weight)
        normed = self.norm(x)
        return torch.addcmul(shift.to(normed.dtype)[:, :, None, None], normed,
                             gain.to(normed.dtype)[:, :, None, None])


class LabelledSequential(nn.Sequential):
    """A generator whose input is [z, one-hot label]; its conditional batch norms get the label part."""

    def __init__(self, num_classes: int, *layers: nn.Module) -> None:
        super().__init__(*layers)
        self.num_classes = num_classes

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        labels, x = z[:, -self.num_classes:], z  # (B, K)
        for layer in self:
            x = layer(x, labels) if isinstance(layer, ConditionalBatchNorm2d) else layer(x)
        return x


class NoisyWeightNormMLP(nn.Module):
    """The semi-supervised GAN's discriminator (Salimans et al. 2016, MNIST code: nn.DenseLayer and
    GaussianNoiseLayer): weight-normalised ReLU layers (Salimans & Kingma 2016, w = g v / |v|) for the
    widths ``sizes`` (flattened input first), Gaussian noise added to the input (std ``input_noise``)
    and to every hidden output (``hidden_noise``), and a weight-normalised linear head of ``outputs``
    logits. As in their code, the hidden layers' scales g are set by the data-dependent
    initialisation and then fixed; the head's scale trains. Returns (logits, last hidden layer before
    its noise): the features the generator matches (their ``layers[-3]``)."""

    def __init__(self, sizes: list[int], outputs: int, input_noise: float, hidden_noise: float) -> None:
        super().__init__()
        weight_norm = nn.utils.parametrizations.weight_norm
        self.hidden = nn.ModuleList(weight_norm(nn.Linear(a, b)) for a, b in zip(sizes[:-1], sizes[1:]))
        for layer in self.hidden:
            layer.parametrizations.weight.original0.requires_grad_(False)   # train_scale=False
        self.head = weight_norm(nn.Linear(sizes[-1], outputs))
        for layer in [*self.hidden, self.head]:   # their init: v ~ N(0, 0.1^2), g = 1, b = 0; the size
            # of v sets how fast Adam turns the direction v / |v| (torch's default v is 3-5x shorter)
            nn.init.normal_(layer.parametrizations.weight.original1, std=0.1)
            nn.init.ones_(layer.parametrizations.weight.original0)
            nn.init.zeros_(layer.bias)
        self.widths = sizes   # where noise is added: the input and each hidden output
        self.stds = [input_noise, *[hidden_noise] * (len(sizes) - 1)]
        self.noise_width = sum(sizes)

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """``noise``: (B, noise_width) standard normal draws (None: drawn here in training, none in
        eval mode, like dropout)."""
        h = x.flatten(1)  # (B, features)
        if noise is None and self.training:
            noise = torch.randn(len(h), self.noise_width, device=h.device)
        draws = [None] * len(self.widths) if noise is None else noise.to(h.dtype).split(self.widths, 1)
        for layer, draw, std in zip(self.hidden, draws, self.stds):
            h = F.relu(layer(h if draw is None else h + std * draw))
        features = h  # (B, last hidden width)
        if draws[-1] is not None:
            h = h + self.stds[-1] * draws[-1]
        return self.head(h), features

    @torch.no_grad()
    def initialise_from_data(self, x: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """Data-dependent initialisation (Salimans & Kingma 2016, Sec. 2.2; their ``init=True`` pass,
        noise on): each layer's scale and bias set so that its pre-activations on ``x`` have zero mean
        and unit variance per unit, layer by layer."""
        h = x.flatten(1).float()
        for i, (layer, std) in enumerate(zip([*self.hidden, self.head], self.stds)):
            h = h + std * torch.randn(h.shape, generator=generator).to(h.device)
            t = layer(h) - layer.bias  # (N, units)
            mean, scale = t.mean(0), t.square().mean(0).sub(t.mean(0).square()).clamp(min=1e-12).sqrt()
            layer.parametrizations.weight.original0.div_(scale[:, None])
            layer.bias.copy_(-mean / scale)
            h = F.relu((t - mean) / scale)


AUGMENTATIONS = ("translation", "cutout")


def check_policy(policy: tuple[str, ...]) -> None:
    unknown = [kind for kind in policy if kind not in AUGMENTATIONS]
    if unknown:
        raise NeuralzooError(f"diff_augment: unknown {', '.join(unknown)}; "
                             f"choices: {', '.join(AUGMENTATIONS)}")


def diff_augment(x: torch.Tensor, policy: tuple[str, ...], generator: torch.Generator | None = None
                 ) -> torch.Tensor:
    """Differentiable augmentation (Zhao et al. 2020, "DiffAugment"), applied alike to real and
    generated images before every discriminator call, so D cannot memorise the training images while
    the generator still learns the un-augmented distribution (its gradient flows through the
    augmentation). Per sample: ``translation`` shifts by up to 1/8 of the side with zero padding
    (zero is mid-grey in [-1, 1], as in the paper's code); ``cutout`` zeroes a random square of half
    the side. x: (B, C, H, W) in [-1, 1]; the memory format is kept."""
    b, _, h, w = x.shape
    device = x.device
    for kind in policy:
        if kind == "translation":
            dy, dx = (torch.randint(-int(s / 8 + 0.5), int(s / 8 + 0.5) + 1, (b, 1),
                                    generator=generator).to(device) for s in (h, w))  # (B, 1) shifts
            rows = torch.arange(h, device=device) - dy   # (B, H) source row of each output row
            cols = torch.arange(w, device=device) - dx   # (B, W)
            keep = (((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :])
            rows, cols = rows.clamp(0, h - 1), cols.clamp(0, w - 1)
            picked = x[torch.arange(b, device=device)[:, None, None], :, rows[:, :, None], cols[:, None, :]]
            # advanced indexing puts the indexed dims first: (B, H, W, C) -> (B, C, H, W) view
            x = (picked * keep[..., None].to(picked.dtype)).permute(0, 3, 1, 2)
        elif kind == "cutout":
            size_h, size_w = (h + 1) // 2, (w + 1) // 2
            top = torch.randint(0, h - size_h + 1, (b, 1), generator=generator).to(device)
            left = torch.randint(0, w - size_w + 1, (b, 1), generator=generator).to(device)
            rows, cols = torch.arange(h, device=device), torch.arange(w, device=device)
            inside = (((rows >= top) & (rows < top + size_h))[:, :, None]
                      & ((cols >= left) & (cols < left + size_w))[:, None, :])   # (B, H, W)
            x = x * (~inside)[:, None].to(x.dtype)
        else:
            raise ValueError(f"unknown augmentation {kind!r}; choices: {', '.join(AUGMENTATIONS)}")
    return x
