"""Image grids with Pillow (torchvision's ``save_image`` is not available on CPU-only installs here)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def image_grid(images: torch.Tensor | np.ndarray, nrow: int | None = None, padding: int = 2,
               min_size: int = 28) -> np.ndarray:
    """(N, C, H, W) values in [0, 1] -> one uint8 (rows, cols[, 3]) array, ``nrow`` images per row.
    Images smaller than ``min_size`` are enlarged by an integer factor (nearest neighbour) so 8x8
    digits stay visible."""
    x = torch.as_tensor(images).detach().float().cpu().clamp(0, 1)
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"image grid needs (N, 1 or 3, H, W) images, got shape {tuple(x.shape)}")
    n, c, h, w = x.shape
    scale = max(1, math.ceil(min_size / max(h, w)))
    if scale > 1:
        x = x.repeat_interleave(scale, 2).repeat_interleave(scale, 3)
        h, w = h * scale, w * scale
    nrow = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / nrow)
    grid = torch.ones(c, rows * (h + padding) + padding, nrow * (w + padding) + padding) * 0.5
    for i in range(n):
        r, col = divmod(i, nrow)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, top:top + h, left:left + w] = x[i]
    array = (grid * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
    return array[:, :, 0] if c == 1 else array


def save_image_grid(images: torch.Tensor | np.ndarray, path: str | Path, nrow: int | None = None,
                    **kw) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image_grid(images, nrow, **kw)).save(path)
    return path
