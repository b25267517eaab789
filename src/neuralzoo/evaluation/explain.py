"""Attributions of a classifier's decision to its input, with Captum (``pip install
'neuralzoo[explain]'``): which pixels (or time steps) the predicted class's logit depends on.

Methods (Captum's implementations; the target is the logit of the class, not its probability, so a
map is not flattened by the softmax's saturation):
- ``saliency``: |d logit / d x| (Simonyan et al. 2014);
- ``integrated-gradients``: (x - x') * the path integral of the gradient from a baseline x' (all
  zeros: a blank input in the model's input space) to x, Gauss-Legendre quadrature with ``steps``
  points (Sundararajan et al. 2017). Completeness: the map sums to logit(x) - logit(x'), and the gap
  is returned as ``convergence_delta``;
- ``grad-cam``: the last convolution's feature maps weighted by their mean gradient, ReLU applied,
  upsampled bilinearly to the input (Selvaraju et al. 2017); convolutional models only;
- ``occlusion``: the logit's drop when a patch (images: about a seventh of the side; sequences: one
  time step) is set to zero, averaged over the patches covering each input element (Zeiler & Fergus
  2014).
Recurrent models get per-time-step maps: the attributions of a step's features summed (saliency:
their absolute values).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..errors import NeuralzooError

if TYPE_CHECKING:
    from ..models.base import Model

METHODS = ("saliency", "integrated-gradients", "grad-cam", "occlusion")


def require_captum() -> None:
    try:
        import captum.attr  # noqa: F401
    except ImportError:
        raise NeuralzooError("explaining a model needs Captum: pip install 'neuralzoo[explain]'") from None


@dataclass
class Explanation:
    """Maps per method (N, *input_shape) for images and vectors, (N, steps) for sequences."""

    maps: dict[str, torch.Tensor]
    probabilities: torch.Tensor           # (N, K)
    targets: torch.Tensor                 # (N,) the explained class of each input
    convergence_delta: torch.Tensor | None = None   # (N,) integrated gradients' completeness gap
    notes: dict[str, str] = field(default_factory=dict)


def last_convolution(model: nn.Module) -> nn.Conv2d | None:
    convolutions = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    return convolutions[-1] if convolutions else None


def is_sequence(model: "Model") -> bool:
    return len(model.info.input_shape) == 2 and not model.info.is_image


def explain(model: "Model", x: torch.Tensor, methods: tuple[str, ...] = METHODS,
            target: int | None = None, steps: int = 64) -> Explanation:
    """Attribution maps of ``x`` (N, *input_shape) for the class ``target`` (default: each input's
    predicted class) by each of ``methods``."""
    require_captum()
    from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, Occlusion, Saliency

    if not hasattr(model, "predict_proba"):
        raise NeuralzooError(f"model {model.name!r} does not classify; attributions explain classifiers "
                             "(latent models: neuralzoo explain draws latent traversals)")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise NeuralzooError(f"method {unknown[0]!r}: unknown; methods: {', '.join(METHODS)}")
    if target is not None and not 0 <= target < model.num_classes:
        raise NeuralzooError(f"target {target} outside the classes 0..{model.num_classes - 1}")
    model = model.float().eval()
    x = x.float().to(model.device).requires_grad_()   # what Captum would set, without its warning
    probabilities = model.predict_proba(x)
    targets = probabilities.argmax(1) if target is None else torch.full((len(x),), target)
    targets = targets.to(model.device)
    sequence = is_sequence(model)

    def forward(inputs: torch.Tensor) -> torch.Tensor:
        return model(inputs).float()   # logits (N, K)

    maps: dict[str, torch.Tensor] = {}
    delta = None
    # cuDNN's recurrent kernels refuse backward in eval mode; the math is the same without them
    with torch.backends.cudnn.flags(enabled=False):
        for method in methods:
            if method == "saliency":
                found = Saliency(forward).attribute(x, target=targets, abs=True)
            elif method == "integrated-gradients":
                found, delta = IntegratedGradients(forward).attribute(
                    x, baselines=torch.zeros_like(x), target=targets, n_steps=steps,
                    method="gausslegendre", internal_batch_size=max(steps, 64),
                    return_convergence_delta=True)
            elif method == "grad-cam":
                layer = last_convolution(model)
                if layer is None:
                    raise NeuralzooError(f"grad-cam needs a convolutional model; {model.name!r} has no "
                                         "convolution (use saliency, integrated-gradients or occlusion)")
                cam = LayerGradCam(forward, layer).attribute(x, target=targets, relu_attributions=True)
                found = LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), "bilinear")
                found = found.expand_as(x) if x.dim() == 4 else found
            else:
                window, stride = occlusion_window(model, x)
                found = Occlusion(forward).attribute(x, sliding_window_shapes=window, strides=stride,
                                                     target=targets, baselines=0)
            found = found.detach().float().cpu()
            if sequence:   # (N, steps, features) -> one value per time step
                found = found.abs().sum(-1) if method == "saliency" else found.sum(-1)
            maps[method] = found
    notes = {"baseline": "zeros in the model's input space", "target": "the class's logit",
             "integrated-gradients": f"{steps} Gauss-Legendre points"}
    return Explanation(maps, probabilities.cpu(), targets.cpu(),
                       None if delta is None else delta.detach().float().cpu(), notes)


def occlusion_window(model: "Model", x: torch.Tensor) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Occlusion's patch and stride: images a square about a seventh of the side (4 of 28, 2 of 8)
    across all channels at half-patch strides; sequences one time step; vectors one feature."""
    shape = tuple(x.shape[1:])
    if len(shape) == 3:
        side = max(2, round(shape[-1] / 7))
        return (shape[0], side, side), (shape[0], max(1, side // 2), max(1, side // 2))
    if len(shape) == 2:
        return (1, shape[1]), (1, shape[1])
    return (1,), (1,)
