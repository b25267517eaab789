"""Loading: ``load_dataset(DataConfig(...)) -> DataSplits``, data sets as tensors in memory.

``cfg.data`` is a registered name (:data:`DATASETS`) or a path (``.npz``, ``.csv``, an image folder
with one sub-folder per class, or a folder holding the four MNIST IDX files). Every source goes
through the same protocol so runs are comparable: labels become indices 0..K-1 (names kept in
``class_names``); a single ``.csv`` / ``.npz`` without a test part has ``test_fraction`` of its
samples held out for testing (stratified, ``split_seed``; ``splits.py``); ``limit`` caps the
training part, then ``val_fraction`` of it is held out for validation (stratified, ``split_seed``)
unless the source provides a validation split; ``imbalance`` then cuts the training part to a long
tail (``splits.long_tail``) and ``labels`` keeps N class-balanced training labels (``labels.py``);
optional preprocessing (``train_classes``, ``contrast``, ``standardise``, ``binarize``) follows in that
order, its constants fitted on the training part, whose class counts ``DataInfo.class_counts`` keeps.
The protocol actually applied is written to ``DataInfo.description``, which checkpoints keep.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import NeuralzooError
from .base import ArrayData, DataConfig, DataInfo, DataSplits
from .contrast import apply_contrast, fit_contrast
from .files import SourceArrays, image_rows, load_csv, load_image_folder
from .idx import is_mnist_folder, load_mnist
from .labels import draw_labels
from .npz import load_npz
from .sequences import ROW_DATASETS
from .series import SERIES_DATASETS, load_series
from .splits import (check_validation_size, class_counts, hold_out_test, keep_classes, long_tail,
                     split_indices)
from .standardise import Standardisation, apply_standardise, describe, fit_standardise, wanted
from .text import TEXT_DATASETS, TEXT_SUFFIXES, load_text

DATASETS: tuple[str, ...] = ("digits", "mnist", "digits-rows", "mnist-rows", "sunspots", "fable")
PATH_KINDS = ("a .npz file (keys x, y[, x_val, y_val, x_test, y_test, lengths]), a .csv file with a "
              "header (a time series with --lookback), a .txt text file, or an image folder with one "
              "sub-folder per class")


def load_dataset(cfg: DataConfig, contrast: dict[str, Any] | None = None,
                 need_validation: bool = True,
                 standardisation: Standardisation | None = None) -> DataSplits:
    """Load ``cfg.data`` and split it by the protocol described in this module's docstring (time
    series and text: chronologically, see data/series.py and data/text.py). ``contrast``: GCN
    constants to use instead of fitting them (a trained model's, for evaluating it on other data);
    ``standardisation`` likewise, the per-feature mean and std (``cfg.standardise`` must be "on").
    ``need_validation=False``: the caller uses the test part only, so where nothing else depends on
    the training part (no binarization draws before the test part, no constants to fit on it) the
    train/validation split is not drawn (it costs scikit-learn's import, ~0.7 s) and MNIST's training
    files are not read."""
    path = Path(cfg.data).expanduser()
    sequences = cfg.data in SERIES_DATASETS or (path.suffix.lower() == ".csv" and cfg.lookback is not None)
    text = cfg.data in TEXT_DATASETS or (path.is_file() and path.suffix.lower() in TEXT_SUFFIXES)
    if (sequences or text) and cfg.contrast != "none":
        raise NeuralzooError(f"contrast: {cfg.contrast!r} applies to images and feature vectors, not to "
                             f"{'time series' if sequences else 'text'} ({cfg.data!r})")
    if (sequences or text) and cfg.standardise == "on":
        raise NeuralzooError(f"standardise: 'on' applies to feature vectors, not to "
                             f"{'time series (scaled by their own statistics)' if sequences else 'text'}"
                             f" ({cfg.data!r})")
    if (sequences or text) and cfg.imbalance is not None:
        raise NeuralzooError(f"imbalance: {cfg.imbalance:g} cuts classes of labelled data, not "
                             f"{'a time series' if sequences else 'text'} ({cfg.data!r})")
    if (sequences or text) and cfg.labels is not None:
        raise NeuralzooError(f"labels: {cfg.data!r} holds {'a time series' if sequences else 'text'}; "
                             "--labels keeps the labels of some samples of a classification data set")
    if sequences:
        return load_series(cfg)
    if text:
        return load_text(cfg)
    test_only = not need_validation and cfg.binarize == "none" and not (
        cfg.contrast == "gcn" and contrast is None) and not (
        cfg.standardise != "off" and standardisation is None)
    return _assemble(cfg, _read_source(cfg, read_train=not test_only), contrast, test_only,
                     standardisation)


def arrays_dataset(x: torch.Tensor, y: np.ndarray | None, cfg: DataConfig,
                   class_names: list[str] | None = None, origin: str = "arrays given in memory"
                   ) -> DataSplits:
    """Arrays held in memory (scikit-learn's ``fit(X, y)``) through the same protocol as files: the
    training part, ``val_fraction`` held out (stratified, ``split_seed``), the rest of the protocol
    as configured. ``y``: indices 0..K-1 when ``class_names`` is given, else raw labels; no test part."""
    source = SourceArrays(origin=origin, scaling="values as given", scaled_to_unit=False,
                          parts={"train": (x.float(), y, origin)}, class_names=class_names,
                          test_rule="none: the caller scores its own data")
    return _assemble(cfg, source)


def _read_source(cfg: DataConfig, read_train: bool = True) -> SourceArrays:
    """The source's arrays; ``read_train=False`` lets a source skip its training part (MNIST)."""
    if cfg.data == "digits":
        return _load_digits()
    if cfg.data == "mnist":
        return load_mnist(cfg.data_dir, read_train)
    if cfg.data in ROW_DATASETS:
        return image_rows(_read_source(replace(cfg, data=ROW_DATASETS[cfg.data]), read_train))
    path = Path(cfg.data).expanduser()
    suffix = path.suffix.lower()
    if path.is_dir():
        return load_mnist(str(path), read_train) if is_mnist_folder(path) else load_image_folder(
            path, cfg.image_size)
    if suffix in (".npz", ".csv"):
        if not path.is_file():
            raise NeuralzooError(f"{path}: no such file")
        return load_npz(path) if suffix == ".npz" else load_csv(path, cfg.label_column)
    why = (f"unsupported file type {suffix!r} (text files for language models: "
           f"{', '.join(TEXT_SUFFIXES)})" if path.is_file() else "no such data set, file or folder")
    raise NeuralzooError(f"{cfg.data!r}: {why}; valid names are {', '.join(DATASETS)}, or give a path "
                         f"to {PATH_KINDS}")


def _load_digits() -> SourceArrays:
    """scikit-learn's embedded 8x8 digits (1797 images, no download)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]   # pixel values are 0..16
    y = digits.target.astype(np.int64)
    # Fixed protocol shared with the rest of neuralzoo (baselines use the very same call): do not change.
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, stratify=y,
                                                        random_state=0)
    return SourceArrays(
        origin=f"scikit-learn digits ({len(x)} 8x8 images)", scaling="pixels / 16 -> [0, 1]",
        parts={"train": (torch.from_numpy(x_train), y_train, "digits"),
               "test": (torch.from_numpy(x_test), y_test, "digits [test]")},
        class_names=[str(d) for d in range(10)],
        test_rule="fixed stratified 20% split: train_test_split(test_size=0.2, stratify=y, "
                  "random_state=0)")


def encode_labels(labels: list[np.ndarray], source: str) -> tuple[list[np.ndarray], list[str]]:
    """Raw labels of all splits -> int64 indices 0..K-1 and the class names, consistently.

    Integers that already are exactly 0..K-1 keep their values (names "0".."K-1"); any other
    values (e.g. 1..10, -1/1, strings) are mapped to the index of their sorted unique value.
    """
    labels = [np.char.decode(y) if y.dtype.kind == "S" else y for y in labels]
    joined = np.concatenate(labels)
    if joined.dtype.kind in "bf":
        if not np.isfinite(joined).all() or (joined != np.round(joined)).any():
            bad = joined[~np.isfinite(joined) | (joined != np.round(joined))][0]
            raise NeuralzooError(f"{source}: labels must be integers or class names; found {bad!r}")
        labels, joined = [y.astype(np.int64) for y in labels], joined.astype(np.int64)
    if joined.dtype.kind not in "iuU":
        raise NeuralzooError(f"{source}: labels must be integers or class names, got dtype "
                             f"{joined.dtype}")
    values = np.unique(joined)
    names = [str(value) for value in values]
    if joined.dtype.kind in "iu" and values[0] == 0 and values[-1] == len(values) - 1:
        return [y.astype(np.int64) for y in labels], names
    return [np.searchsorted(values, y.astype(joined.dtype)).astype(np.int64) for y in labels], names


def _assemble(cfg: DataConfig, source: SourceArrays, contrast: dict[str, Any] | None = None,
              test_only: bool = False, standardisation: Standardisation | None = None) -> DataSplits:
    parts = dict(source.parts)
    class_names = source.class_names
    labelled = [split for split, part in parts.items() if part[1] is not None]
    if class_names is None and labelled:
        encoded, class_names = encode_labels([parts[s][1] for s in labelled], parts[labelled[0]][2])
        parts.update({s: (parts[s][0], y, parts[s][2]) for s, y in zip(labelled, encoded)})
    data = {split: ArrayData(x, None if y is None else torch.as_tensor(np.asarray(y, np.int64)), name,
                             source.lengths.get(split))
            for split, (x, y, name) in parts.items()}
    train, val, test = data.get("train"), data.get("val"), data.get("test")
    test_rule = source.test_rule
    if test is None and train is not None and source.single_file and cfg.test_fraction > 0:
        train, test, test_rule = hold_out_test(train, cfg.test_fraction, cfg.split_seed, class_names)
        test = replace(test, source=f"{test.source} [held-out test]")
    test_only = test_only and test is not None
    if train is None:   # not read (test_only): an empty part keeps the shapes
        train = ArrayData(test.x[:0], None if test.y is None else test.y[:0],
                          f"{test.source} (train not read)")
    seed, notes = cfg.split_seed, []
    if cfg.limit is not None and cfg.limit < len(train):
        keep, _, how = split_indices(train, seed, train_size=cfg.limit)
        notes.append(f"training part limited to {cfg.limit} of {len(train)} samples ({how}, "
                     f"split_seed {seed})")
        train = train.subset(keep)
    if val is not None:
        notes.append(f"val {len(val)} given by the source")
    elif cfg.val_fraction > 0 and test_only:
        # the test part does not depend on the split here (no binarization draws before it, no
        # constants fitted on the training part): the training part is left whole, and unused
        notes.append(f"val = {cfg.val_fraction:g} of the training samples (split_seed {seed}; not "
                     "drawn here: only the test part is used)")
    elif cfg.val_fraction > 0:
        check_validation_size(train, cfg.val_fraction)
        keep, held, how = split_indices(train, seed, test_size=cfg.val_fraction)
        notes.append(f"val {len(held)} = {cfg.val_fraction:g} of the {len(train)} training samples "
                     f"({how}, split_seed {seed})")
        train, val = train.subset(keep), train.subset(held)
    else:
        notes.append("no validation split (val_fraction 0)")
    if cfg.imbalance is not None and test_only:
        notes.append(f"long-tailed cut of the training part (imbalance {cfg.imbalance:g}) not drawn here")
    elif cfg.imbalance is not None:   # after the split: validation stays balanced
        train, note = long_tail(train, cfg.imbalance, seed, class_names)
        notes.append(note)
    if cfg.train_classes is not None:
        train, val = keep_classes(train, class_names, cfg.train_classes), (
            None if val is None else keep_classes(val, class_names, cfg.train_classes))
        notes.append(f"train/val keep only classes {', '.join(cfg.train_classes)} "
                     f"({len(train)} training samples); test keeps every class")
    draw = None
    if cfg.labels is not None and not test_only:   # before any statistic or model sees the labels
        train, draw = draw_labels(train, cfg.labels, cfg.label_seed, len(class_names or ()))
        notes.append(draw.describe(len(train)))
    test_note = f"test {len(test)} ({test_rule})" if test is not None else "no test split"
    if cfg.contrast == "gcn":
        contrast = contrast or fit_contrast(train.x, train.source)
        train, val, test = (None if part is None else replace(part, x=apply_contrast(part.x, contrast))
                            for part in (train, val, test))
        notes.append(f"global contrast normalisation (L1) and min-max scaling to [0, 1] with "
                     f"[{contrast['low']:.4g}, {contrast['high']:.4g}] from {contrast['fitted_on']}")
    else:
        contrast = None
    if standardisation is None and wanted(cfg.standardise, train.x, other_scaling=(
            cfg.contrast != "none" or cfg.binarize != "none")):
        standardisation = fit_standardise(train.x, train.source)
    if standardisation is not None:
        background = (tuple(-m / s for m, s in zip(standardisation.mean, standardisation.std))
                      if train.x.dim() == 4 else None)   # a raw 0 pixel, per channel
        train, val, test = (None if part is None else replace(
            part, x=apply_standardise(part.x, standardisation), background=background)
            for part in (train, val, test))
        notes.append(describe(standardisation))
    present = [part for part in (train, val, test) if part is not None and len(part)]   # test_only: no train
    value_range = (0.0, 1.0) if (source.scaled_to_unit or contrast) and not standardisation else (
        min(float(p.x.min()) for p in present), max(float(p.x.max()) for p in present))
    if cfg.binarize != "none":
        if value_range[0] < 0 or value_range[1] > 1:
            raise NeuralzooError(f"binarize: {cfg.data!r} has values in [{value_range[0]:g}, "
                                 f"{value_range[1]:g}]; Bernoulli draws need values in [0, 1]")
        train, val, test = _binarize(cfg, train, val, test)
        notes.append("binarized: " + ("a fresh Bernoulli draw per training batch, val/test drawn "
                                      f"once (binarize_seed {cfg.binarize_seed})" if cfg.binarize ==
                                      "dynamic" else f"every split drawn once (binarize_seed "
                                                     f"{cfg.binarize_seed})"))
    trained_on = "training part not read (only the test part is used)" if "train" not in parts else (
        f"train {len(train)}")
    description = (f"{source.origin}; {trained_on}; {'; '.join(notes)}; {test_note}; "
                   f"{source.scaling}; sample shape {tuple(train.x.shape[1:])}")
    info = DataInfo(name=cfg.data, input_shape=tuple(train.x.shape[1:]),
                    num_classes=None if class_names is None else len(class_names),
                    class_names=class_names, value_range=value_range, description=description,
                    contrast=contrast, standardise=standardisation, label_draw=draw,
                    class_counts=None if test_only else class_counts(
                        train, None if class_names is None else len(class_names)))
    return DataSplits(train=train, val=val, test=test, info=info)


def _binarize(cfg: DataConfig, *parts: ArrayData | None) -> list[ArrayData | None]:
    """One fixed Bernoulli draw per split (seeded); the training part stays continuous under
    ``dynamic`` and draws anew for every batch (ArrayData.binarize)."""
    generator = torch.Generator().manual_seed(cfg.binarize_seed)
    out: list[ArrayData | None] = []
    for i, part in enumerate(parts):
        if part is None:
            out.append(None)
        elif i == 0 and cfg.binarize == "dynamic":
            out.append(replace(part, binarize=True))
        else:
            out.append(replace(part, x=torch.bernoulli(part.x, generator=generator)))
    return out
