"""What DP-SGD needs before a run starts (``training/privacy.py`` trains it): Opacus installed, a delta
below 1/N, settings that keep the accounting exact, and a model whose loss gives each sample one row
(one per-sample gradient). Each refusal is one line, raised before a run directory exists.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..config import TrainConfig
from ..errors import NeuralzooError

MISSING = "differentially private training needs Opacus: pip install 'neuralzoo[privacy]'"


def import_opacus() -> Any:
    try:
        import opacus
    except ImportError:
        raise NeuralzooError(MISSING) from None
    return opacus


def default_delta(samples: int) -> float:
    """delta well below 1/N (a mechanism that publishes one random sample whole is (0, 1/N)-DP)."""
    return min(1e-5, 1 / (10 * samples))


def delta_of(cfg: TrainConfig, samples: int) -> float:
    delta = default_delta(samples) if cfg.dp_delta is None else cfg.dp_delta
    if delta >= 1 / samples:
        raise NeuralzooError(f"dp_delta {delta:g} is not below 1/N = {1 / samples:.3g} for the N = {samples} "
                             f"training samples (it would allow publishing a sample); use at most "
                             f"{default_delta(samples):.3g}")
    return delta


def rows_per_batch(model: nn.Module, train: Any, samples: int = 2) -> int | None:
    """How many rows the model's layers see when its loss reads ``samples`` training samples: a copy of
    the model in training mode, one forward without gradients, the first dimension of every input to
    a layer with weights. None when the probe cannot run (the step hook still checks every step)."""
    import copy

    probe, rows = copy.deepcopy(model).train(), set()
    hooks = [m.register_forward_hook(lambda _m, inputs, _out: rows.add(int(inputs[0].shape[0])))
             for m in probe.modules() if any(True for _ in m.parameters(recurse=False))]
    batch = {**train.batch(torch.arange(min(samples, len(train)))), "step": torch.tensor(0),
             "noise_seed": torch.tensor(0)}
    try:
        with torch.no_grad():
            probe.loss(batch)
    except Exception:   # a loss that needs its preparation first: left to the step hook
        return None
    finally:
        for hook in hooks:
            hook.remove()
    return max(rows) if rows else None


def check_privacy(cfg: TrainConfig, model: nn.Module, train: Any, world_size: int = 1) -> None:
    """Refuse, in one line each and before anything is written, what DP-SGD cannot train here."""
    if cfg.dp_epsilon is None:
        return
    import_opacus()
    delta_of(cfg, len(train))
    name = getattr(model, "name", type(model).__name__)
    if world_size > 1:
        raise NeuralzooError("dp_epsilon: differentially private training runs in one process, not torchrun")
    # a skipped or replayed step would spend privacy the accountant does not see; class weights and
    # the logit-adjustment prior are counts of the training labels, published outside the accounting
    for setting, value, fine in (("compile", cfg.compile, False), ("on_nonfinite", cfg.on_nonfinite, "stop"),
                                 ("class_balance", cfg.class_balance, "none")):
        if value == "resample":   # a batch drawn by class: not the uniform Poisson sampling accounted for
            raise NeuralzooError("class_balance 'resample' cannot be combined with dp_epsilon: DP-SGD's "
                                 "accounting assumes uniform Poisson sampling of every batch")
        if value != fine:
            raise NeuralzooError(f"{setting} {value!r} cannot be combined with dp_epsilon (use {fine!r})")
    optimizers = model.optimizers(cfg)
    if len(optimizers) != 1:
        raise NeuralzooError(f"dp_epsilon: {name!r} trains {len(optimizers)} optimizers (a generator and a "
                             "discriminator); DP-SGD here trains models with one (no DP-GAN yet)")
    rows, samples = rows_per_batch(model, train), min(2, len(train))
    if rows is not None and rows != samples:
        raise NeuralzooError(too_many_rows(name, rows, samples))


def too_many_rows(name: str, rows: int, samples: int) -> str:
    return (f"dp_epsilon: {name!r} computes its loss on {rows} rows for {samples} samples (several views "
            "of each), so a sample's gradient is not one row's; DP-SGD cannot bound it")
