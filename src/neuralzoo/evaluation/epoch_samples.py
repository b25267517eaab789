"""Per-epoch pictures for any model that samples: a training-loop callback, so models never write files.

``api.train`` adds ``SampleGrid`` when ``--sample-every N`` is above 0 (the GANs' default: 1): after
every N-th epoch a grid of 64 samples from fixed noise goes to ``RUN/samples/epoch_NNNN.png`` and the
class histogram of 1,000 samples (per the shipped feature network, when one fits the data) is logged
with the validation event, which shows mode collapse as it happens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..images import save_image_grid
from ..models.base import Model
from .quality import class_histogram, feature_network


class SampleGrid:
    def __init__(self, every: int = 1, count: int = 1000) -> None:
        self.every, self.count = every, count

    @torch.no_grad()
    def __call__(self, model: Model, run_dir: Path, epoch: int,
                 metrics: dict[str, float] | None = None) -> dict[str, Any]:
        """Called after each epoch (``epoch`` counts completed epochs). It must not draw from the
        global RNG, so a resumed run replays the same steps: the noise has its own generator."""
        if epoch % self.every:
            return {}
        was_training = model.training
        model.eval()
        images = model.sample(self.count, generator=torch.Generator().manual_seed(0)).cpu()
        model.train(was_training)
        if model.info.is_image:
            save_image_grid(images[:64], Path(run_dir) / "samples" / f"epoch_{epoch:04d}.png", nrow=8)
        net = feature_network(model.info.input_shape)
        return {} if net is None else class_histogram(net(images)[1], net.model.num_classes)
