"""The model contract every family implements.

* ``forward`` is the natural inference call (logits, reconstruction, generated image), never the loss.
* ``loss(batch) -> dict`` returns a scalar ``"loss"`` plus any metrics (scalars).
* ``optimizers(cfg)`` and ``train_step(batch, optimizers, ctx)`` have defaults; only models with several
  optimizers (GANs) override them. The training loop never changes per model.
* ``Config`` is the model's one hyperparameter dataclass. How to use the model (summary, presets,
  training defaults, demo, search space) is its card (``neuralzoo/cards/``), linked by ``@register``.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Callable, ClassVar, ContextManager, Protocol

import torch
from torch import nn

from ..errors import NeuralzooError

if TYPE_CHECKING:
    from ..cards import ModelCard
    from ..config import TrainConfig
    from ..data.base import ArrayData, DataInfo


PRECISIONS = ("float32", "bf16")


def native_cpu_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 / AMX), as oneDNN sees it."""
    return bool(getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)())


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 natively (a CUDA device that supports it, or a CPU with
    AVX512-BF16 / AMX); elsewhere bf16 is emulated and slower than float32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and native_cpu_bf16()


def check_temperature(temperature: float) -> float:
    """The sampling temperature of a latent-variable model: z ~ N(0, temperature^2 I) (the prior's
    standard deviation scaled, as Kingma & Dhariwal 2018's Glow samples; below 1 trades recall for
    precision, like BigGAN's truncation, above 1 the reverse)."""
    if not (isinstance(temperature, (int, float)) and 0 < temperature < float("inf")):
        raise NeuralzooError(f"temperature must be a positive number, got {temperature!r}")
    return float(temperature)


Outputs = torch.Tensor | tuple[torch.Tensor, ...]


class TrainStepContext(Protocol):
    """What ``Model.train_step`` is handed by the loop (``training.context.StepContext`` is the one
    implementation); declared here so that the models, below the loop, name no module above them."""

    loss: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]   # the model's loss (DDP-wrapped)

    def autocast(self) -> ContextManager: ...

    def backward(self, loss: torch.Tensor) -> None: ...

    def update(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor, name: str = "loss") -> bool: ...


def batch_noise(batch: dict[str, torch.Tensor], n: int,
                draw: Callable[[int, torch.Generator | None], torch.Tensor], stream: int = 0) -> torch.Tensor:
    """Random draws for the ``n`` rows of a training batch, ``draw(rows, generator)`` (rows first).

    The loop puts ``noise_seed`` (a function of the run's seed and the step) in training batches, and
    under torchrun ``shard`` = (rank, world size, global rows): every rank then draws for the whole
    global batch from the same generator and keeps its own rows (``rank::world``, the loop's split), so
    two processes draw exactly what one process draws for the same global batch, and a resumed run
    replays the draws without saved RNG state. ``stream`` keeps two draws of one step apart. Batches
    without a seed (evaluation, inference) draw from torch's global RNG."""
    if "noise_seed" not in batch:
        return draw(n, None)
    generator = torch.Generator().manual_seed(int(batch["noise_seed"]) * 16 + stream)
    if "shard" not in batch:
        return draw(n, generator)
    rank, world, rows = (int(v) for v in batch["shard"])
    return draw(rows, generator)[rank::world]


