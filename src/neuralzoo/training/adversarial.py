"""L-infinity attacks by projected gradient ascent, and adversarial training's seam in the loop.

``linf_pgd`` is the one implementation behind FGSM (one step of size eps from the input; Goodfellow et
al. 2015), FGSM with a random start (Wong et al. 2020, "Fast is better than free": one step of 1.25 eps
from a uniform draw in the ball) and PGD (Madry et al. 2018: a uniform start, then steps of the
gradient's sign, each projected back onto the eps-ball and the input range). ``neuralzoo attack``
(``evaluation/robustness.py``) measures with it; ``--adversarial`` trains on its outputs: the loop
replaces each training batch's inputs by their adversarial versions before the model's own step, as
it augments them, so every model keeps its ``train_step`` and the loop stays one loop. TRADES (Zhang
et al. 2019) keeps the clean inputs and adds the adversarial ones as ``adversarial_x`` with the KL
term's weight: classifiers' ``loss`` adds the term when the batch holds them.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import torch
import torch.nn.functional as F

from ..config import TrainConfig
from ..errors import NeuralzooError
from ..models.base import Model, TrainStepContext

# Madry et al. 2018 (MNIST, eps 0.3): 40 steps of 0.01 in training, 100 in their evaluation
PGD_STEP_SIZE = 0.01
# Wong et al. 2020: FGSM from a random start with step 1.25 eps avoids the catastrophic overfitting
# of plain FGSM training
FGSM_RS_STEP = 1.25
# Zhang et al. 2019's start for TRADES's inner maximisation: x + 0.001 N(0, I), not a uniform draw
TRADES_START_STD = 0.001


def linf_pgd(loss_of: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, eps: float, steps: int,
             step_size: float, low: float, high: float, random_start: bool = True,
             generator: torch.Generator | None = None, start: torch.Tensor | None = None) -> torch.Tensor:
    """Inputs within ``eps`` of ``x`` (L-infinity) and inside [low, high] that ascend ``loss_of``
    (inputs -> scalar loss) by ``steps`` signed-gradient steps of ``step_size``; the start is uniform
    in the ball with ``random_start``, or ``start`` (projected onto the ball) when given. Draws come
    from ``generator``, else torch's global one (whose state checkpoints save, so adversarial training
    resumes exactly)."""
    x = x.detach()
    lower, upper = (x - eps).clamp(min=low), (x + eps).clamp(max=high)
    if start is not None:
        adversarial = torch.max(torch.min(start.detach(), upper), lower)
    elif random_start and eps > 0:
        noise = torch.rand(x.shape, generator=generator, device="cpu" if generator is not None else
                           x.device).to(x.device, x.dtype)
        adversarial = torch.max(torch.min(x + (noise * 2 - 1) * eps, upper), lower)
    else:
        adversarial = x.clone()
    for _ in range(steps if eps > 0 else 0):
        adversarial.requires_grad_(True)
        with torch.enable_grad():
            (gradient,) = torch.autograd.grad(loss_of(adversarial), adversarial)
        # projection onto the intersection of the ball and the range: a box, so a clamp
        adversarial = torch.max(torch.min(adversarial.detach() + step_size * gradient.sign(), upper), lower)
    return adversarial.detach()


@contextlib.contextmanager
def frozen_batch_norm(model: torch.nn.Module) -> Iterator[None]:
    """Batch-norm layers normalise with the batch's statistics as in training but leave their running
    statistics alone: the attack's extra forward passes must not move what evaluation uses."""
    layers = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
              and m.momentum is not None]
    saved = [m.momentum for m in layers]
    for m in layers:
        m.momentum = 0.0   # running = (1 - 0) * running + 0 * batch
    try:
        yield
    finally:
        for m, momentum in zip(layers, saved):
            m.momentum = momentum


