"""Data parallelism beyond what DistributedDataParallel wraps: gradient averaging for models with
several optimizers (GANs), and batch norm over the global batch on CPU.

DDP wraps one loss; a GAN makes two updates per step through its own ``train_step``, so under torchrun
the loop averages each optimizer's gradients itself (``StepContext.update``). Batch norm normalises
with the statistics of the batch it sees: on one rank that is a shard, so the ranks would train a
different network than one process does. ``nn.SyncBatchNorm`` fixes that on GPUs only; on CPU
(gloo) the layers are swapped for ``GlobalBatchNorm``, which all-reduces the sums behind the mean and
variance (with autograd) while the loop runs a training step, and is plain batch norm otherwise.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.nn.functional import all_reduce


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose training statistics cover the global batch across ranks (CPU / gloo)."""

    syncing = False   # set by ``training_step()``: only the loop's steps run on every rank together

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2-D input, got {x.dim()}-D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and GlobalBatchNorm.syncing and dist.is_initialized()):
            return super().forward(x)
        dims = [0, *range(2, x.dim())]
        count = torch.tensor([x.numel() / x.shape[1]], dtype=torch.float32, device=x.device)
        xf = x.float()
        totals = all_reduce(torch.cat([xf.sum(dims), (xf * xf).sum(dims), count]))
        features = x.shape[1]
        n = totals[-1]
        mean = totals[:features] / n
        var = (totals[features:2 * features] / n - mean * mean).clamp(min=0)   # biased, as batch norm
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1   # momentum None: a cumulative average, as batch norm
                momentum = self.momentum if self.momentum is not None else 1 / int(self.num_batches_tracked)
                self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), momentum)
                unbiased = var.detach() * n / (n - 1).clamp(min=1)
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), momentum)
        shape = [1, features] + [1] * (x.dim() - 2)
        out = (xf - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out.to(x.dtype)


def global_batch_norm(module: nn.Module, device: torch.device) -> nn.Module:
    """Swap every batch-norm layer for one over the global batch (the same parameters and buffers, so
    optimizers and checkpoints see no difference): ``nn.SyncBatchNorm`` on CUDA, else GlobalBatchNorm."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and not isinstance(child, GlobalBatchNorm):
            swapped = GlobalBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                      child.track_running_stats)
            swapped.weight, swapped.bias = child.weight, child.bias
            for buffer in ("running_mean", "running_var", "num_batches_tracked"):
                setattr(swapped, buffer, getattr(child, buffer))
            swapped.train(child.training)
            setattr(module, name, swapped)
        else:
            global_batch_norm(child, device)
    return module


@contextlib.contextmanager
def training_step() -> Iterator[None]:
    """Batch-norm layers sync across ranks inside this block (the loop's steps), nowhere else: a
    callback that runs on the main process alone must never wait for the others."""
    GlobalBatchNorm.syncing = True
    try:
        yield
    finally:
        GlobalBatchNorm.syncing = False


def average_gradients(params: list[nn.Parameter], world_size: int) -> None:
    """Average the gradients of ``params`` over the ranks in one all-reduce (a flat buffer)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world_size
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()
