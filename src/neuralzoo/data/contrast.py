"""Global contrast normalisation (GCN) with min-max scaling, the preprocessing of Ruff et al. 2018
(Deep SVDD) for one-class MNIST / CIFAR-10.

Each sample, all its values together, becomes ``(x - mean(x)) / mean(|x - mean(x)|)``: brightness and
contrast differences between samples go away (the L1 form Ruff et al. use; Goodfellow et al. 2013 use
the standard deviation). Min-max scaling by the smallest and largest value found in the *training*
part then maps the training data onto [0, 1], so pixel models (Bernoulli decoders, BCE losses,
sigmoid outputs) keep working. Every other split and every input given to a trained model is scaled
with the same two numbers, which are saved with the model (``DataInfo.contrast``), and clipped to
[0, 1].
"""

from __future__ import annotations

from typing import Any

import torch

EPSILON = 1e-8   # a constant sample has no contrast: it maps to all zeros, not 0 / 0


def normalise(x: torch.Tensor) -> torch.Tensor:
    """Per-sample GCN (L1 scale) of ``x`` (N, ...): zero mean, unit mean absolute deviation."""
    flat = x.flatten(1).float()
    centred = flat - flat.mean(1, keepdim=True)
    scale = centred.abs().mean(1, keepdim=True).clamp_min(EPSILON)
    return (centred / scale).view_as(x)


def fit_contrast(train_x: torch.Tensor, source: str) -> dict[str, Any]:
    """The scaling constants from the training samples (GCN, then their overall min and max)."""
    values = normalise(train_x)
    return {"method": "gcn", "low": float(values.min()), "high": float(values.max()),
            "fitted_on": f"{len(train_x)} training samples of {source}"}


def apply_contrast(x: torch.Tensor, spec: dict[str, Any]) -> torch.Tensor:
    """GCN and min-max scaling of ``x`` with fitted constants; values clipped to [0, 1]."""
    low, high = spec["low"], spec["high"]
    return ((normalise(x) - low) / max(high - low, EPSILON)).clamp_(0.0, 1.0)
