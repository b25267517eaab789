"""Inpainting (Pathak et al. 2016, context encoders; He et al. 2022, masked autoencoders): the encoder
sees an image with regions hidden and a decoder reconstructs them from its features, so the features
must carry what the visible part says about the whole.

Masks (``--mask``), drawn per image with the loop's per-step seed (``batch_noise``: the same masks
on one process or several, and when a run resumes):
- ``block``: one square hiding ``mask_ratio`` of the image at a random position (the context
  encoder's central region, moved about);
- ``patches``: the image cut into ``patch_size`` squares and a random ``mask_ratio`` of them hidden
  (the masked autoencoder's scheme).
Hidden pixels are set to 0 and the mask is given to the encoder as an extra channel (cnn) or extra
features (mlp), so it can tell a hidden pixel from a dark one. The loss is the reconstruction
negative log-likelihood of the hidden pixels (Bernoulli for [0, 1] data, else squared error) plus
``visible_weight`` times that of the visible ones, per image. The decoder is two dense layers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..cards.inpaint import CARD
from ..fields import check_choices, param
from ..errors import NeuralzooError
from ..registry import register
from .base import batch_noise
from .pretext import PretextConfig, PretextModel


@dataclass
class InpaintConfig(PretextConfig):
    mask: Literal["block", "patches"] = param("patches", "what is hidden: one square block, or a "
                                              "random share of square patches")
    mask_ratio: float = param(0.5, "share of the image hidden")
    patch_size: int = param(4, "patches: side of a patch in pixels")
    visible_weight: float = param(0.1, "weight of the visible pixels' reconstruction in the loss")

    def __post_init__(self) -> None:
        self.check_encoder()
        if not 0 < self.mask_ratio < 1:
            raise NeuralzooError(f"mask_ratio must be in (0, 1), got {self.mask_ratio}")
        if self.patch_size < 1 or self.visible_weight < 0:
            raise NeuralzooError("patch_size must be positive and visible_weight >= 0")
        check_choices(self)


def draw_masks(batch: dict[str, torch.Tensor], n: int, shape: tuple[int, int],
               cfg: InpaintConfig) -> torch.Tensor:
    """Masks (n, 1, H, W), 1 where hidden, drawn with ``batch_noise``."""
    height, width = shape
    if cfg.mask == "patches":
        rows, cols = math.ceil(height / cfg.patch_size), math.ceil(width / cfg.patch_size)
        hidden = max(1, round(cfg.mask_ratio * rows * cols))
        scores = batch_noise(batch, n, lambda k, g: torch.rand(k, rows * cols, generator=g))
        chosen = scores.argsort(1)[:, :hidden]   # a random subset of exactly `hidden` patches
        grid = torch.zeros(n, rows * cols).scatter_(1, chosen, 1.0).view(n, 1, rows, cols)
        grid = grid.repeat_interleave(cfg.patch_size, 2).repeat_interleave(cfg.patch_size, 3)
        return grid[:, :, :height, :width].contiguous()
    side_h = max(1, round(height * math.sqrt(cfg.mask_ratio)))
    side_w = max(1, round(width * math.sqrt(cfg.mask_ratio)))
    corner = batch_noise(batch, n, lambda k, g: torch.rand(k, 2, generator=g))
    top = (corner[:, 0] * (height - side_h + 1)).long()[:, None]   # (n, 1)
    left = (corner[:, 1] * (width - side_w + 1)).long()[:, None]
    rows = torch.arange(height)[None]
    cols = torch.arange(width)[None]
    inside_rows = (rows >= top) & (rows < top + side_h)   # (n, H)
    inside_cols = (cols >= left) & (cols < left + side_w)   # (n, W)
    return (inside_rows[:, :, None] & inside_cols[:, None, :]).float()[:, None]


@register(CARD)
class Inpaint(PretextModel):
    Config = InpaintConfig

    def __init__(self, config: InpaintConfig, info) -> None:
        if not info.is_image:
            raise NeuralzooError(f"model 'inpaint' needs images; {info.name!r} has samples of shape "
                                 f"{tuple(info.input_shape)}")
        channels = info.input_shape[0]
        # the encoder reads the image and the mask: one channel more
        super().__init__(config, replace(info, input_shape=(channels + 1, *info.input_shape[1:])))
        self.info = info
        size = math.prod(info.input_shape)
        self.decoder = nn.Sequential(nn.Linear(self.feature_dim, 512), nn.ReLU(), nn.Linear(512, size),
                                     nn.Unflatten(1, tuple(info.input_shape)))
        self.bernoulli = tuple(info.value_range) == (0.0, 1.0)

    def masked_input(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """What the encoder sees: the image with hidden pixels at 0, and the mask as one channel."""
        return torch.cat([x * (1 - mask), mask.to(x.dtype)], 1)

    def encode(self, x: Any) -> torch.Tensor:
        """Features of whole images: nothing hidden (an all-zero mask channel)."""
        x = self.as_input(x, check_values=False)
        return self.backbone(self.masked_input(x, torch.zeros_like(x[:, :1])))

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = batch["x"]
        mask = draw_masks(batch, len(x), tuple(x.shape[2:]), self.config).to(x.device, x.dtype)
        out = self.decoder(self.backbone(self.masked_input(x, mask))).float()   # (B, C, H, W)
        if self.bernoulli:
            per_pixel = F.binary_cross_entropy_with_logits(out, x.float(), reduction="none")
        else:
            per_pixel = (out - x.float()) ** 2
        hidden = (per_pixel * mask).flatten(1).sum(1)
        visible = (per_pixel * (1 - mask)).flatten(1).sum(1)
        shown = torch.sigmoid(out) if self.bernoulli else out
        squared = (((shown - x.float()) ** 2) * mask).flatten(1).sum(1) / mask.flatten(1).sum(1).clamp(min=1)
        return {"loss": (hidden + self.config.visible_weight * visible).mean(),
                "hidden_squared_error": squared.mean()}
