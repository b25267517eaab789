"""Where a training step of the classic CNN spends its time, and the ceiling its convolutions put on
samples/s (used by mnist_cnn.py; importable on its own)."""

from __future__ import annotations

import time

import torch

from neuralzoo.config import TrainConfig
from neuralzoo.models.cnn import CNN, CNNConfig
from neuralzoo.training.context import StepContext, bf16_enabled, keep_freed_memory


def step_breakdown(x: torch.Tensor, y: torch.Tensor, info, batch: int = 128, steps: int = 40) -> dict:
    """Where a training step of the default classic CNN spends its time (torch.profiler, self CPU
    time by operator, neuralzoo's settings: bf16 autocast, channels-last, fused Adam, the allocator
    setting), and the ceiling that the convolutions alone put on samples/s: even if pooling,
    activations, the loss and the optimizer cost nothing, a step cannot be faster than its three
    convolutions forward and backward with oneDNN's kernels."""
    from torch.profiler import ProfilerActivity, profile

    keep_freed_memory()
    torch.manual_seed(0)
    model = CNN(CNNConfig(), info).to(memory_format=torch.channels_last)
    cfg = TrainConfig()   # the loop's defaults: Adam lr 1e-3 (fused), bf16 autocast where supported
    optimizers = model.optimizers(cfg)
    device = torch.device("cpu")
    ctx = StepContext(loss=model.loss, device=device, use_bf16=bf16_enabled(cfg.bf16, device),
                      channels_last=True)
    batch_data = {"x": x[:batch].contiguous(memory_format=torch.channels_last), "y": y[:batch]}

    def step() -> None:   # the model's own train step, as the loop calls it
        model.train_step(batch_data, optimizers, ctx)

    for _ in range(10):
        step()
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    wall_ms = (time.perf_counter() - start) * 1e3 / steps
    groups = {"convolution": ("convolution", "conv2d"), "max_pooling": ("max_pool",),
              "zero_fill (max-pool backward)": ("fill_",)}
    ms = {name: 0.0 for name in [*groups, "everything else"]}
    for event in prof.key_averages():
        name = next((g for g, keys in groups.items() if any(k in event.key for k in keys)),
                    "everything else")
        ms[name] += event.self_cpu_time_total / 1e3 / steps
    total = sum(ms.values())
    conv_ms = ms["convolution"]
    return {"batch_size": batch, "steps_profiled": steps, "profiled_step_ms": round(wall_ms, 2),
            "self_cpu_ms_per_step": {k: round(v, 2) for k, v in ms.items()},
            "share": {k: round(v / total, 3) for k, v in ms.items()},
            "convolution_ceiling_samples_per_s": round(batch / conv_ms * 1e3),
            "note": "self CPU time per step by operator group (profiler overhead included in "
                    "profiled_step_ms); convolution_ceiling = batch / (convolution ms per step)"}
