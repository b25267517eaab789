"""Rotation prediction (Gidaris, Singh & Komodakis 2018, "Unsupervised representation learning by
predicting image rotations"): the encoder learns what upright objects look like by telling which of
0, 90, 180 or 270 degrees an image was turned by.

Every training image is shown in all four rotations in the same batch (the paper's choice: it beat
one random rotation per image), so the task has no random draws. Loss: cross-entropy of a linear
head over the 4 rotations; the metric ``rotation_accuracy``. Square images only (a quarter turn of
a non-square image changes its shape).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..cards.rotation import CARD
from ..fields import check_choices
from ..errors import NeuralzooError
from ..registry import register
from .pretext import PretextConfig, PretextModel

QUARTER_TURNS = 4


def rotate(x: torch.Tensor, turns: torch.Tensor | int) -> torch.Tensor:
    """Images (B, C, H, W) turned counter-clockwise by ``turns`` quarter turns (per image or one for
    all); exact (a permutation of pixels, no interpolation)."""
    if isinstance(turns, int):
        return torch.rot90(x, turns % QUARTER_TURNS, dims=(2, 3))
    out = torch.empty_like(x)
    for k in range(QUARTER_TURNS):   # four masked copies: no per-image Python
        chosen = turns % QUARTER_TURNS == k
        out[chosen] = torch.rot90(x[chosen], k, dims=(2, 3))
    return out


def all_rotations(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C, H, W) -> the 4B images (every image at 0, 1, 2, 3 quarter turns, turn-major) and their
    labels (4B,)."""
    turned = torch.cat([torch.rot90(x, k, dims=(2, 3)) for k in range(QUARTER_TURNS)])
    labels = torch.arange(QUARTER_TURNS, device=x.device).repeat_interleave(len(x))
    return turned, labels


@dataclass
class RotationConfig(PretextConfig):
    def __post_init__(self) -> None:
        self.check_encoder()
        check_choices(self)


@register(CARD)
class Rotation(PretextModel):
    Config = RotationConfig

    def __init__(self, config: RotationConfig, info) -> None:
        if not info.is_image or info.input_shape[1] != info.input_shape[2]:
            raise NeuralzooError(f"model 'rotation' needs square images; {info.name!r} has samples of "
                                 f"shape {tuple(info.input_shape)}")
        super().__init__(config, info)
        self.head = nn.Linear(self.feature_dim, QUARTER_TURNS)

    def rotation_logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encode(x))   # (B, 4)

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        turned, labels = all_rotations(batch["x"])
        logits = self.rotation_logits(turned).float()
        return {"loss": F.cross_entropy(logits, labels),
                "rotation_accuracy": (logits.argmax(1) == labels).float().mean()}
