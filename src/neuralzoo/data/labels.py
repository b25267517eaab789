"""``--labels N``: the semi-supervised protocol's label draw (Oliver et al. 2018, "Realistic
evaluation of deep semi-supervised learning algorithms"; Kingma et al. 2014 and Salimans et al. 2016
draw their 100 MNIST labels the same way: class-balanced).

After the train/validation split (and ``limit`` / ``train_classes``), N training samples keep their
labels, N // K per class and one more for ``N % K`` classes picked by the seeded draw, each class's
being the first of its samples met on one seeded walk (a random permutation) through the part; every other
training sample gets the label -1 before anything else (a model, a baseline, the class weights)
sees the part. Validation and test keep every label: they score the classifier. The draw is a pure
function of (the training part, N, ``label_seed``), and ``LabelDraw`` records it in ``DataInfo``
(so in every checkpoint): the seed, N, the count per class, the sha256 of the drawn indices and, up
to ``LISTED`` of them, the indices themselves (positions in the training part).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np
import torch

from ..errors import NeuralzooError
from .base import ArrayData, LabelDraw

LISTED = 1000   # above this many labels only the indices' sha256 is recorded
UNLABELLED = -1   # the label of a training sample whose label --labels dropped


def indices_sha256(indices: torch.Tensor) -> str:
    return hashlib.sha256(np.ascontiguousarray(indices.numpy().astype("<i8")).tobytes()).hexdigest()


def draw_walk(size: int, classes: int, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The draw's randomness: which of the ``classes`` present get one of the ``count % classes``
    remaining labels, and the order of the walk through the ``size`` training samples in which each
    class keeps the first samples of it met. Which samples are drawn then depends on no label met
    after the last drawn one, so labels the walk never reached can change without changing the draw
    (tests/test_semi_supervised.py shuffles them)."""
    generator = torch.Generator().manual_seed(seed)
    extra = torch.randperm(classes, generator=generator)[:count % classes]
    return extra, torch.randperm(size, generator=generator)


def draw_labels(train: ArrayData, count: int, seed: int, num_classes: int) -> tuple[ArrayData, LabelDraw]:
    """``train`` with all but ``count`` class-balanced labels set to -1, and the record of the draw."""
    if train.y is None:
        raise NeuralzooError(f"labels: {train.source or 'the data'} has no labels to keep")
    if count > len(train):
        raise NeuralzooError(f"labels: {count} is more than the {len(train)} samples of the training split")
    y = train.y
    classes = torch.unique(y[y >= 0])   # present in the training part (train_classes may drop some)
    if count < len(classes):
        raise NeuralzooError(f"labels: {count} is fewer than the {len(classes)} classes of the training "
                             "split; a class-balanced draw needs at least one label per class")
    extra, order = draw_walk(len(train), len(classes), count, seed)
    quota = torch.zeros(num_classes, dtype=torch.int64)
    quota[classes] = count // len(classes)
    quota[classes[extra]] += 1
    walked = y[order]
    rank = torch.zeros(len(order), dtype=torch.int64)   # how many of its class the walk met before
    for c in classes.tolist():
        met = walked == c
        if int(met.sum()) < quota[c]:
            raise NeuralzooError(f"labels: class index {c} has {int(met.sum())} training samples, fewer "
                                 f"than its share of {int(quota[c])} of the {count} labels")
        rank[met] = torch.arange(int(met.sum()))
    kept = (walked >= 0) & (rank < quota[walked.clamp(min=0)])
    per_class = quota.tolist()
    index = torch.sort(order[kept]).values
    masked = torch.full_like(y, UNLABELLED)
    masked[index] = y[index]
    draw = LabelDraw(seed=seed, count=count, per_class=per_class, sha256=indices_sha256(index),
                     indices=index.tolist() if count <= LISTED else None)
    return replace(train, y=masked), draw


def has_unlabelled(train: ArrayData) -> bool:
    """Whether ``--labels`` left class labels of -1 in ``train`` (never true of forecasting targets)."""
    y = train.y
    return y is not None and y.dtype == torch.int64 and y.dim() == 1 and bool((y < 0).any())


def labelled_part(train: ArrayData) -> ArrayData:
    """The samples of ``train`` that carry a label (all of them without ``--labels``)."""
    if not has_unlabelled(train):
        return train
    return train.subset((train.y >= 0).nonzero().flatten())


def without_labels(train: ArrayData) -> ArrayData:
    """``train``'s inputs alone: what a semi-supervised model's unlabelled stream is gathered from,
    so no step can read a label of the unlabelled part."""
    return replace(train, y=None)
