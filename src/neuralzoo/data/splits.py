"""Splitting one part of a data set in two: the held-out test part of a single file, the training
samples kept by ``limit``, the validation part, the classes kept by ``train_classes``, and the
long-tailed cut of ``imbalance``.

Every draw is scikit-learn's ``train_test_split`` with a fixed seed (``split_seed``), stratified
when the samples are labelled, so a run and its evaluation (and runs with other training seeds)
see the same parts; both halves keep the file's order.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import NeuralzooError
from .base import ArrayData


def split_indices(data: ArrayData, seed: int,
                  **sizes: float | int) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Deterministic (stratified when labelled, else or when a class is too small, random) split of
    ``data``'s indices; both halves sorted."""
    from sklearn.model_selection import train_test_split  # here: sklearn costs ~1 s of CLI start-up

    index, labels = np.arange(len(data)), data.y
    try:
        try:
            first, second = train_test_split(index, random_state=seed, **sizes,
                                              stratify=None if labels is None else labels.numpy())
            how = "random" if labels is None else "stratified"
        except ValueError:   # a class with < 2 samples, or fewer held-out samples than classes
            first, second = train_test_split(index, random_state=seed, **sizes)
            how = "random (too few samples per class to stratify)"
    except ValueError as exc:
        raise NeuralzooError(f"{data.source}: cannot split {len(data)} training samples "
                             f"(limit / val_fraction): {exc}") from None
    return torch.from_numpy(np.sort(first)), torch.from_numpy(np.sort(second)), how


def check_validation_size(train: ArrayData, fraction: float) -> None:
    """A validation part must hold a sample of every class, or it chooses the checkpoint (and stops
    the run) on a different problem: too few training samples for that is an error saying what is
    needed, not a silent validation on one or two samples."""
    if train.y is None or not len(train):
        return
    classes = int((torch.bincount(train.y) > 0).sum())
    held = math.ceil(fraction * len(train))   # train_test_split's rounding of a float test_size
    if held < classes:
        need = math.ceil(classes / fraction)
        raise NeuralzooError(f"{train.source}: val_fraction {fraction:g} of {len(train)} training samples "
                             f"is {held}, fewer than the {classes} classes: a validation part needs a "
                             f"sample of each, so at least {need} training samples, a larger "
                             f"--val-fraction, or --val-fraction 0 (no validation)")


def hold_out_test(data: ArrayData, fraction: float, seed: int,
                  class_names: list[str] | None) -> tuple[ArrayData, ArrayData, str]:
    """A single file without a test part: ``fraction`` of its samples held out for testing,
    stratified by class (every class in both parts, in its proportion), drawn with ``seed``.
    Too few samples for that is an error saying what is needed, never a silent unstratified draw:
    a test part missing a class would score the model on a different problem."""
    from sklearn.model_selection import train_test_split

    n = len(data)
    held = math.ceil(fraction * n)   # train_test_split's rounding of a float test_size
    escape = "; or set test_fraction 0 (--test-fraction 0) to keep no test part"
    if data.y is not None:
        counts = torch.bincount(data.y, minlength=len(class_names or []))
        present = counts[counts > 0]
        classes = len(present)
        if present.min() < 2:
            index = int(torch.nonzero((counts > 0) & (counts < 2))[0, 0])
            name = class_names[index] if class_names else str(index)
            raise NeuralzooError(f"{data.source}: cannot hold out a stratified test part "
                                 f"(test_fraction {fraction:g}): class {name!r} has 1 sample; each "
                                 f"class needs at least 2{escape}")
        if held < classes or n - held < classes:
            need = math.ceil(classes / min(fraction, 1 - fraction))
            raise NeuralzooError(f"{data.source}: cannot hold out a stratified test part "
                                 f"(test_fraction {fraction:g}) from {n} samples of {classes} classes: "
                                 f"each part needs a sample of every class, so at least {need} "
                                 f"samples{escape}")
    elif n - held < 1:
        raise NeuralzooError(f"{data.source}: cannot hold out a test part (test_fraction "
                             f"{fraction:g}) from {n} sample(s): at least 2 are needed{escape}")
    labels = None if data.y is None else data.y.numpy()
    keep, test = train_test_split(np.arange(n), test_size=fraction, random_state=seed, stratify=labels)
    keep, test = torch.from_numpy(np.sort(keep)), torch.from_numpy(np.sort(test))
    how = "random" if data.y is None else "stratified"
    rule = (f"held out from the file: {fraction:g} of its {n} samples, {how}, split_seed {seed} "
            f"(test_fraction)")
    return data.subset(keep), data.subset(test), rule


