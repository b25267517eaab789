"""Metric means over a split or a stretch of training steps, and batches moved to the step's device.

Shared by the loop (training and validation) and the evaluation (the model's own loss over a split).
"""

from __future__ import annotations

import torch

from ..data.base import ArrayData
from ..models.base import Model
from .context import Distributed, StepContext


class MetricSums:
    """Sample-weighted running sums of the metrics ``loss`` returns, kept as tensors so adding a
    step costs no device sync; ``means`` reads them once (summed over ranks when given a world)."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0

    def add(self, out: dict[str, torch.Tensor], n: int) -> None:
        for key, value in out.items():
            self.sums[key] = self.sums.get(key, 0.0) + value.detach().float() * n
        self.count += n

    def means(self, world: Distributed | None = None) -> dict[str, float]:
        if not self.sums:
            return {}
        keys = sorted(self.sums)
        totals = torch.stack([self.sums[k] for k in keys])
        totals = torch.cat([totals, totals.new_tensor([float(self.count)])])
        if world is not None:
            totals = world.all_reduce_sum(totals)
        return dict(zip(keys, (totals[:-1] / totals[-1]).tolist()))


@torch.no_grad()
def evaluate_metrics(model: Model, data: ArrayData, batch_size: int, ctx: StepContext,
                     world: Distributed | None = None) -> dict[str, float]:
    """Sample-weighted means of ``model.loss`` metrics over ``data`` (sharded across ranks)."""
    world = world or Distributed()
    was_training = model.training
    model.eval()
    index = torch.arange(world.rank, len(data), world.world_size)
    sums = MetricSums()
    for start in range(0, len(index), batch_size):
        batch = to_device(data.batch(index[start:start + batch_size].to(data.x.device)), ctx)
        with ctx.autocast():
            sums.add(model.loss(batch), len(batch["x"]))
    model.train(was_training)
    return sums.means(world)


def to_device(batch: dict[str, torch.Tensor], ctx: StepContext) -> dict[str, torch.Tensor]:
    out = {k: v.to(ctx.device, non_blocking=True) for k, v in batch.items()}
    if ctx.channels_last and out["x"].dim() == 4:
        out["x"] = out["x"].contiguous(memory_format=torch.channels_last)
    return out
