"""SimCLR (Chen, Kornblith, Norouzi & Hinton 2020): two random views of each image are pulled together
and pushed away from the other images' views, through a projection head, by the NT-Xent loss.

Views, for small grey images: a random resized crop (area ``crop_scale``..1 of the image, aspect
ratio 3/4..4/3) composed with a small rotation (+-``max_degrees``) into one affine map per view,
applied to the whole batch with one ``affine_grid`` / ``grid_sample`` (no per-image Python); no
colour jitter (one channel). Draws come from the loop's per-step seed (``batch_noise``).

NT-Xent (the paper's eq. 1), for 2N projections z normalised to unit length, with temperature t:
    loss = mean over the 2N anchors i of  -log( exp(z_i . z_j(i) / t) / sum_{k != i} exp(z_i . z_k / t) )
where j(i) is i's other view. Under torchrun every rank gathers the projections of the whole global
batch (differentiably), so the negatives, the loss and the gradients are those of one process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from ..cards.contrastive import CARD
from ..fields import check_choices, param
from ..errors import NeuralzooError
from ..registry import register
from .base import batch_noise
from .pretext import PretextConfig, PretextModel


@dataclass
class ContrastiveConfig(PretextConfig):
    projection_dim: int = param(64, "size of the projection head's output (the loss's space)")
    temperature: float = param(0.5, "NT-Xent temperature")
    crop_scale: float = param(0.5, "smallest share of the image a random crop keeps")
    max_degrees: float = param(15.0, "largest rotation of a view, in degrees")

    def __post_init__(self) -> None:
        self.check_encoder()
        if self.projection_dim < 1 or self.temperature <= 0:
            raise NeuralzooError("projection_dim and temperature must be positive")
        if not 0 < self.crop_scale <= 1 or self.max_degrees < 0:
            raise NeuralzooError("crop_scale must be in (0, 1] and max_degrees >= 0")
        check_choices(self)


def nt_xent_and_accuracy(z: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """NT-Xent of projections (2N, D) whose rows i and i + N are two views of one image, and how
    often an anchor's most similar other projection is its own view (from the same similarities)."""
    z = F.normalize(z.float(), dim=1)
    n = len(z) // 2
    similarity = z @ z.T / temperature                          # (2N, 2N)
    similarity.fill_diagonal_(float("-inf"))                     # k != i
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    accuracy = (similarity.detach().argmax(1) == positives).float().mean()
    return F.cross_entropy(similarity, positives), accuracy


def nt_xent(z: torch.Tensor, temperature: float) -> torch.Tensor:
    return nt_xent_and_accuracy(z, temperature)[0]


def view_maps(parameters: torch.Tensor, cfg: ContrastiveConfig) -> torch.Tensor:
    """Affine maps (B, 2, 3) for ``affine_grid`` from uniform draws (B, 4): crop area, aspect, angle,
    and the crop's place. The map takes output coordinates to input ones in [-1, 1]."""
    area = cfg.crop_scale + (1 - cfg.crop_scale) * parameters[:, 0]
    aspect = torch.exp((parameters[:, 1] * 2 - 1) * math.log(4 / 3))
    width = torch.sqrt(area * aspect).clamp(max=1.0)             # crop sides as shares of the image
    height = torch.sqrt(area / aspect).clamp(max=1.0)
    angle = (parameters[:, 2] * 2 - 1) * math.radians(cfg.max_degrees)
    place = parameters[:, 3] * 2 - 1
    theta = torch.zeros(len(parameters), 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = width * torch.cos(angle), -height * torch.sin(angle)
    theta[:, 1, 0], theta[:, 1, 1] = width * torch.sin(angle), height * torch.cos(angle)
    theta[:, 0, 2], theta[:, 1, 2] = place * (1 - width), -place * (1 - height)
    return theta


@register(CARD)
class Contrastive(PretextModel):
    Config = ContrastiveConfig

    def __init__(self, config: ContrastiveConfig, info) -> None:
        if not info.is_image:
            raise NeuralzooError(f"model 'contrastive' needs images (its views are crops and "
                                 f"rotations); {info.name!r} has samples of shape {tuple(info.input_shape)}")
        super().__init__(config, info)
        self.projection = nn.Sequential(nn.Linear(self.feature_dim, self.feature_dim), nn.ReLU(),
                                        nn.Linear(self.feature_dim, config.projection_dim))

    def views(self, x: torch.Tensor, batch: dict[str, torch.Tensor], stream: int) -> torch.Tensor:
        draws = batch_noise(batch, len(x), lambda k, g: torch.rand(k, 4, generator=g), stream)
        grid = F.affine_grid(view_maps(draws, self.config).to(x.device), list(x.shape), align_corners=False)
        return F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="zeros",
                             align_corners=False).to(x.dtype)

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = batch["x"]
        both = torch.cat([self.views(x, batch, 0), self.views(x, batch, 1)])
        z = self.projection(self.encode(both))                   # (2B, projection_dim)
        first, second = z.chunk(2)
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1 and self.training:
            from torch.distributed.nn.functional import all_gather

            # every rank scores the global batch; all_gather's backward sums the ranks' gradients
            # and DDP averages them: the one-process gradient
            first, second = torch.cat(all_gather(first)), torch.cat(all_gather(second))
        loss, accuracy = nt_xent_and_accuracy(torch.cat([first, second]), self.config.temperature)
        return {"loss": loss, "view_accuracy": accuracy}
