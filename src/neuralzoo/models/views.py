"""Batched random views of images for consistency training (FixMatch, Sohn et al. 2020): a weak view
(a random shift) and a strong view (a RandAugment-like draw suited to grey digits: a wide affine map,
brightness, contrast and Cutout, DeVries & Taylor 2017). Every view is a handful of tensor ops over
the whole batch (one ``affine_grid`` + ``grid_sample`` for the geometry), with no per-sample Python;
the random magnitudes come in as a uniform tensor ``u`` (B, DRAWS), which the model draws through
``models.base.batch_noise`` so that torchrun ranks and resumed runs draw alike.

RandAugment (Cubuk et al. 2020) applies two ops picked from fourteen at a random magnitude; on
one-channel digits most of them (colour, posterize, solarize, equalize, invert) either do nothing or
turn a stroke into background, so this view applies the ops that keep a digit a digit, each with its
own random magnitude in ``[0, max]``, and always a Cutout square (as FixMatch's RandAugment does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

DRAWS = 10   # uniform numbers per image: 2 shift, 1 angle, 1 shear, 1 scale, brightness, contrast, 3 cutout


@dataclass(frozen=True)
class StrongView:
    degrees: float = 30.0      # rotation up to +-degrees
    shear: float = 0.3         # horizontal shear factor up to +-shear
    scale: float = 0.2         # zoom by a factor in [1 - scale, 1 + scale]
    shift: float = 0.2         # translation up to +-shift of the side
    brightness: float = 0.5    # stroke intensity times a factor in [1 - brightness, 1 + brightness]
    contrast: float = 0.5      # deviation from the image's mean times [1 - contrast, 1 + contrast]
    cutout: float = 0.5        # a square of up to cutout * side set to the background


def _affine(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """``x`` (B, C, H, W) resampled through the per-image maps ``theta`` (B, 2, 3); zeros outside."""
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    return F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _signed(u: torch.Tensor) -> torch.Tensor:
    return u * 2 - 1   # uniform [0, 1) -> [-1, 1)


def weak_view(x: torch.Tensor, u: torch.Tensor, shift: float) -> torch.Tensor:
    """Random translation by up to ``shift`` of the side (FixMatch's weak view without the flip,
    which does not preserve digits); ``u`` (B, >= 2) uniform draws. Grid coordinates span [-1, 1],
    so a shift of a fraction f of the side is 2f."""
    theta = torch.zeros(len(x), 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    theta[:, :, 2] = _signed(u[:, :2]) * 2 * shift
    return _affine(x, theta).to(x.dtype)


def strong_view(x: torch.Tensor, u: torch.Tensor, view: StrongView,
                value_range: tuple[float, float] = (0.0, 1.0)) -> torch.Tensor:
    """The strong view of ``x`` (B, C, H, W) from ``u`` (B, DRAWS) uniform draws, in ``value_range``."""
    batch, _, height, width = x.shape
    angle = _signed(u[:, 2]) * math.radians(view.degrees)
    shear = _signed(u[:, 3]) * view.shear
    scale = 1 + _signed(u[:, 4]) * view.scale
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.zeros(batch, 2, 3)
    # rotation / zoom composed with a horizontal shear [[1, s], [0, 1]]
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin + cos * shear
    theta[:, 1, 0], theta[:, 1, 1] = sin, cos + sin * shear
    theta[:, :, 2] = _signed(u[:, :2]) * 2 * view.shift
    out = _affine(x, theta)
    low, high = value_range
    device = out.device
    brightness = (1 + _signed(u[:, 5]) * view.brightness).to(device)[:, None, None, None]
    contrast = (1 + _signed(u[:, 6]) * view.contrast).to(device)[:, None, None, None]
    out = low + (out - low) * brightness   # the background (low) stays; strokes dim or brighten
    mean = out.mean((1, 2, 3), keepdim=True)
    out = (mean + (out - mean) * contrast).clamp(low, high)
    # Cutout: a square of side up to cutout * side, centred anywhere in the image
    side = (u[:, 7] * view.cutout * min(height, width)).to(device)[:, None, None]   # (B, 1, 1)
    cy, cx = (u[:, 8] * height).to(device)[:, None, None], (u[:, 9] * width).to(device)[:, None, None]
    rows = torch.arange(height, device=device, dtype=torch.float32)[None, :, None] + 0.5
    cols = torch.arange(width, device=device, dtype=torch.float32)[None, None, :] + 0.5
    hole = ((rows - cy).abs() < side / 2) & ((cols - cx).abs() < side / 2)   # (B, H, W)
    out = torch.where(hole[:, None], torch.full_like(out, low), out)
    return out.to(x.dtype)