def labelled_part(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The keys ``batch_noise`` reads, for draws over the labelled rows ``x`` of a semi-supervised batch
    (training.semi): under torchrun those rows form a global batch of their own, ``labelled_shard``."""
    part = {k: batch[k] for k in ("noise_seed", "shard") if k in batch}
    if "labelled_shard" in batch:
        part["shard"] = batch["labelled_shard"]
    return part


@torch.no_grad()
def batched(fn: Callable[..., Outputs], *inputs: torch.Tensor | None, batch_size: int = 256,
            device: torch.device | str = "cpu", module: nn.Module | None = None,
            channels_last: bool = False) -> Outputs:
    """``fn`` over the rows of ``inputs`` (``None`` passes through) in slices of ``batch_size``,
    without autograd and with ``module`` in eval mode (its mode restored after), every output moved
    to the CPU and concatenated. The one inference loop: evaluation, predict, scoring and feature
    extraction all go through it, so each row is seen once and no loop forgets eval mode.
    ``channels_last``: image batches (B, C, H, W) in the layout oneDNN's convolutions run fastest in
    (the classic CNN's float32 forward: 2.2x faster than channels-first on 2 cores); batches of 256
    stay in cache (3x faster than 1,000 for that CNN, level for the MLP VAE)."""
    was_training = module.training if module is not None else False
    if module is not None:
        module.eval()
    n = len(next(t for t in inputs if t is not None))
    chunks = []
    try:
        for start in range(0, max(n, 1), batch_size):   # an empty input still gets shaped outputs
            rows = [None if t is None else t[start:start + batch_size].to(device) for t in inputs]
            if channels_last and rows[0].dim() == 4:
                rows[0] = rows[0].contiguous(memory_format=torch.channels_last)
            out = fn(*rows)
            chunks.append(tuple(o.cpu() for o in out) if isinstance(out, tuple) else out.cpu())
    finally:
        if module is not None:
            module.train(was_training)
    if isinstance(chunks[0], tuple):
        return tuple(torch.cat(parts) for parts in zip(*chunks))
    return torch.cat(chunks)


class Model(nn.Module):
    name: ClassVar[str] = ""               # set by @register
    # how to use it (summary, presets, training defaults, demo, search space; torch-free, in
    # ``neuralzoo/cards/``): set by @register(CARD)
    card: ClassVar[ModelCard]
    Config: ClassVar[type]                  # the hyperparameter dataclass
    monitor: ClassVar[tuple[str, str]] = ("loss", "min")   # validation metric and direction
    # True: training batches hold labelled x, y and unlabelled_x (training/semi.py, --labels N)
    uses_unlabelled: ClassVar[bool] = False
    # True where the untrained model is already its baseline (set in ``prepare``: the hybrid
    # forecaster); the loop then validates before the first step, and keeps that start if never beaten
    starts_as_baseline: bool = False
    # the automatic budget's floor of optimizer steps for this family (None: the loop's 4,000)
    auto_min_steps: ClassVar[int | None] = None
    # image models train and infer channels-last (--channels-last); False: only under bf16 autocast,
    # for a model whose float32 convolutions run faster channels-first (measured: the DCGAN)
    channels_last_float32: ClassVar[bool] = True
    precision: str = "float32"   # inference precision (set_precision); training has its own --bf16

    def __init__(self, config: Any, info: "DataInfo") -> None:
        super().__init__()
        self.config = config
        self.info = info

    @classmethod
    def for_task(cls, task: str) -> type["Model"]:
        """The class a model of this family is on data of ``task`` (classify, forecast, text): itself,
        except for families that pick a per-task subclass (the recurrent models). Capability checks
        on a class go through here: ``hasattr(cls.for_task("classify"), "predict_proba")``."""
        return cls

    @classmethod
    def needs_image(cls, config: Any) -> bool:
        """Whether this model, so configured, needs samples shaped (channels, height, width)."""
        return False

    # -- contract ---------------------------------------------------------------------------
    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def check_data(self, train: "ArrayData") -> None:
        """Refuse training data this model cannot learn from (one class for a classifier), before a
        run directory is made; a one-line error naming the source."""

    def prepare(self, cfg: "TrainConfig", train: "ArrayData") -> None:
        """Hook run once before training with the training data (e.g. class weights)."""
        for flag_name, off in (("class_balance", "none"), ("label_smoothing", 0.0)):
            if getattr(cfg, flag_name) != off:
                raise NeuralzooError(f"{flag_name} applies to classifiers only, not to {self.name!r}")

    def optimizers(self, cfg: "TrainConfig") -> list[torch.optim.Optimizer]:
        from .optimizers import make_optimizer

        return [make_optimizer(self.parameters(), cfg)]

    def train_step(self, batch: dict[str, torch.Tensor], optimizers: list[torch.optim.Optimizer],
                   ctx: TrainStepContext) -> dict[str, torch.Tensor]:
        """One optimisation step. ``ctx`` supplies autocast, the (possibly distributed) loss call,
        backward with the data-parallel scale, and ``update`` (clip, non-finite check, step)."""
        with ctx.autocast():
            out = ctx.loss(batch)
        ctx.backward(out["loss"])
        for opt in optimizers:
            ctx.update(opt, out["loss"])
        return out

    def set_precision(self, precision: str) -> "Model":
        """Inference precision: ``"float32"`` (the default) or ``"bf16"``, autocast to bfloat16
        (matrix products and convolutions in bf16, reductions and softmax in float32; outputs come
        back in float32). bf16 pays off only where the device computes it natively (a CPU with
        AVX512-BF16 or AMX, a recent CUDA GPU): elsewhere it is emulated, slower than float32 and
        less exact, and a RuntimeWarning says so. ``model.infer`` and the commands apply it; wrap
        other calls in ``with model.autocast():``. Returns the model."""
        if precision not in PRECISIONS:
            raise NeuralzooError(f"precision {precision!r}: unknown; precisions: {', '.join(PRECISIONS)}")
        if precision == "bf16" and not native_bf16(self.device):
            warnings.warn(f"precision bf16: this {self.device.type.upper()} has no native bf16 "
                          "(AVX512-BF16 / AMX on a CPU), so bf16 is emulated: slower than float32 and "
                          "less exact; use --precision float32 here", RuntimeWarning, stacklevel=2)
        self.precision = precision
        if precision == "bf16" and self.infers_channels_last:   # bf16 convolutions: channels-last
            self.to(memory_format=torch.channels_last)
        return self

    def autocast(self) -> ContextManager:
        """The inference precision as a context: bf16 autocast on this model's device, or nothing."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    # -- helpers ----------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def infers_channels_last(self) -> bool:
        """Inference (evaluation, predict) feeds image batches channels-last, unless the model runs
        faster channels-first in float32 (``channels_last_float32``) and infers in float32."""
        return self.info.is_image and (self.channels_last_float32 or self.precision == "bf16")

    def as_input(self, x: Any, name: str = "x", check_values: bool = True) -> torch.Tensor:
        """``x`` (NumPy or torch, any real dtype, one-channel images with or without the channel
        axis) as a float32 batch this model reads, or a one-line NeuralzooError (``model_input``).
        ``predict_proba``, ``anomaly_scores``, ``reconstruct`` and ``log_likelihood`` apply it;
        ``encode``, which training calls every step, only its shape and dtype part (no pass over
        the values: a well-formed float32 batch comes back as it is)."""
        return model_input(x, self.info, name, check_values)

    def infer(self, fn: Callable[..., Outputs], *inputs: torch.Tensor | None,
              batch_size: int = 256) -> Outputs:
        """``batched`` on this model's device, in eval mode, images channels-last, in the model's
        inference precision (outputs in float32): ``model.infer(model.encode, x)``."""
        def run(*rows: torch.Tensor | None) -> Outputs:
            with self.autocast():
                out = fn(*rows)
            if self.precision == "float32":
                return out
            return tuple(as_float(o) for o in out) if isinstance(out, tuple) else as_float(out)

        return batched(run, *inputs, batch_size=batch_size, device=self.device, module=self,
                       channels_last=self.infers_channels_last)


def model_input(x: Any, info: "DataInfo", name: str = "x", check_values: bool = True) -> torch.Tensor:
    """``x`` (a NumPy array, a torch tensor or nested lists; any real dtype) as a float32 batch of
    samples of ``info.input_shape``. One-channel images may come without their channel axis
    (N, H, W); sequences (N, steps, features) may have any number of steps. ``check_values``: refuse
    NaN or infinity, and pixels of a model trained on [0, 1] images (no contrast normalisation)
    outside [0, 1] (0-16 or 0-255 pixels fed unscaled would otherwise be classified silently).
    Anything else: a one-line NeuralzooError naming what was expected."""
    if not isinstance(x, torch.Tensor):
        import numpy as np

        try:
            x = torch.from_numpy(np.ascontiguousarray(np.asarray(x)))
        except (TypeError, ValueError):
            raise NeuralzooError(f"{name}: expected a NumPy array or torch tensor of numbers, got "
                                 f"{type(x).__name__}") from None
    if x.dtype == torch.bool or x.is_complex():
        raise NeuralzooError(f"{name}: expected real numbers, got dtype {x.dtype}")
    shape = tuple(info.input_shape)
    expected = f"(N, {', '.join(map(str, shape))})"
    if info.is_image and shape[0] == 1 and tuple(x.shape[1:]) == shape[1:]:
        x = x[:, None]   # one-channel images without the channel axis
    sequence = len(shape) == 2 and not info.is_image
    if sequence:
        fits, expected = x.dim() == 3 and x.shape[2] == shape[1], f"(N, steps, {shape[1]})"
    else:
        fits = tuple(x.shape[1:]) == shape
        if info.is_image and shape[0] == 1:
            expected += f" or (N, {shape[1]}, {shape[2]})"
    if x.dim() == 0 or not fits:
        raise NeuralzooError(f"{name}: shape {tuple(x.shape)}; the model takes {expected}")
    x = x if x.dtype == torch.float32 else x.float()
    if check_values and len(x):
        if not torch.isfinite(x).all():
            raise NeuralzooError(f"{name}: contains NaN or infinity")
        low, high = float(x.min()), float(x.max())
        if info.is_image and info.contrast is None and tuple(info.value_range) == (0.0, 1.0) and (
                low < 0 or high > 1):
            raise NeuralzooError(f"{name}: values in [{low:g}, {high:g}]; the model was trained on pixels "
                                 "in [0, 1]: scale them the same way (8-bit pixels / 255, the 0-16 digits / 16)")
    return x


def as_float(t: torch.Tensor) -> torch.Tensor:
    """Floating tensors in float32 (bf16 outputs of an autocast pass); others as they are."""
    return t.float() if t.is_floating_point() else t
