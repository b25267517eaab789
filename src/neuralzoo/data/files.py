"""User data files: ``.csv`` tables and image folders (one sub-folder per class); the arrays they and
``.npz`` files (``npz.py``) become.

Each reader returns a :class:`SourceArrays` (tensors in memory, raw labels); ``load_dataset`` then
indexes the labels and splits off validation data the same way for every source. Error messages
always name the file and, where it applies, the key, column, row or image at fault.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import NeuralzooError

# Pillow reads many more, but these are the ones people keep data sets in.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
GREY_MODES = ("1", "L", "LA")   # a folder is grey only if every image is grey (else RGB)


@dataclass
class SourceArrays:
    """One source in memory, before labels are indexed and validation data is split off.

    ``parts`` maps a split name (train, val, test) to ``(x float32 tensor, raw labels or None,
    source)``; ``source`` names the file so later errors (NaN, label count) can point at it.
    """

    origin: str                     # where the data came from, for the protocol description
    scaling: str                    # how stored values were derived from the file's values
    parts: dict[str, tuple[torch.Tensor, np.ndarray | None, str]] = field(default_factory=dict)
    class_names: list[str] | None = None   # set when labels are already indices 0..K-1
    test_rule: str = "given by the source"
    scaled_to_unit: bool = True     # values lie in [0, 1] (else the observed range is recorded)
    lengths: dict[str, torch.Tensor] = field(default_factory=dict)   # per split: variable lengths
    single_file: bool = False       # one .csv / .npz: without a test part, one is held out (splits.py)


def array_to_samples(array: np.ndarray, source: str, key: str = "x") -> tuple[torch.Tensor, str]:
    """Numeric array -> float32 samples, plus a note on the scaling applied.

    uint8 arrays are pixels and are divided by 255. Integer images (3-D or 4-D) must lie in 0..255
    and are scaled the same way. Float arrays keep their values. 3-D arrays are grey images
    (N, H, W) -> (N, 1, H, W); 4-D integer arrays are read as (N, H, W, C) (the PIL/numpy layout) and
    4-D float arrays as (N, C, H, W) (the torch layout) unless only the other reading has 1-4
    channels; 2-D arrays are feature vectors (N, F) and 1-D arrays a single feature.
    """
    if array.dtype.kind not in "biuf":
        raise NeuralzooError(f"{source}: {key!r} must be numeric, got dtype {array.dtype}")
    if array.ndim == 0 or array.ndim > 4 or array.size == 0:
        raise NeuralzooError(f"{source}: {key!r} has shape {array.shape}; expected (N, F) vectors, "
                             "(N, H, W) grey images or 4-D images with N > 0 (and no empty axis)")
    integer = array.dtype.kind in "biu"
    if array.ndim in (1, 3):   # one feature, or grey images without a channel axis
        array = array[:, None]
    elif array.ndim == 4:
        first_ok, last_ok = array.shape[1] <= 4, array.shape[3] <= 4
        if not (first_ok or last_ok):
            raise NeuralzooError(f"{source}: {key!r} has shape {array.shape}; 4-D images need 1-4 "
                                 "channels, as (N, H, W, C) or (N, C, H, W)")
        if last_ok and (integer or not first_ok):
            array = array.transpose(0, 3, 1, 2)
    if array.dtype == np.uint8 or (integer and array.ndim == 4 and array.dtype.kind != "b"):
        if array.dtype != np.uint8 and (array.min() < 0 or array.max() > 255):
            raise NeuralzooError(f"{source}: integer images in {key!r} must lie in 0..255, found "
                                 f"{array.min()}..{array.max()}")
        tensor = torch.from_numpy(np.ascontiguousarray(array)).to(torch.float32).div_(255.0)
        return tensor.contiguous(), "integer pixels / 255 -> [0, 1]"
    tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    return tensor, "values kept as given (float32)"


def labels_vector(array: np.ndarray, source: str, key: str) -> np.ndarray:
    """Labels as one value per sample; (N, 1) columns are accepted, one-hot rows are not."""
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise NeuralzooError(f"{source}: {key!r} must hold one label per sample (shape (N,)), got "
                             f"shape {array.shape}")
    return array


def read_table(path: Path) -> tuple[list[str], np.ndarray]:
    """Header and cells (strings, N x C); rows must all have the header's width."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = [name.strip() for name in next(reader, [])]
            rows = []
            for row in reader:
                if not row or not any(cell.strip() for cell in row):
                    continue   # blank lines carry no sample
                if len(row) != len(header):
                    raise NeuralzooError(f"{path}: line {reader.line_num} has {len(row)} values but "
                                         f"the header has {len(header)} columns")
                rows.append(row)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise NeuralzooError(f"{path}: cannot read CSV file ({exc})") from None
    if not header or not rows:
        raise NeuralzooError(f"{path}: CSV file needs a header line and at least one data row")
    if all(_is_number(name) for name in header):
        raise NeuralzooError(f"{path}: the first line must be a header of column names, got "
                             f"{','.join(header[:5])}...")
    return header, np.char.strip(np.array(rows, dtype=str))


def _is_number(text: str) -> bool:
    try:
        return float(text) is not None
    except ValueError:
        return False


def numeric_matrix(path: Path, header: list[str], cells: np.ndarray) -> np.ndarray:
    """Cells -> float64 matrix; the first non-numeric or non-finite cell is named in the error."""
    try:
        values = cells.astype(np.float64)
    except ValueError:
        bad = np.array([[not _is_number(cell) for cell in column] for column in cells.T]).T
        row, column = np.argwhere(bad)[0]
        raise NeuralzooError(f"{path}: column {header[column]!r}, row {row + 1} (line {row + 2}): "
                             f"{str(cells[row, column])!r} is not a number") from None
    if not np.isfinite(values).all():
        row, column = np.argwhere(~np.isfinite(values))[0]
        raise NeuralzooError(f"{path}: column {header[column]!r}, row {row + 1} (line {row + 2}): "
                             f"value {str(cells[row, column])!r} is NaN or infinite")
    return values


