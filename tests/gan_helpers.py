"""Helpers of the GAN tests (test_gan.py, test_gan_layers.py): a model on the 8x8 digits, and a few
checked training steps."""

from __future__ import annotations

import torch

from neuralzoo.api import build_model, resolve
from neuralzoo.data import load_dataset
from neuralzoo.training.context import StepContext


def digits_model(name: str, **fields):
    config = resolve(name, overrides={"data": "digits", **fields})
    data = load_dataset(config.data)
    return build_model(config, data.info), data, config.train


def finite_steps(model, data, cfg, steps: int) -> list:
    """``steps`` training steps on the first 32 digits, each output finite; returns the optimizers."""
    optimizers = model.optimizers(cfg)
    ctx = StepContext(loss=model.loss, device=torch.device("cpu"), use_bf16=False)
    batch = data.train.batch(torch.arange(32))
    for step in range(steps):
        out = model.train_step({**batch, "step": torch.tensor(step)}, optimizers, ctx)
        assert all(torch.isfinite(v) for v in out.values())
    return optimizers
