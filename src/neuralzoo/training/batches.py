"""The batch one training step gives the model: this rank's samples, augmented, on the device,
perturbed by adversarial training, with the step's counters riding along."""

from __future__ import annotations

import torch

from ..config import TrainConfig
from ..data.base import ArrayData
from .adversarial import AdversarialTraining
from .augment import augment_images
from .context import Distributed, StepContext
from .metrics import to_device


def step_batch(train: ArrayData, local: torch.Tensor, global_size: int, cfg: TrainConfig,
               ctx: StepContext, world: Distributed, step: int,
               adversary: AdversarialTraining | None) -> dict[str, torch.Tensor]:
    """The samples ``local`` (this rank's share of a global batch of ``global_size``) as the batch
    dict ``Model.train_step`` receives at optimizer step ``step``."""
    batch = train.batch(local.to(train.x.device))
    if cfg.augment != "none" and batch["x"].dim() == 4:
        batch["x"] = augment_images(batch["x"], cfg.augment, fill=train.background)
    batch = to_device(batch, ctx)
    if adversary is not None:   # like augmentation: the model's own step sees the perturbed batch
        batch = adversary(batch, ctx)
    # the global step rides along, so schedules inside a loss (the VAE's KL warm-up) are pure
    # functions of it, like the learning rate, and replay exactly on resume; a CPU scalar,
    # so reading it (the GAN's d_steps) never waits for a GPU, and it mixes with GPU tensors
    batch["step"] = torch.tensor(step)
    # the models' own noise (VAE, GAN, denoising): a function of (seed, step), the same draws on
    # every rank for the global batch (models.base.batch_noise)
    batch["noise_seed"] = torch.tensor(cfg.seed * 1_000_003 + step)
    if world.enabled:
        batch["shard"] = torch.tensor([world.rank, world.world_size, global_size])
    return batch