def keep_classes(part: ArrayData, class_names: list[str] | None, keep: tuple[str, ...]) -> ArrayData:
    """The samples of ``part`` whose class is one of ``keep`` (names)."""
    if part.y is None or class_names is None:
        raise NeuralzooError(f"{part.source}: train_classes needs labelled data")
    unknown = [name for name in keep if name not in class_names]
    if unknown:
        raise NeuralzooError(f"train_classes: no class {', '.join(unknown)} in {part.source}; "
                             f"classes: {', '.join(class_names)}")
    wanted = torch.tensor([class_names.index(name) for name in keep])
    return part.subset(torch.isin(part.y, wanted).nonzero().flatten())


def long_tail(part: ArrayData, ratio: float, seed: int,
              class_names: list[str] | None) -> tuple[ArrayData, str]:
    """The training part cut to an exponential long-tailed profile, as Cao et al. 2019 built
    CIFAR-10-LT (``int(n_max * (1/ratio) ** (c / (K - 1)))`` samples of class c, in class-index
    order, n_max the largest class count): a seeded random draw within each class (``seed``), the
    kept samples in the file's order. A class the cut leaves empty is an error, not a silently
    missing class. Returns the cut part and the protocol note (the counts per class)."""
    if part.y is None or class_names is None:
        raise NeuralzooError(f"{part.source}: imbalance needs labelled data")
    classes = len(class_names)
    if classes < 2:
        raise NeuralzooError(f"{part.source}: imbalance needs at least two classes, got {classes}")
    labelled = part.y >= 0   # unlabelled samples (label -1) are not part of any class's count
    counts = torch.bincount(part.y[labelled], minlength=classes)
    exponents = torch.arange(classes, dtype=torch.float64) / (classes - 1)
    wanted = (float(counts.max()) * ratio ** -exponents).floor().long().clamp(max=counts)
    empty = torch.nonzero(wanted == 0).flatten()
    if len(empty):
        name = class_names[int(empty[0])]
        raise NeuralzooError(f"{part.source}: imbalance {ratio:g} leaves class {name!r} with no training "
                             f"example ({int(counts[empty[0]])} before the cut, n_max {int(counts.max())}); "
                             "use a smaller ratio or more data")
    # rank of each sample inside its class in a seeded random order: keep ranks below the class's count
    order = torch.randperm(len(part), generator=torch.Generator().manual_seed(seed))
    shuffled = part.y[order]
    by_class = torch.sort(shuffled, stable=True).indices
    sorted_labels = shuffled[by_class]
    first = torch.searchsorted(sorted_labels, sorted_labels, side="left")
    rank = torch.arange(len(part)) - first
    keep = (sorted_labels < 0) | (rank < wanted[sorted_labels.clamp(min=0)])
    index = torch.sort(order[by_class[keep]]).values
    note = (f"training part cut to a long tail (imbalance {ratio:g}, exponential profile as Cao et al. "
            f"2019, split_seed {seed}): {int(wanted.sum())} of {int(labelled.sum())} samples, per class "
            f"{', '.join(str(int(n)) for n in wanted)}")
    return part.subset(index), note


def class_counts(part: ArrayData, classes: int | None) -> list[int] | None:
    """Samples per class of a labelled part (unlabelled samples, label -1, not counted)."""
    if part.y is None or not classes or part.y.is_floating_point() or not len(part):
        return None
    return torch.bincount(part.y[part.y >= 0], minlength=classes).tolist()
