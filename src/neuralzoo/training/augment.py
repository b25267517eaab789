"""Batched image augmentation on tensors (no per-sample Python): one random affine map per image,
applied with a single ``affine_grid`` + ``grid_sample`` call. Draws come from torch's global generator,
whose state the checkpoints save, so augmented runs resume exactly."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def augment_images(x: torch.Tensor, kind: str, max_degrees: float = 10.0, max_scale: float = 0.1,
                   max_shift_pixels: float = 2.0, fill: tuple[float, ...] | None = None) -> torch.Tensor:
    """Random rotation (+-max_degrees), zoom (+-max_scale) and shift (+-max_shift_pixels) of a batch
    ``x`` (B, C, H, W); ``kind="shift"`` only shifts. Out-of-image pixels are filled with 0, or with
    ``fill`` per channel (standardised images: where a raw 0 pixel lies, ``ArrayData.background``)."""
    if kind == "none":
        return x
    batch, _, height, width = x.shape
    device = x.device
    shift = (torch.rand(batch, 2, device=device) * 2 - 1) * max_shift_pixels
    # grid coordinates span [-1, 1] over the image, so one pixel is 2 / size
    shift = shift * torch.tensor([2.0 / width, 2.0 / height], device=device)
    theta = torch.zeros(batch, 2, 3, device=device)
    if kind == "affine":
        angle = (torch.rand(batch, device=device) * 2 - 1) * math.radians(max_degrees)
        scale = 1 + (torch.rand(batch, device=device) * 2 - 1) * max_scale
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = cos, -sin, sin, cos
    else:
        theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    offset = 0.0 if fill is None else torch.tensor(fill, device=device).view(1, -1, 1, 1)
    # sampled around the fill value, so the zeros grid_sample pads with land on it
    return (F.grid_sample(x.float() - offset, grid, mode="bilinear", padding_mode="zeros",
                          align_corners=False) + offset).to(x.dtype)