def load_csv(path: Path, label_column: str | None) -> SourceArrays:
    """Numeric feature columns -> (N, F) float32; the label column may hold integers or class names."""
    header, cells = read_table(path)
    if label_column is not None and label_column not in header:
        raise NeuralzooError(f"{path}: no label column {label_column!r}; columns are: "
                             f"{', '.join(header)}")
    # Protocol: explicit column, else one named "label", else the last column (common CSV layout).
    label_index = header.index(label_column or ("label" if "label" in header else header[-1]))
    features = [index for index in range(len(header)) if index != label_index]
    if not features:
        raise NeuralzooError(f"{path}: only the label column {header[label_index]!r}; no features")
    x = numeric_matrix(path, [header[i] for i in features], cells[:, features])
    labels = cells[:, label_index]
    name = header[label_index]
    if (labels == "").any():
        row = int(np.argmax(labels == ""))
        raise NeuralzooError(f"{path}: column {name!r}, row {row + 1} (line {row + 2}): empty label")
    if all(_is_number(value) for value in np.unique(labels)):
        numbers = numeric_matrix(path, [name], labels[:, None])[:, 0]
        if (numbers != np.round(numbers)).any():
            row = int(np.argmax(numbers != np.round(numbers)))
            raise NeuralzooError(f"{path}: column {name!r}, row {row + 1} (line {row + 2}): label "
                                 f"{str(labels[row])!r} is not an integer (labels are integers or "
                                 "names)")
        labels = numbers.astype(np.int64)
    tensor = torch.from_numpy(x.astype(np.float32))
    return SourceArrays(origin=f"csv file {path} (label column {name!r}, {len(features)} features)",
                        scaling="values kept as given (float32)", scaled_to_unit=False,
                        parts={"train": (tensor, labels, str(path))}, single_file=True)


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder`` (not recursive, hidden files skipped), sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                  and p.suffix.lower() in IMAGE_SUFFIXES)


def image_mode(path: Path) -> str:
    """An image's Pillow mode, read lazily from its header (no pixel decoding)."""
    try:
        with Image.open(path) as image:
            return image.mode
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise NeuralzooError(f"{path}: cannot read image ({exc})") from None


def image_array(path: Path, mode: str, size: tuple[int, int] | None) -> np.ndarray:
    """One image as uint8 (H, W) or (H, W, C) in ``mode``, resized to ``size`` = (W, H) if given."""
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("P", "PA") and "transparency" in image.info:
                image = image.convert("RGBA")   # palette transparency would otherwise warn
            image = image.convert(mode)
            if size is not None and image.size != size:
                image = image.resize(size, Image.Resampling.BILINEAR)   # antialiased when shrinking
            return np.asarray(image, dtype=np.uint8)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise NeuralzooError(f"{path}: cannot read image ({exc})") from None


def stack_images(paths: list[Path], mode: str, size: tuple[int, int] | None) -> torch.Tensor:
    """Images -> float32 (N, C, H, W) in [0, 1]; every image must have ``size`` after resizing."""
    arrays = [image_array(path, mode, size) for path in paths]
    first = arrays[0].shape
    for path, array in zip(paths, arrays):
        if array.shape != first:
            raise NeuralzooError(f"{path}: image is {array.shape[1]}x{array.shape[0]} but "
                                 f"{paths[0].name} is {first[1]}x{first[0]}; all images must share "
                                 "one size (or set image_size / --image-size to resize them)")
    batch = torch.from_numpy(np.stack(arrays))
    batch = batch[:, None] if batch.ndim == 3 else batch.permute(0, 3, 1, 2)
    return batch.to(torch.float32).div_(255.0).contiguous()


def load_image_folder(folder: Path, image_size: int | None) -> SourceArrays:
    """One sub-folder per class (sorted names are the classes); grey if every image is grey."""
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise NeuralzooError(f"{folder}: no class sub-folders; an image folder needs one sub-folder "
                             "of images per class")
    paths, labels = [], []
    for index, class_folder in enumerate(classes):
        images = list_images(class_folder)
        if not images:
            raise NeuralzooError(f"{class_folder}: class folder holds no images "
                                 f"({', '.join(IMAGE_SUFFIXES)})")
        paths += images
        labels += [index] * len(images)
    modes = {image_mode(path) for path in paths}
    mode = "L" if modes <= set(GREY_MODES) else "RGB"
    size = None if image_size is None else (image_size, image_size)
    x = stack_images(paths, mode, size)
    resize = "" if size is None else f", resized to {image_size}x{image_size} (bilinear)"
    return SourceArrays(origin=f"image folder {folder} ({len(classes)} classes, "
                        f"{'grey' if mode == 'L' else 'RGB'}{resize})",
                        scaling="pixels / 255 -> [0, 1]",
                        parts={"train": (x, np.array(labels, dtype=np.int64), str(folder))},
                        class_names=[p.name for p in classes])


def image_rows(source: SourceArrays) -> SourceArrays:
    """(N, 1, H, W) grey images -> (N, H, W): H time steps of W features."""
    parts = {split: (x[:, 0], y, name) for split, (x, y, name) in source.parts.items()}
    steps, width = next(iter(parts.values()))[0].shape[1:]
    return SourceArrays(origin=f"{source.origin}, each image read as {steps} steps of {width} pixels "
                        "(row by row, top first)", scaling=source.scaling, parts=parts,
                        class_names=source.class_names, test_rule=source.test_rule,
                        scaled_to_unit=source.scaled_to_unit)
