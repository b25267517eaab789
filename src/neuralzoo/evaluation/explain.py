"""Attributions of a classifier's decision to its input, with Captum (``pip install
'neuralzoo[explain]'``): which pixels (or time steps) the predicted class's logit depends on.

Methods (Captum's implementations; the target is the logit of the class, not its probability, so a
map is not flattened by the softmax's saturation):
- ``saliency``: |d logit / d x| (Simonyan et al. 2014);
- ``integrated-gradients``: (x - x') * the path integral of the gradient from a baseline x' (all
  zeros: a blank input in the model's input space) to x, Gauss-Legendre quadrature with ``steps``
  points (Sundararajan et al. 2017). Completeness: the map sums to logit(x) - logit(x'), and the gap
  is returned as ``convergence_delta``;
- ``grad-cam``: the class-activation map of the feature maps the classifier's head reads (the last
  convolution's, rectified and pooled), in the element-wise form of HiResCAM (Draelos & Carin 2020):
  sum over channels of gradient x activation at each position, ReLU applied, each cell drawn at its
  receptive field's centre and interpolated bilinearly between them; convolutional models only.
  Selvaraju et al. 2017's Grad-CAM weighs each channel by its gradient averaged over positions,
  which is the same map when the head pools globally (CAM's setting) but not under a Flatten-Dense
  head, which weighs every position separately: there the average mixes the deciding positions'
  gradients with the rest's. On 16x16 images decided by one corner it left 15-20 of 20 maps all
  zero on 4 of 10 trained CNNs (float32 and bf16 alike), and 84 of 500 MNIST digits' maps zero,
  where HiResCAM's maps had none and 80-91% of their mass on the cells that see the corner
  (docs/models.md). A map that is still all zero (no positive evidence for the class at that
  layer) is flagged in ``degenerate``;
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
    # (N,) per method: True where the map is all zero or not finite (it shows no evidence at all)
    degenerate: dict[str, torch.Tensor] = field(default_factory=dict)


def last_convolution(model: nn.Module) -> nn.Conv2d | None:
    convolutions = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    return convolutions[-1] if convolutions else None


def feature_maps(model: nn.Module) -> nn.Module | None:
    """The module whose output Grad-CAM reads: the model's convolutional feature extractor
    (``features``, ending with the last convolution's activation and pooling: what the head sees)
    where it has one, else the last convolution."""
    layer = last_convolution(model)
    features = getattr(model, "features", None)
    if layer is not None and isinstance(features, nn.Module) and any(m is layer for m in features.modules()):
        return features
    return layer


def is_sequence(model: "Model") -> bool:
    return len(model.info.input_shape) == 2 and not model.info.is_image


def explain(model: "Model", x: torch.Tensor, methods: tuple[str, ...] = METHODS,
            target: int | None = None, steps: int = 64) -> Explanation:
    """Attribution maps of ``x`` (N, *input_shape) for the class ``target`` (default: each input's
    predicted class) by each of ``methods``."""
    require_captum()
    from captum.attr import IntegratedGradients, LayerGradientXActivation, Occlusion, Saliency

    if not hasattr(model, "predict_proba"):
        raise NeuralzooError(f"model {model.name!r} does not classify; attributions explain classifiers "
                             "(latent models: neuralzoo explain draws latent traversals)")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise NeuralzooError(f"method {unknown[0]!r}: unknown; methods: {', '.join(METHODS)}")
    if target is not None and not 0 <= target < model.num_classes:
        raise NeuralzooError(f"target {target} outside the classes 0..{model.num_classes - 1}")
    x = model.as_input(x)   # NumPy or torch, any real dtype, with or without the channel axis
    model = model.float().eval()
    # what Captum would set, without its warning (detached: the caller's tensor keeps its flag)
    x = x.detach().to(model.device).requires_grad_()
    probabilities = model.predict_proba(x)
    targets = probabilities.argmax(1) if target is None else torch.full((len(x),), target)
    targets = targets.to(model.device)
    sequence = is_sequence(model)

    def forward(inputs: torch.Tensor) -> torch.Tensor:
        return model(inputs).float()   # logits (N, K)

    maps: dict[str, torch.Tensor] = {}
    notes = {"baseline": "zeros in the model's input space", "target": "the class's logit",
             "integrated-gradients": f"{steps} Gauss-Legendre points"}
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
                layer = feature_maps(model)
                if layer is None:
                    raise NeuralzooError(f"grad-cam needs a convolutional model; {model.name!r} has no "
                                         "convolution (use saliency, integrated-gradients or occlusion)")
                products = LayerGradientXActivation(forward, layer).attribute(x, target=targets)
                cam = products.sum(1, keepdim=True).clamp(min=0)   # (N, 1, h, w)
                notes["grad-cam"] = (f"HiResCAM on the {cam.shape[-2]}x{cam.shape[-1]} cells the head "
                                     "reads (its resolution)")
                found = place_cells(cam, layer, tuple(x.shape[-2:])).expand_as(x)
            else:
                window, stride = occlusion_window(model, x)
                found = Occlusion(forward).attribute(x, sliding_window_shapes=window, strides=stride,
                                                     target=targets, baselines=0)
            found = found.detach().float().cpu()
            if sequence:   # (N, steps, features) -> one value per time step
                found = found.abs().sum(-1) if method == "saliency" else found.sum(-1)
            maps[method] = found
    degenerate = {method: ~(value.flatten(1).isfinite().all(1) & (value.flatten(1).abs().amax(1) > 0))
                  for method, value in maps.items()}
    for method, flags in degenerate.items():
        if flags.any():
            where = " in the maps the head reads" if method == "grad-cam" else ""
            notes[f"degenerate {method}"] = (f"all zero for {int(flags.sum())} of {len(flags)} inputs: "
                                             f"no evidence for the class{where}")
    return Explanation(maps, probabilities.cpu(), targets.cpu(),
                       None if delta is None else delta.detach().float().cpu(), notes, degenerate)


def place_cells(cam: torch.Tensor, layer: nn.Module, size: tuple[int, int]) -> torch.Tensor:
    """``cam`` (N, 1, h, w) at the input's ``size``: each cell at the centre of its receptive field,
    bilinear between centres, the outermost cells' values held to the border. A stack of 'valid'
    convolutions has its centres inset (the classic CNN on 28x28: pixels 8.5, 12.5, 16.5), so
    stretching the 3x3 map edge to edge (centres 4.2, 13.5, 22.8) would draw the outer cells 4
    pixels further out than what they see. Layers of unknown geometry are stretched edge to edge."""
    geometry = cell_geometry(layer)
    if geometry is None:
        return torch.nn.functional.interpolate(cam, size, mode="bilinear", align_corners=False)
    axes = []
    for (offset, stride), cells, pixels in zip(geometry, cam.shape[-2:], size):
        position = (torch.arange(pixels, dtype=torch.float32) - offset) / stride   # in cells
        axes.append(position * 2 / (cells - 1) - 1 if cells > 1 else torch.zeros(pixels))
    rows, columns = torch.meshgrid(*axes, indexing="ij")
    grid = torch.stack([columns, rows], -1).expand(len(cam), -1, -1, -1).to(cam)   # (N, H, W, 2): x, y
    return torch.nn.functional.grid_sample(cam, grid, mode="bilinear", padding_mode="border",
                                           align_corners=True)


ELEMENTWISE = ("torch.nn.modules.activation", "torch.nn.modules.batchnorm", "torch.nn.modules.dropout")


def cell_geometry(layer: nn.Module) -> list[tuple[float, float]] | None:
    """Per axis (offset, stride): the output cell j of ``layer`` (a convolution, or a Sequential of
    convolutions, pooling and element-wise modules fed by the input) is centred on input pixel
    offset + stride * j; None for anything else."""
    modules = list(layer) if isinstance(layer, nn.Sequential) else [layer]
    geometry = [(0.0, 1.0), (0.0, 1.0)]
    for module in modules:
        if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            pair = (lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v, v))
            kernel, stride = pair(module.kernel_size), pair(module.stride or module.kernel_size)
            dilation = pair(getattr(module, "dilation", 1))
            padding = module.padding
            if padding == "valid":
                padding = (0, 0)
            elif padding == "same":   # PyTorch pads (total // 2) before, the rest after
                padding = tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation))
            padding = pair(padding)
            geometry = [(offset + scale * (d * (k - 1) / 2 - p), scale * s) for (offset, scale), k, s, d, p
                        in zip(geometry, kernel, stride, dilation, padding)]
        elif not type(module).__module__.startswith(ELEMENTWISE):
            return None
    return geometry


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
