"""Per-feature standardisation of tabular inputs (CSV columns, ``.npz`` feature vectors), and
per-channel standardisation of images on request.

A table's columns arrive on their own scales (a wine's proline near 1,000, its hue near 1); a
network trained by gradient descent on them sees a badly conditioned problem, and its first layer's
initialisation (scaled for unit-variance inputs, He et al. 2015) is wrong by orders of magnitude.
Each feature becomes ``(x - mean) / std`` with the mean and standard deviation of the *training*
part only (LeCun et al. 1998, "Efficient BackProp", section 4.3; scikit-learn's ``StandardScaler``),
so nothing about the validation or test parts leaks into training. The constants are kept in
``DataInfo.standardise``, which every checkpoint holds, and every input given to a trained model
(evaluation data, ``predict``, the server, the estimators) is scaled with them; outputs in data
space (reconstructions, samples) are mapped back with :func:`invert_standardise`.

``auto`` (the default) standardises feature vectors (samples of shape ``(F,)``) unless every
training value already lies in [0, 1] (pixels or probabilities, which Bernoulli likelihoods and
binarization need as they are); images, sequences, time series (scaled in ``series.py``) and text
never. ``on`` also takes images (samples ``(C, H, W)``): one mean and standard deviation per
channel over every training pixel, torchvision's ``Normalize`` with fitted constants (MNIST: 0.1307,
0.3081). Centred inputs matter where the first layer's gradient is all a step has, as in DP-SGD
(Tramer & Boneh 2021 and Papernot et al. 2021 train on standardised MNIST).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..errors import NeuralzooError


@dataclass
class Standardisation:
    """Per-feature (vectors) or per-channel (images) constants fitted on the training part; a
    feature that is constant there has ``std`` 1 (it becomes 0 where it keeps the training value,
    not 0 / 0)."""

    mean: list[float]
    std: list[float]
    fitted_on: str = ""

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Standardisation":
        return cls(mean=[float(v) for v in d["mean"]], std=[float(v) for v in d["std"]],
                   fitted_on=d.get("fitted_on", ""))


def wanted(choice: str, train_x: torch.Tensor, *, other_scaling: bool) -> bool:
    """Whether ``choice`` (auto, on, off) standardises data whose training samples are ``train_x``.

    ``other_scaling``: the data is already scaled by another option (contrast normalisation or
    binarization), which ``on`` cannot be combined with and ``auto`` leaves alone."""
    if choice == "off":
        return False
    vectors = train_x.dim() == 2 and train_x.is_floating_point()
    if choice == "on":
        if not (vectors or (train_x.dim() == 4 and train_x.is_floating_point())):
            raise NeuralzooError(f"standardise: 'on' applies to feature vectors (samples of shape (F,)) "
                                 f"and images (C, H, W), not to samples of shape {tuple(train_x.shape[1:])}")
        if other_scaling:
            raise NeuralzooError("standardise: 'on' cannot be combined with contrast or binarize "
                                 "(both need values in [0, 1]); use standardise off or auto")
        return True
    if not vectors or other_scaling or len(train_x) == 0:
        return False
    return bool(train_x.min() < 0 or train_x.max() > 1)


def fit_standardise(train_x: torch.Tensor, source: str) -> Standardisation:
    """Mean and (population) standard deviation of each feature (vectors) or channel (images, over
    every pixel) of the training samples, in float64 so that large offsets (years, prices) and
    sums over millions of pixels lose no precision."""
    values, over = train_x.double(), (0, 2, 3) if train_x.dim() == 4 else 0   # images: N, H and W
    mean = values.mean(over)
    std = values.std(over, correction=0)
    std = torch.where(std > 1e-12 * mean.abs().clamp_min(1.0), std, torch.ones_like(std))
    where = f"{len(train_x)} training samples of {source}"
    return Standardisation(mean=mean.tolist(), std=std.tolist(), fitted_on=(
        f"every pixel of {where}, per channel" if train_x.dim() == 4 else where))


def _constants(spec: Standardisation, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) shaped to broadcast over ``x``: (F,) for vectors (B, F), (1, C, 1, 1) for
    images (B, C, H, W); float64 for vectors (large offsets), float32 for pixels."""
    mean, std = torch.tensor(spec.mean, dtype=torch.float64), torch.tensor(spec.std, dtype=torch.float64)
    if x.dim() == 4 and x.shape[1] == len(mean):
        return mean.float().view(1, -1, 1, 1), std.float().view(1, -1, 1, 1)
    if x.dim() != 2 or x.shape[1] != len(mean):
        raise NeuralzooError(f"samples have shape {tuple(x.shape[1:])}; the model's standardisation "
                             f"has {len(mean)} features or channels")
    return mean, std


def apply_standardise(x: torch.Tensor, spec: Standardisation | None) -> torch.Tensor:
    """``(x - mean) / std`` per feature (or per channel of images) with fitted constants (``spec``
    None: ``x`` unchanged)."""
    if spec is None:
        return x
    mean, std = _constants(spec, x)
    return ((x.to(mean.dtype) - mean) / std).to(torch.float32)


def invert_standardise(x: torch.Tensor, spec: Standardisation | None) -> torch.Tensor:
    """Standardised values back in the data's units: ``x * std + mean`` (``spec`` None: as is)."""
    if spec is None:
        return x
    flat = x if x.dim() == 4 else x.reshape(-1, x.shape[-1])
    mean, std = _constants(spec, flat)
    return (flat.to(mean.dtype) * std + mean).to(x.dtype if x.is_floating_point() else torch.float32).reshape(
        x.shape)


def describe(spec: Standardisation) -> str:
    """The protocol's words for the standardisation."""
    return (f"inputs standardised (x - mean) / std with {len(spec.mean)} means and standard "
            f"deviations from {spec.fitted_on} (standardise)")
