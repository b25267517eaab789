"""The optimizers a model's ``optimizers(cfg)`` builds from the training settings.

Here, beside the models, because building them is part of the model contract (GANs build two);
the training loop only steps them and sets their learning rate (``training/optim.py``).
"""

from __future__ import annotations

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
