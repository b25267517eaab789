"""Optimizers and learning-rate schedules.

Schedules are pure functions of the global step (no scheduler object to save): resuming restores the
step counter and the learning rate follows. ``one-cycle`` follows Smith & Topin 2019 as in
torch.optim.lr_scheduler.OneCycleLR (cosine up from lr/25 over 30% of the steps, then cosine down to
lr/25e4); ``cosine`` is SGDR without restarts (Loshchilov & Hutter 2017) down to 0.
"""

from __future__ import annotations

import math
from typing import Iterable

import torch

from ..config import TrainConfig


def make_optimizer(params: Iterable[torch.nn.Parameter], cfg: TrainConfig,
                   lr: float | None = None, betas: tuple[float, float] = (0.9, 0.999)
                   ) -> torch.optim.Optimizer:
    params = [p for p in params if p.requires_grad]
    lr = cfg.lr if lr is None else lr
    if cfg.optimizer in ("adam", "adamw"):
        cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
        opt = fused_or_plain(cls, params, lr=lr, betas=betas, weight_decay=cfg.weight_decay)
    elif cfg.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                              nesterov=cfg.momentum > 0)
    else:
        opt = torch.optim.RMSprop(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    for group in opt.param_groups:
        group["peak_lr"] = group["lr"]  # the schedule scales from this; saved with the optimizer
    return opt


def fused_or_plain(cls: type[torch.optim.Optimizer], params: list[torch.nn.Parameter],
                   **kwargs) -> torch.optim.Optimizer:
    """``cls(params, fused=True)`` where torch has a fused kernel for these parameters (CPU and CUDA
    floating-point tensors in recent torch): one kernel per step instead of a dozen foreach passes,
    the same update up to rounding. Otherwise the default implementation. The flag lives in the param
    groups, so a checkpoint resumes with the implementation it was saved with."""
    try:
        return cls(params, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):  # no fused kernel for this device / dtype / torch
        return cls(params, **kwargs)


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
