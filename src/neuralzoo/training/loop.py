"""The one training loop. Models customise ``train_step``; nothing here knows which model it trains.

Exact resume: the order of the training data in epoch ``e`` is a pure function of (seed, e), the
learning rate a pure function of the step, and checkpoints carry the torch RNG state (dropout,
augmentation) and the position inside the epoch. A run killed at any point and resumed from its last
checkpoint therefore replays the same steps and ends with the same metrics on CPU.
"""

from __future__ import annotations

import functools
import math
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from tqdm.auto import tqdm

from ..data.base import ArrayData, DataSplits
from ..errors import NeuralzooError
from ..models.base import Model
from ..run_config import RunConfig
from .adversarial import AdversarialTraining
from .batches import step_batch
from .budget import plan_budget
from .checkpoint import restore
from .context import (Distributed, LossModule, StepContext, bf16_enabled, configure_process,
                      resolve_device)
from .faults import GracefulStop, NonFiniteStep
from .interruptions import Interruptions
from .reporting import Reporting
from .semi import training_parts
from .validation import Validation, monitor_of
from .parallel import average_gradients, global_batch_norm, training_step
from .logger import RunLogger
from .metrics import MetricSums
from .optim import lr_factor, set_lr
from .privacy import Privacy
from .privacy_layers import private_layers


