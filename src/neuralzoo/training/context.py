"""Device, precision and data-parallel plumbing handed to ``Model.train_step``."""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import warnings
from dataclasses import dataclass
from typing import Callable, ContextManager, Iterable

import torch
import torch.distributed as dist

from ..config import TrainConfig
from ..errors import NeuralzooError
from ..models.base import native_cpu_bf16
from .faults import NonFiniteStep


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise NeuralzooError("device: cuda was asked for but torch sees no CUDA device")
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        return torch.device("cuda", local_rank % max(torch.cuda.device_count(), 1))
    return torch.device("cpu")


def bf16_enabled(setting: str, device: torch.device) -> bool:
    if setting == "on" and device.type == "cpu" and not native_cpu_bf16():
        # asked for explicitly: honoured, but said once, since it is the slow choice here (the
        # classic MNIST CNN's step took 317 ms in bf16 against 34 ms in float32 on an AVX2 CPU)
        warnings.warn("bf16 on: this CPU has no native bf16 (AVX512-BF16 or AMX), so autocast is "
                      "emulated and much slower than float32 (9x per step of the classic CNN); "
                      "--bf16 auto picks float32 here", RuntimeWarning, stacklevel=2)
    if setting != "auto":
        return setting == "on"
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    # Native bf16 on CPU (AVX512-BF16 / AMX): autocast is then ~3x faster on matmuls and convs;
    # without it bf16 is emulated and far slower than float32.
    return native_cpu_bf16()


@dataclass
class Distributed:
    """torchrun's environment: world size, rank, local rank (1, 0, 0 when run plainly)."""

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, device_name: str) -> "Distributed":
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        if not dist.is_initialized():
            use_nccl = device_name != "cpu" and torch.cuda.is_available()
            dist.init_process_group("nccl" if use_nccl else "gloo")
            # Tear the group down while the interpreter is still whole: left to finalisation, gloo's
            # worker threads can outlive it and abort the process ("terminate called without an
            # active exception", pytorch/pytorch#190489), failing a run that had finished.
            atexit.register(_destroy_process_group)
        return cls(world, rank, local)

    def all_reduce_sum(self, values: torch.Tensor) -> torch.Tensor:
        if self.enabled:
            dist.all_reduce(values, op=dist.ReduceOp.SUM)
        return values


def _destroy_process_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


class LossModule(torch.nn.Module):
    """Lets DistributedDataParallel wrap ``model.loss``: DDP hooks the wrapped module's forward."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.model.loss(batch)


@dataclass
class StepContext:
    """What a train step needs from the loop; models call these rather than torch directly."""

    loss: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]
    device: torch.device
    use_bf16: bool
    grad_clip: float | None = None
    # Under DDP each rank's loss is the mean over its shard; scaling by (shard / global batch) *
    # world size makes DDP's gradient average equal the single-process gradient of the global batch
    # even when the last batch splits unevenly.
    grad_scale: float = 1.0
    channels_last: bool = False   # image batches are converted to channels-last on the way in
    # what a NaN/inf loss or gradient does: "skip" drops the update (counted in ``skipped``); "stop"
    # and "rollback" raise NonFiniteStep for the loop, before the optimizer applies anything
    on_nonfinite: str = "stop"
    skipped: int = 0
    # multi-optimizer models under torchrun, which DDP cannot wrap: gradients are averaged here
    average_gradients: Callable[[list[torch.nn.Parameter]], None] | None = None

    def autocast(self) -> ContextManager:
        if not self.use_bf16:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def backward(self, loss: torch.Tensor) -> None:
        (loss * self.grad_scale if self.grad_scale != 1.0 else loss).backward()

    def clip(self, params: Iterable[torch.nn.Parameter]) -> torch.Tensor:
        """Clip the gradients' global norm to ``grad_clip`` (when set); returns that norm."""
        params = [p for p in params if p.grad is not None]
        if self.grad_clip is not None:
            return torch.nn.utils.clip_grad_norm_(params, self.grad_clip)
        return torch.nn.utils.get_total_norm([p.grad for p in params])

    def update(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor, name: str = "loss") -> bool:
        """The end of every optimizer update, after ``backward``: average the gradients (when the loop
        asks), clip, check that ``loss`` and the gradient norm are finite, step, zero the gradients.
        Returns whether the step was applied. One reading of two scalars per update is the price of
        catching the first bad step rather than a log line later, when the weights are already NaN.
        Under DDP the gradient norm (identical on every rank after the all-reduce) decides alone, so
        no rank steps while another skips."""
        params = [p for group in optimizer.param_groups for p in group["params"]]
        if self.average_gradients is not None:
            self.average_gradients(params)
        norm = self.clip(params)
        norm_value, loss_value = torch.stack([norm.detach().float(),
                                              loss.detach().float().reshape(())]).tolist()
        if math.isfinite(norm_value) and (math.isfinite(loss_value) or dist.is_initialized()):
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            return True
        optimizer.zero_grad(set_to_none=True)
        if self.on_nonfinite == "skip":
            self.skipped += 1
            return False
        if not math.isfinite(loss_value):
            raise NonFiniteStep(name, loss_value)
        raise NonFiniteStep("gradient norm", norm_value)



def configure_process(cfg: TrainConfig) -> None:
    """Process-wide settings for training: torch's thread count and the allocator (below)."""
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    keep_freed_memory()


def keep_freed_memory() -> bool:
    """Let glibc keep freed activation buffers instead of unmapping them.

    By default glibc serves allocations above ~128 KiB-32 MiB with mmap and returns them to the OS
    on free, so every training step page-faults its activations and gradients in again (on the
    classic MNIST CNN on CPU, zero-filling the max-pool gradient alone then took 43% of the step).
    Raising the mmap threshold to its 32 MiB maximum and the trim threshold to 1 GiB keeps that
    memory in the heap: 1.6x more samples/s in a bare training loop of that CNN (10.7k -> 16.9k at
    batch 128); inside neuralzoo's loop the difference was within run-to-run noise (12-15k samples/s
    either way), so it is kept as a guard, at the price of a higher resident set. This is what the
    MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ variables do, applied at run time with mallopt.
    Returns whether it was applied (glibc on Linux only; elsewhere nothing happens).
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
        return bool(libc.mallopt(m_mmap_threshold, 32 << 20) and libc.mallopt(m_trim_threshold, 1 << 30))
    except (OSError, AttributeError):
        return False
