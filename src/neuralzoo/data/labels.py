"""``--labels N``: the semi-supervised protocol's label draw (Oliver et al. 2018, "Realistic
evaluation of deep semi-supervised learning algorithms"; Kingma et al. 2014 and Salimans et al. 2016
draw their 100 MNIST labels the same way: class-balanced).

After the train/validation split (and ``limit`` / ``train_classes``), N training samples keep their
labels, N // K per class and one more for ``N % K`` classes picked by the seeded draw; every other
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
    generator = torch.Generator().manual_seed(seed)
    quota = torch.full((len(classes),), count // len(classes), dtype=torch.int64)
    quota[torch.randperm(len(classes), generator=generator)[:count % len(classes)]] += 1
    kept, per_class = [], [0] * num_classes
    for c, q in zip(classes.tolist(), quota.tolist()):
        members = (y == c).nonzero().flatten()
        if q > len(members):
            raise NeuralzooError(f"labels: class index {c} has {len(members)} training samples, fewer "
                                 f"than its share of {q} of the {count} labels")
        kept.append(members[torch.randperm(len(members), generator=generator)[:q]])
        per_class[c] = q
    index = torch.sort(torch.cat(kept)).values
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
