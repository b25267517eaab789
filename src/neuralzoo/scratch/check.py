"""Finite-difference gradient checking: the way to test any hand-written backward pass.

For a scalar function L of an array p, the central difference
    dL/dp_k ~ (L(p + eps e_k) - L(p - eps e_k)) / (2 eps)
has error O(eps^2); in float64 eps = 1e-6 typically agrees with an analytic gradient to ~1e-8
relative. (A one-sided difference has O(eps) error; float32 is too coarse for checking.)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .layers import Array


def numerical_gradient(function: Callable[[], float], array: Array, epsilon: float = 1e-6) -> Array:
    """dL/d(array) by central differences; ``function`` must read ``array`` (perturbed in place)."""
    grad = np.zeros_like(array, dtype=np.float64)
    flat, grad_flat = array.reshape(-1), grad.reshape(-1)    # views: writes reach ``array``
    if not np.shares_memory(flat, array):
        raise ValueError("array must be contiguous so it can be perturbed in place")
    for k in range(flat.size):
        original = flat[k]
        flat[k] = original + epsilon
        plus = function()
        flat[k] = original - epsilon
        minus = function()
        flat[k] = original
        grad_flat[k] = (plus - minus) / (2.0 * epsilon)
    return grad


def relative_error(a: Array, b: Array) -> float:
    """max |a - b| / max(|a|, |b|, tiny): scale-free, so it is meaningful for tiny gradients too."""
    scale = max(np.abs(a).max(initial=0.0), np.abs(b).max(initial=0.0), 1e-300)
    return float(np.abs(a - b).max(initial=0.0) / scale)
