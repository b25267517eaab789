"""FixMatch (Sohn et al. 2020, "FixMatch: simplifying semi-supervised learning with consistency and
confidence") on the project's CNN: the semi-supervised baseline beside the M2 VAE and the
semi-supervised GAN (``--labels N``).

Each step (``training/semi.py``) brings B_l labelled and B_u unlabelled images (mu = B_u / B_l):
the loss is the cross-entropy of the labelled images' weak views plus ``unlabelled_weight``
(lambda_u) times the cross-entropy of each unlabelled image's strong view against the pseudo-label
argmax p(y | weak view), counted where max p >= ``threshold`` (eq. 2-4; the paper: threshold 0.95,
lambda_u 1, mu 7). The three batches go through one forward pass, as in the paper's code, so batch
norm sees them together. The views (``views.py``) are batched tensor ops whose draws come from
``batch_noise``. Evaluation, validation, export and attacks see the CNN: ``forward`` = logits, and a
batch without ``unlabelled_x`` gets the plain cross-entropy.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..cards.fixmatch import CARD
from ..fields import param
from ..errors import NeuralzooError
from ..registry import register
from .base import batch_noise, labelled_part
from .cnn import CNN, CNNConfig
from .views import DRAWS, StrongView, strong_view, weak_view


@dataclass
class FixMatchConfig(CNNConfig):
    threshold: float = param(0.95, "confidence a weak view's prediction needs to become a pseudo-label")
    unlabelled_weight: float = param(1.0, "lambda_u: weight of the unlabelled (pseudo-label) loss")
    weak_shift: float = param(0.125, "weak view: random shift up to this fraction of the side")
    strong_degrees: float = param(30.0, "strong view: rotation up to +- this many degrees")
    strong_shear: float = param(0.3, "strong view: horizontal shear factor up to +- this")
    strong_scale: float = param(0.2, "strong view: zoom by a factor in [1 - s, 1 + s]")
    strong_shift: float = param(0.2, "strong view: shift up to this fraction of the side")
    strong_brightness: float = param(0.5, "strong view: stroke intensity times [1 - b, 1 + b]")
    strong_contrast: float = param(0.5, "strong view: contrast times [1 - c, 1 + c]")
    cutout: float = param(0.5, "strong view: a square of up to this fraction of the side blanked "
                               "(Cutout, DeVries & Taylor 2017)")
    # off by default: the paper's FixMatch has none, and on MNIST at 100 labels (draw 0) the test error
    # was 2.57% with and without it (benchmarks/README.md, "Semi-supervised")
    distribution_alignment: bool = param(False, "scale the weak views' probabilities by the labelled "
                                         "classes' prior over a running mean of the predictions before "
                                         "pseudo-labelling (ReMixMatch, Berthelot et al. 2020)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.threshold <= 1:
            raise NeuralzooError(f"threshold must be in (0, 1], got {self.threshold}")
        for name in ("unlabelled_weight", "weak_shift", "strong_degrees", "strong_shear", "strong_scale",
                     "strong_shift", "strong_brightness", "strong_contrast", "cutout"):
            if not 0 <= getattr(self, name) < float("inf"):
                raise NeuralzooError(f"{name} must be a finite number >= 0, got {getattr(self, name)}")
        if self.strong_scale >= 1 or self.cutout > 1:
            raise NeuralzooError(f"strong_scale must be below 1 and cutout at most 1, got "
                                 f"{self.strong_scale} and {self.cutout}")


def _uniform(rows: int, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(rows, DRAWS, generator=generator)   # (rows, DRAWS)


@register(CARD)
class FixMatch(CNN):
    Config = FixMatchConfig
    uses_unlabelled = True   # the loop's semi-supervised batches (training/semi.py)

    def __init__(self, config: FixMatchConfig, info) -> None:
        super().__init__(config, info)
        self.strong = StrongView(config.strong_degrees, config.strong_shear, config.strong_scale,
                                 config.strong_shift, config.strong_brightness, config.strong_contrast,
                                 config.cutout)
        self.value_range = tuple(float(v) for v in info.value_range)
        # p~(y): the running mean of the weak views' predictions (distribution alignment), a buffer so
        # checkpoints carry it and a resumed run aligns as the uninterrupted one did
        self.register_buffer("prediction_mean", torch.full((self.num_classes,), 1.0 / self.num_classes))

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if "unlabelled_x" not in batch:   # validation, evaluation, a labelled batch: the CNN's loss
            return super().loss(batch)
        x, y, unlabelled = batch["x"], batch["y"], batch["unlabelled_x"]   # (B_l, C, H, W), (B_u, ...)
        shift = self.config.weak_shift
        weak_labelled = weak_view(x, batch_noise(labelled_part(batch), len(x), _uniform, stream=1), shift)
        draws = batch_noise(batch, len(unlabelled), _uniform, stream=2)
        weak = weak_view(unlabelled, draws, shift)
        # the strong view's draws are their own: shifts unrelated to the weak view's
        strong = strong_view(unlabelled, batch_noise(batch, len(unlabelled), _uniform, stream=3),
                             self.strong, self.value_range)
        logits = self(torch.cat([weak_labelled, weak, strong]).to(x.dtype)).float()   # (B_l + 2 B_u, K)
        labelled_logits, weak_logits, strong_logits = logits.split([len(x), len(unlabelled), len(unlabelled)])
        out = self.metrics_from_logits(labelled_logits, y)
        confidence, pseudo = self.aligned(F.softmax(weak_logits.detach(), 1)).max(1)   # (B_u,), eq. 4
        mask = (confidence >= self.config.threshold).float()
        unlabelled_loss = (F.cross_entropy(strong_logits, pseudo, reduction="none") * mask).mean()
        out.update(supervised_loss=out["loss"], unlabelled_loss=unlabelled_loss, mask_rate=mask.mean(),
                   loss=out["loss"] + self.config.unlabelled_weight * unlabelled_loss)
        return out

    @torch.no_grad()
    def aligned(self, probs: torch.Tensor) -> torch.Tensor:
        """Distribution alignment (Berthelot et al. 2020, ReMixMatch eq. 3): p(y|x) times the prior of
        the labelled classes (uniform: the draw is class-balanced) over the running mean of the
        predictions, renormalised: meant to keep the pseudo-labels from drifting to the classes the model
        already favours (in a 100-label MNIST run, 13% of the 7s became 3s; with it, 12%)."""
        if not self.config.distribution_alignment:
            return probs
        # a running mean over about the last 128 batches, as ReMixMatch keeps
        self.prediction_mean.lerp_(probs.mean(0), 1 / 128)
        scaled = probs / self.prediction_mean.clamp(min=1e-6)   # (B_u, K)
        return scaled / scaled.sum(1, keepdim=True)
