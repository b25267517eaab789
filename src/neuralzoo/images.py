"""Pictures drawn with Pillow: image grids (torchvision's ``save_image`` is not available on CPU-only
installs here), the confusion matrix and the grid of predictions that ``evaluate`` writes. Pillow
draws them in milliseconds; matplotlib's import and layout cost ~1.8 s of every evaluation."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont


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


def _font(size: int = 12) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)   # Pillow's bundled font: nothing to install


def _blues(fraction: float) -> tuple[int, int, int]:
    """White to dark blue (the ends of matplotlib's "Blues"), for a fraction in [0, 1]."""
    light, dark = np.array([247, 251, 255]), np.array([8, 48, 107])
    return tuple(int(v) for v in light + (dark - light) * fraction)


def save_confusion(matrix: np.ndarray, class_names: list[str], path: Path, title: str = "") -> Path:
    """Counts (K, K), rows the true class and columns the predicted one, shaded by count."""
    k, cell, font = len(class_names), 30, _font(11)
    label = max([font.getbbox(name)[2] for name in class_names] + [8]) + 8
    left, top = label + 24, 44 + label
    image = Image.new("RGB", (left + k * cell + 12, top + k * cell + 12), "white")
    draw = ImageDraw.Draw(image)
    draw.text((8, 6), title or "confusion matrix", fill="black", font=_font(13))
    draw.text((left + k * cell // 2, 26), "predicted", fill="black", font=font, anchor="mt")
    biggest = max(int(matrix.max()), 1)
    for i in range(k):
        draw.text((left - 6, top + i * cell + cell // 2), class_names[i], fill="black", font=font,
                  anchor="rm")
        draw.text((left + i * cell + cell // 2, top - 6), class_names[i], fill="black", font=font,
                  anchor="mb")
        for j in range(k):
            box = (left + j * cell, top + i * cell, left + (j + 1) * cell - 1, top + (i + 1) * cell - 1)
            draw.rectangle(box, fill=_blues(matrix[i, j] / biggest), outline=(220, 220, 220))
            if matrix[i, j]:
                draw.text((box[0] + cell // 2, box[1] + cell // 2), str(int(matrix[i, j])), font=_font(9),
                          fill="white" if matrix[i, j] > biggest / 2 else "black", anchor="mm")
    side = Image.new("RGB", (k * cell, 16), "white")   # "true", written sideways along the rows
    ImageDraw.Draw(side).text((k * cell // 2, 8), "true", fill="black", font=font, anchor="mm")
    image.paste(side.rotate(90, expand=True), (4, top))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def save_predictions(images: np.ndarray, predicted: list[str], true: list[str], path: Path,
                     columns: int = 8) -> Path:
    """A grid of images in [0, 1] (N, C, H, W), each titled ``predicted (true)``, wrong ones in red."""
    tiles = image_grid(images, nrow=1, padding=0, min_size=56)   # (N * side, side[, 3]), enlarged
    side = tiles.shape[1]
    font, caption = _font(12), 18
    rows = math.ceil(len(images) / columns)
    sheet = Image.new("RGB", (columns * (side + 8) + 8, rows * (side + caption + 8) + 8), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (p, t) in enumerate(zip(predicted, true)):
        r, c = divmod(i, columns)
        x, y = 8 + c * (side + 8), 8 + r * (side + caption + 8)
        draw.text((x + side // 2, y + caption // 2), f"{p} ({t})", font=font, anchor="mm",
                  fill="black" if p == t else (200, 0, 0))
        sheet.paste(Image.fromarray(tiles[i * side:(i + 1) * side]).convert("RGB"), (x, y + caption))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path