def epoch_order(n: int, seed: int, epoch: int, balance_labels: torch.Tensor | None = None) -> torch.Tensor:
    """The shuffled sample order of one epoch: identical on every rank and on every resume.
    ``balance_labels`` (``--class-balance resample``): n draws with replacement, sample i with
    probability proportional to 1 / count(its class), so each class fills about 1/K of the epoch
    (the class-balanced sampling of Kang et al. 2020); unlabelled samples (label -1) are never drawn."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    if balance_labels is None:
        return torch.randperm(n, generator=generator)
    labels = balance_labels.cpu()
    known = labels >= 0
    counts = torch.bincount(labels[known])
    weights = torch.where(known, 1.0 / counts[labels.clamp(min=0)].double(), 0.0)
    return torch.multinomial(weights, n, replacement=True, generator=generator)


# called after each epoch on the main process: (model, run_dir, completed epochs, the epoch's validation
# metrics) -> values to log; raising StopTraining(reason) ends training after this epoch with that reason
# (e.g. a hyperparameter search pruning the run); single-process runs only
EpochCallback = Callable[[Model, Path, int, dict[str, float]], dict[str, Any]]


class Trainer(Interruptions, Validation, Reporting):
    """One run of the loop. ``fit`` reads as its steps: set up, (restore), check the monitored
    metric exists, then epochs of training steps, validation, callbacks and checkpoints, then the
    end-of-run summary. Everything a step needs lives on ``self``; models see only ``train_step``."""

    def __init__(self, model: Model, data: DataSplits, run_config: RunConfig, run_dir: Path,
                 callbacks: Sequence[EpochCallback] = (), durable: bool = True) -> None:
        self.model, self.run_config, self.callbacks = model, run_config, callbacks
        self.durable = durable   # False: a scratch run directory, checkpoints not fsynced
        self.cfg = cfg = run_config.train
        self.saved_config = run_config.to_dict()   # what every checkpoint's metadata holds
        self.run_dir = Path(run_dir)
        self.world = Distributed.from_env(cfg.device)
        configure_process(cfg)
        self.device = resolve_device(cfg.device, self.world.local_rank)
        torch.manual_seed(cfg.seed + self.world.rank)
        self.train, self.val = self.place_data(data)
        # --labels / uses_unlabelled models (semi.py): the part the epochs run over, the labelled stream
        self.train, self.labelled, note = training_parts(model, self.train, cfg)
        self.protocol = data.info.description + (f"; {note}" if note else "")   # printed first
        self.use_bf16 = bf16_enabled(cfg.bf16, self.device)
        # not under DP-SGD: Opacus unfolds a convolution's input for its per-sample gradients, and on a
        # channels-last input with more than one channel those come out wrong (opacus 1.5: off by
        # their own size; the clipping still bounds each sample, the update is noise on the wrong
        # direction: 95.97% against 98.2% on MNIST at epsilon 3, benchmarks/README.md)
        self.channels_last = (cfg.channels_last and len(data.info.input_shape) == 3 and cfg.dp_epsilon is None
                              and (self.use_bf16 or model.channels_last_float32))
        # lr_scale / rollbacks: what --on-nonfinite rollback changed; skipped: --on-nonfinite skip
        self.state: dict[str, Any] = {"epoch": 0, "batch": 0, "step": 0, "best": None, "bad_epochs": 0,
                                      "train_seconds": 0.0, "lr_scale": 1.0, "rollbacks": 0, "skipped": 0,
                                      "best_loss": None}   # the best checkpoint's validation loss
        self.history: list[tuple[int, float]] = []   # (step, monitored value) per validation
        self.last_val: dict[str, float] = {}
        self.steps_per_epoch = math.ceil(len(self.train) / cfg.batch_size)
        self.budget = plan_budget(cfg, self.steps_per_epoch, self.val is not None,
                                  getattr(model, "auto_min_steps", None))
        self.total = self.budget.epochs * self.steps_per_epoch
        if cfg.max_steps:
            self.total = min(self.total, cfg.max_steps)
        # DP-SGD: noise calibrated to spend dp_epsilon by the end of the planned steps
        self.privacy = Privacy.planned(cfg, len(self.train), self.total, data.info)
        self.monitor, self.mode = monitor_of(model, cfg)
        self.timed_out = False
        self.stopped_by_callback: str | None = None
        self.stop = GracefulStop(announce=self.world.is_main)
        self.adversary = AdversarialTraining(model, cfg) if cfg.adversarial != "none" else None
        if self.adversary is not None:
            self.protocol += f"; {self.adversary.describe()}"

    # -- set-up -------------------------------------------------------------------------------
    def place_data(self, data: DataSplits) -> tuple[ArrayData, ArrayData | None]:
        cfg, world = self.cfg, self.world
        if cfg.batch_size < world.world_size:
            raise NeuralzooError(f"batch_size {cfg.batch_size} is smaller than the {world.world_size} "
                                 "processes; each needs at least one sample")
        if cfg.patience is not None and data.val is None:
            raise NeuralzooError("patience (early stopping) needs a validation split: --val-fraction > 0")
        if self.device.type == "cuda":  # keep the whole data set on the GPU: no per-step host copies
            return data.train.to(self.device), None if data.val is None else data.val.to(self.device)
        return data.train, data.val

    def prepare_model(self, resume: bool) -> None:
        """Device and layout, the model's own preparation, its optimizers, the saved state when
        resuming, and the step context (autocast, the data-parallel loss, clipping)."""
        model, cfg = self.model, self.cfg
        replaced = private_layers(model) if self.privacy else []   # before the optimizers see them
        model.to(self.device)
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        model.prepare(cfg, self.train if self.labelled is None else self.labelled.labelled)
        if self.world.enabled:   # statistics of the global batch, as one process computes them
            global_batch_norm(model, self.device)
        self.optimizers = model.optimizers(cfg)
        if self.privacy:
            self.optimizers = self.privacy.wrap(model, self.optimizers)
            self.protocol += f"\n{self.privacy.describe(replaced)}"
        if resume:
            saved = restore(self.run_dir / "checkpoints" / "last.safetensors", model, self.optimizers)
            if self.privacy:
                self.privacy.load_state_dict(saved.get("privacy"), str(self.run_dir / "checkpoints"))
            self.state.update({k: saved[k] for k in self.state if k in saved})
            self.last_val = saved.get("last_val", {})
            self.restore_history()
        # compiling the loss (which calls forward) lets inductor fuse the elementwise work around the
        # matmuls too: ~1.8x faster steps for the IWAE-trained VAE on CPU
        loss_fn = torch.compile(model.loss) if cfg.compile else model.loss
        averaging = None
        if self.world.enabled and len(self.optimizers) == 1:   # DDP: the all-reduce overlaps backward
            from torch.nn.parallel import DistributedDataParallel

            loss_fn = DistributedDataParallel(LossModule(model), device_ids=[self.device.index] if
                                              self.device.type == "cuda" else None)
        elif self.world.enabled:   # several optimizers (GANs): each update averages its own gradients
            averaging = functools.partial(average_gradients, world_size=self.world.world_size)
        self.ctx = StepContext(loss=loss_fn, device=self.device, use_bf16=self.use_bf16,
                               grad_clip=None if self.privacy else cfg.grad_clip,   # DP clips per sample
                               channels_last=self.channels_last, on_nonfinite=cfg.on_nonfinite,
                               average_gradients=averaging)
        self.logger = RunLogger(self.run_dir, self.world.is_main, cfg.tensorboard,
                                resume_step=self.state["step"] if resume else None)
        if cfg.on_nonfinite == "rollback" and not resume:
            self.save("last")   # a point to roll back to, before the first epoch ends

    # -- the loop -----------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> dict[str, Any]:
        self.prepare_model(resume)
        self.check_monitor()
        self.model.train()
        if self.world.is_main and self.cfg.verbose and not resume:
            print(f"data: {self.protocol}\n{self.budget.describe(self.steps_per_epoch)}", flush=True)
        if not resume and self.val is not None and getattr(self.model, "starts_as_baseline", False):
            self.validate_start()
        reason = "budget" if self.budget.automatic else "epochs"
        with self.stop:
            while (self.state["epoch"] < self.budget.epochs and self.state["step"] < self.total
                   and not self.timed_out and not self.stop_requested()):
                try:
                    self.train_epoch()
                except NonFiniteStep as bad:
                    self.roll_back(bad)
                    continue
                if self.stop_requested():
                    break
                if not self.validation_due():
                    continue
                improved = self.validate()
                self.end_epoch(improved)
                if (self.budget.patience is not None and self.state["bad_epochs"] >= self.budget.patience
                        and self.state["step"] >= self.budget.earliest_stop * self.total):
                    reason = "early_stopping"
                    break
                if self.stopped_by_callback:
                    reason = self.stopped_by_callback
                    break
            if self.stop_requested():
                return self.stopped_by_signal()
        return self.finish(reason)

    def train_epoch(self) -> None:
        """The steps of one epoch (or of its rest, when resuming mid-epoch)."""
        cfg, world, state = self.cfg, self.world, self.state
        epoch = state["epoch"]
        order = epoch_order(len(self.train), cfg.seed, epoch,
                            self.train.y if cfg.class_balance == "resample" else None)
        sums = MetricSums()
        mark = time.perf_counter()   # training time is added up between marks (no validation)
        bar = tqdm(total=self.steps_per_epoch, initial=state["batch"],
                   desc=f"epoch {epoch + 1}/{self.budget.epochs}",
                   disable=None if (cfg.progress and world.is_main) else True, leave=False)
        for b in range(state["batch"], self.steps_per_epoch):
            out, n = self.train_step(order[b * cfg.batch_size:(b + 1) * cfg.batch_size] if not self.privacy
                                     else self.privacy.sample(state["step"], cfg.seed))
            if n:
                sums.add(out, n)
            state["batch"] = b + 1
            bar.update(1)
            last = b + 1 == self.steps_per_epoch or state["step"] >= self.total
            if state["step"] % cfg.log_every == 0 or last:
                now = time.perf_counter()
                bar.set_postfix(loss=f"{self.log_train(sums, now - mark, epoch):.4f}")
                sums, mark = MetricSums(), now
            if cfg.checkpoint_every and state["step"] % cfg.checkpoint_every == 0 \
                    and b + 1 < self.steps_per_epoch:
                self.save("last")
            self.timed_out = self.out_of_time(mark)
            if state["step"] >= self.total or self.timed_out or self.stop_requested():
                break
        bar.close()
        state["train_seconds"] += time.perf_counter() - mark
        if state["batch"] >= self.steps_per_epoch:
            state["epoch"], state["batch"] = epoch + 1, 0

    def train_step(self, index: torch.Tensor) -> tuple[dict[str, torch.Tensor], int]:
        """One optimizer step on the samples ``index`` of the global batch (this rank's share);
        (metrics, samples) with 0 samples when ``--on-nonfinite skip`` dropped the update."""
        world, ctx, train, cfg = self.world, self.ctx, self.train, self.cfg
        self.lr = set_lr(self.optimizers, lr_factor(self.state["step"], self.total, self.cfg)
                         * self.state["lr_scale"])
        if self.privacy and not len(index):   # an empty Poisson batch: an update of noise alone
            self.privacy.empty_step(self.optimizers[0])
            self.state["step"] += 1
            return {}, 0
        local = index[world.rank::world.world_size]
        ctx.grad_scale = len(local) * world.world_size / len(index)
        batch = step_batch(train, local, len(index), cfg, ctx, world, self.state["step"], self.adversary)
        if self.labelled is not None:
            batch = self.labelled.extend(batch, self.state["step"], cfg, ctx, world)
        skipped = ctx.skipped
        with training_step():
            out = self.model.train_step(batch, self.optimizers, ctx)
        self.state["step"] += 1
        if ctx.skipped > skipped:
            self.state["skipped"] += 1
            return out, 0
        return out, len(local)


def fit(model: Model, data: DataSplits, run_config: RunConfig, run_dir: Path, resume: bool = False,
        callbacks: Sequence[EpochCallback] = (), durable: bool = True) -> dict[str, Any]:
    """Train ``model`` on ``data`` as ``run_config.train`` says; writes metrics.jsonl and
    checkpoints/{last,best}.safetensors (``run_config`` in their metadata). ``callbacks`` run after
    each epoch on the main process (see ``EpochCallback``); ``durable=False`` for a scratch run
    directory: its checkpoints are written whole but not fsynced."""
    return Trainer(model, data, run_config, run_dir, callbacks, durable).fit(resume)
