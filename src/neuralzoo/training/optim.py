"""Learning-rate schedules (the optimizers themselves: ``models/optimizers.py``).

Schedules are pure functions of the global step (no scheduler object to save): resuming restores the
step counter and the learning rate follows. ``one-cycle`` follows Smith & Topin 2019 as in
torch.optim.lr_scheduler.OneCycleLR (cosine up from lr/25 over 30% of the steps, then cosine down to
lr/25e4); ``cosine`` is SGDR without restarts (Loshchilov & Hutter 2017) down to 0.
"""

from __future__ import annotations

import math

import torch

from ..config import TrainConfig


def lr_factor(step: int, total: int, cfg: TrainConfig) -> float:
    """Multiplier of the peak learning rate at ``step`` (0-based) of ``total`` steps."""
    t = min(step / max(total, 1), 1.0)
    if cfg.schedule == "one-cycle":
        pct = cfg.warmup_fraction or 0.3
        start, end = 1 / 25, 1 / 25e4
        if t < pct:
            return start + (1 - start) * (1 - math.cos(math.pi * t / pct)) / 2
        return end + (1 - end) * (1 + math.cos(math.pi * (t - pct) / (1 - pct))) / 2
    if cfg.warmup_fraction > 0 and t < cfg.warmup_fraction:
        return (step + 1) / (cfg.warmup_fraction * total)
    if cfg.schedule == "cosine":
        w = cfg.warmup_fraction
        return (1 + math.cos(math.pi * (t - w) / (1 - w))) / 2
    return 1.0


def set_lr(optimizers: list[torch.optim.Optimizer], factor: float) -> float:
    for opt in optimizers:
        for group in opt.param_groups:
            group["lr"] = group["peak_lr"] * factor
    return optimizers[0].param_groups[0]["lr"] if optimizers else 0.0
