"""The one training loop. Models customise ``train_step``; nothing here knows which model it trains.

Exact resume: the order of the training data in epoch ``e`` is a pure function of (seed, e), the
learning rate a pure function of the step, and checkpoints carry the torch RNG state (dropout,
augmentation) and the position inside the epoch. A run killed at any point and resumed from its last
checkpoint therefore replays the same steps and ends with the same metrics on CPU.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ..config import TrainConfig, to_dict
from ..data.base import ArrayData, DataSplits
from ..errors import NeuralzooError
from ..models.base import Model
from .augment import augment_images
from .checkpoint import restore, save_checkpoint
from .context import (Distributed, LossModule, StepContext, bf16_enabled, configure_process,
                      resolve_device)
from .logger import RunLogger
from .optim import lr_factor, set_lr


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled sample order of one epoch: identical on every rank and on every resume."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


def monitor_of(model: Model, cfg: TrainConfig) -> tuple[str, str]:
    name = cfg.monitor or model.monitor[0]
    if name.startswith("val_"):
        name = name[4:]
    mode = model.monitor[1] if name == model.monitor[0] else ("min" if "loss" in name else "max")
    return name, mode


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


def fit(model: Model, data: DataSplits, cfg: TrainConfig, run_dir: Path, run_config: dict[str, Any],
        resume: bool = False) -> dict[str, Any]:
    """Train ``model`` on ``data``; writes metrics.jsonl and checkpoints/{last,best}.safetensors."""
    world = Distributed.from_env(cfg.device)
    configure_process(cfg)
    device = resolve_device(cfg.device, world.local_rank)
    run_dir = Path(run_dir)
    ckpt_dir = run_dir / "checkpoints"
    torch.manual_seed(cfg.seed + world.rank)
    if cfg.batch_size < world.world_size:
        raise NeuralzooError(f"batch_size {cfg.batch_size} is smaller than the {world.world_size} "
                             "processes; each needs at least one sample")
    train, val = data.train, data.val
    if device.type == "cuda":  # keep the whole data set on the GPU: no per-step host copies
        train, val = (None if part is None else part.to(device) for part in (train, val))
    if cfg.patience is not None and val is None:
        raise NeuralzooError("patience (early stopping) needs a validation split: --val-fraction > 0")
    channels_last = cfg.channels_last and len(data.info.input_shape) == 3
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    model.prepare(cfg, train)
    optimizers = model.optimizers(cfg)
    state: dict[str, Any] = {"epoch": 0, "batch": 0, "step": 0, "best": None, "bad_epochs": 0,
                             "train_seconds": 0.0}
    last_val: dict[str, float] = {}
    if resume:
        saved = restore(ckpt_dir / "last.safetensors", model, optimizers)
        state.update({k: saved[k] for k in state if k in saved})
        last_val = saved.get("last_val", {})
    # compiling the loss (which calls forward) lets inductor fuse the elementwise work around the
    # matmuls too: ~1.8x faster steps for the IWAE-trained VAE on CPU
    loss_fn = torch.compile(model.loss) if cfg.compile else model.loss
    if world.enabled:
        from torch.nn.parallel import DistributedDataParallel

        loss_fn = DistributedDataParallel(LossModule(model),
                                          device_ids=[device.index] if device.type == "cuda" else None)
    ctx = StepContext(loss=loss_fn, device=device, use_bf16=bf16_enabled(cfg.bf16, device),
                      grad_clip=cfg.grad_clip, channels_last=channels_last)
    logger = RunLogger(run_dir, world.is_main, cfg.tensorboard,
                       resume_step=state["step"] if resume else None)
    monitor, mode = monitor_of(model, cfg)
    if val is not None:  # fail now, not after an epoch, when the monitored metric does not exist
        reported = evaluate_metrics(model, val.subset(torch.arange(min(2, len(val)))), 2, ctx)
        if monitor not in reported:
            raise NeuralzooError(f"monitor {monitor!r} is not a validation metric of "
                                 f"{model.name!r}; it reports: {', '.join(sorted(reported))}")
    steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    if cfg.max_steps:
        total = min(total, cfg.max_steps)
    reason = "epochs"

    def save(name: str) -> None:
        if world.is_main:
            save_checkpoint(ckpt_dir / f"{name}.safetensors", model, optimizers, run_config,
                            {**state, "monitor": monitor, "mode": mode, "last_val": last_val})

    def out_of_time(mark: float) -> bool:
        """The time budget is spent (every rank agrees: under torchrun they compare at log steps)."""
        if cfg.max_minutes is None or (world.enabled and state["step"] % cfg.log_every):
            return False
        over = state["train_seconds"] + time.perf_counter() - mark >= cfg.max_minutes * 60
        if not world.enabled:
            return over
        return bool(world.all_reduce_sum(torch.tensor(float(over), device=device)) > 0)

    timed_out = False
    model.train()
    while state["epoch"] < cfg.epochs and state["step"] < total and not timed_out:
        epoch = state["epoch"]
        order = epoch_order(len(train), cfg.seed, epoch)
        sums = MetricSums()
        mark = time.perf_counter()   # training time is added up between marks (no validation)
        bar = tqdm(total=steps_per_epoch, initial=state["batch"], desc=f"epoch {epoch + 1}/{cfg.epochs}",
                   disable=None if (cfg.progress and world.is_main) else True, leave=False)
        for b in range(state["batch"], steps_per_epoch):
            index = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            local = index[world.rank::world.world_size]
            ctx.grad_scale = len(local) * world.world_size / len(index)
            batch = train.batch(local.to(train.x.device))
            if cfg.augment != "none" and batch["x"].dim() == 4:
                batch["x"] = augment_images(batch["x"], cfg.augment)
            batch = to_device(batch, ctx)
            # the global step rides along, so schedules inside a loss (the VAE's KL warm-up) are pure
            # functions of it, like the learning rate, and replay exactly on resume; a CPU scalar,
            # so reading it (the GAN's d_steps) never waits for a GPU, and it mixes with GPU tensors
            batch["step"] = torch.tensor(state["step"])
            lr = set_lr(optimizers, lr_factor(state["step"], total, cfg))
            sums.add(model.train_step(batch, optimizers, ctx), len(local))
            state["step"] += 1
            state["batch"] = b + 1
            bar.update(1)
            if state["step"] % cfg.log_every == 0 or b + 1 == steps_per_epoch or state["step"] >= total:
                means = sums.means()
                if not math.isfinite(means.get("loss", 0.0)):
                    raise NeuralzooError(f"training diverged: loss is {means['loss']} at step "
                                         f"{state['step']}; try a lower --lr or --grad-clip")
                now = time.perf_counter()
                state["train_seconds"] += now - mark
                logger.log("train", state["step"], epoch=epoch + (b + 1) / steps_per_epoch, lr=lr,
                           samples_per_s=sums.count * world.world_size / max(now - mark, 1e-9),
                           train_seconds=state["train_seconds"], **means)
                bar.set_postfix(loss=f"{means['loss']:.4f}")
                sums, mark = MetricSums(), now
            if cfg.checkpoint_every and state["step"] % cfg.checkpoint_every == 0 \
                    and b + 1 < steps_per_epoch:
                save("last")
            timed_out = out_of_time(mark)
            if state["step"] >= total or timed_out:
                break
        bar.close()
        state["train_seconds"] += time.perf_counter() - mark
        if state["batch"] >= steps_per_epoch:
            state["epoch"], state["batch"] = epoch + 1, 0
        last_val = evaluate_metrics(model, val, cfg.eval_batch_size, ctx, world) if val else {}
        value = last_val.get(monitor)
        improved = value is not None and (state["best"] is None or
                                          (value < state["best"] if mode == "min" else value > state["best"]))
        if improved:
            state["best"], state["bad_epochs"] = value, 0
        elif value is not None:
            state["bad_epochs"] += 1
        # optional per-epoch report of a model (GANs: a sample grid from fixed noise and the class
        # histogram); it must not draw from the global RNG, so resumed runs stay exact
        report = model.epoch_report(run_dir, state["epoch"]) if (
            world.is_main and hasattr(model, "epoch_report")) else {}
        logger.log("val", state["step"], epoch=state["epoch"] + state["batch"] / steps_per_epoch,
                   best=bool(improved), train_seconds=state["train_seconds"],
                   **{f"val_{k}": v for k, v in last_val.items()}, **report)
        if world.is_main:
            shown = "  ".join(f"val_{k} {v:.4f}" for k, v in last_val.items())
            print(f"epoch {epoch + 1}/{cfg.epochs}  step {state['step']}  {shown}  "
                  f"({state['train_seconds']:.1f}s training)", flush=True)
        # best before last: a crash between the two leaves a "last" that redoes this epoch
        if improved or val is None:
            save("best")
        save("last")
        if cfg.patience is not None and state["bad_epochs"] >= cfg.patience:
            reason = "early_stopping"
            break
    if state["step"] >= total and cfg.max_steps and total < cfg.epochs * steps_per_epoch:
        reason = "max_steps"
    elif timed_out:
        reason = "max_minutes"
    logger.log("end", state["step"], reason=reason, best=state["best"], monitor=monitor,
               train_seconds=state["train_seconds"], **{f"val_{k}": v for k, v in last_val.items()})
    logger.close()
    return {"reason": reason, "steps": state["step"], "epochs": state["epoch"], "monitor": monitor,
            "best": state["best"], "final": last_val, "train_seconds": state["train_seconds"],
            "config": to_dict(cfg)}