class AdversarialTraining:
    """``--adversarial pgd|fgsm-rs``: each training batch's inputs replaced by adversarial ones for
    the model's loss (the model's own loss: class weights and label smoothing included), computed
    in training mode with the step's autocast. ``trades``: the clean inputs stay, and the inputs that
    ascend the KL divergence of their predictions from the clean ones join them (eq. 5)."""

    def __init__(self, model: Model, cfg: TrainConfig) -> None:
        if not hasattr(model, "predict_proba"):
            raise NeuralzooError(f"adversarial: model {model.name!r} is not a classifier; adversarial "
                                 "training perturbs a classifier's inputs")
        info = model.info
        if info.task != "classify" or info.text is not None:
            raise NeuralzooError(f"adversarial: {info.name!r} holds {info.task} data; adversarial training "
                                 "perturbs continuous inputs of a classifier")
        self.low, self.high = (float(v) for v in info.value_range)
        self.eps = check_eps(cfg.adversarial_eps, (self.low, self.high), "adversarial_eps")
        self.model, self.method = model, cfg.adversarial
        self.beta = cfg.adversarial_beta
        if cfg.adversarial in ("pgd", "trades"):
            self.steps, self.step_size = cfg.adversarial_steps, cfg.adversarial_step_size or PGD_STEP_SIZE
        else:
            self.steps = 1
            self.step_size = cfg.adversarial_step_size or FGSM_RS_STEP * self.eps

    def __call__(self, batch: dict[str, torch.Tensor], ctx: TrainStepContext) -> dict[str, torch.Tensor]:
        """The batch the model's step sees: its inputs replaced, or for TRADES extended."""
        if self.method == "trades":
            return {**batch, "adversarial_x": self.trades_inputs(batch, ctx),
                    "adversarial_weight": torch.tensor(self.beta)}

        def loss_of(x: torch.Tensor) -> torch.Tensor:
            with ctx.autocast():
                return self.model.loss({**batch, "x": x})["loss"].float()

        with frozen_batch_norm(self.model):
            return {**batch, "x": linf_pgd(loss_of, batch["x"], self.eps, self.steps, self.step_size,
                                           self.low, self.high, random_start=True)}

    def trades_inputs(self, batch: dict[str, torch.Tensor], ctx: TrainStepContext) -> torch.Tensor:
        """Zhang et al. 2019's inner maximisation: PGD on sum KL(f(x) || f(x')) from x + 0.001 N(0, I)."""
        x = batch["x"]
        with frozen_batch_norm(self.model), torch.no_grad(), ctx.autocast():
            clean = F.softmax(self.model(x).float(), 1)   # (B, K), fixed during the attack

        def loss_of(inputs: torch.Tensor) -> torch.Tensor:
            with ctx.autocast():
                log_q = F.log_softmax(self.model(inputs).float(), 1)
            return F.kl_div(log_q, clean, reduction="sum")

        start = x + TRADES_START_STD * torch.randn(x.shape, device=x.device, dtype=x.dtype)
        with frozen_batch_norm(self.model):
            return linf_pgd(loss_of, x, self.eps, self.steps, self.step_size, self.low, self.high,
                            start=start)

    def describe(self) -> str:
        start = "start x + 0.001 N(0, I)" if self.method == "trades" else "random start"
        beta = f", KL weight {self.beta:g}" if self.method == "trades" else ""
        return (f"adversarial training: {self.method}, eps {self.eps:g}, {self.steps} step(s) of "
                f"{self.step_size:g}, {start}{beta}")


def check_eps(eps: float | None, value_range: tuple[float, float], name: str = "eps") -> float:
    """``eps`` as a float in [0, the width of the input range], or a one-line NeuralzooError."""
    low, high = value_range
    if eps is None:
        raise NeuralzooError(f"{name}: give the L-infinity radius in the model's input units "
                             f"(its inputs lie in [{low:g}, {high:g}])")
    if not 0 <= eps <= high - low:
        raise NeuralzooError(f"{name} {eps:g} is outside the input range: the model's inputs lie in "
                             f"[{low:g}, {high:g}], so eps must be in [0, {high - low:g}]")
    return float(eps)
