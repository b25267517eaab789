"""Differentially private training: DP-SGD (Abadi et al. 2016) through Opacus, at the loop's set-up seam.

Each step samples its batch by Poisson sampling (every training sample joins with probability
q = batch_size / N, drawn from a generator seeded by (seed, step), so a resumed run draws the same
batches), Opacus computes each sample's gradient, clips it to ``dp_max_grad_norm`` and adds Gaussian
noise of standard deviation sigma * C to their sum. sigma is calibrated once, before the first step,
so that the accountant (PRV, Gopi et al. 2021, or RDP, Mironov 2017) reaches ``dp_epsilon`` at
``dp_delta`` after the planned steps. The accountant's history (sigma, q, steps) travels as JSON in the
checkpoint's state, so a resumed run goes on counting from where it stopped.

Models never see Opacus: the api calls ``privacy_checks.check_privacy`` (before a run directory
exists), the loop ``Privacy`` (optimizer, sampling, accounting) and ``privacy_layers.private_layers``
(batch norm and the recurrent layers swapped for ones with per-sample gradients; ``runs.load`` too).

Noise and Poisson sampling come from seeded generators: the guarantee holds against an adversary who
does not know the seed (Opacus's default, non-secure mode; its ``secure_mode`` is not exposed).
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from typing import Any, Iterator

import torch
from torch import nn

from ..config import TrainConfig
from ..errors import NeuralzooError
from .privacy_checks import delta_of, import_opacus, too_many_rows

EPSILON_TOLERANCE = 0.01   # the calibrated sigma spends between epsilon - 0.01 and epsilon


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Opacus's expected chatter: the RDP accountant at the edge of its alpha grid (the bound is still
    valid, only less tight; the PRV accountant uses it as a first bracket)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Optimal order is the largest alpha")
        yield


@functools.lru_cache(maxsize=64)
def calibrated_noise(epsilon: float, delta: float, sample_rate: float, steps: int, accountant: str) -> float:
    """The noise multiplier that spends ``epsilon`` at ``delta`` after ``steps`` at ``sample_rate``
    (Opacus's bisection, a few dozen accountant calls: 0.5 s with RDP, 1.5 s with PRV). Cached: a pure
    function of its arguments, which a resumed run, a study's trials or repeated estimator fits share."""
    from opacus.accountants.utils import get_noise_multiplier

    with quiet():
        return get_noise_multiplier(target_epsilon=epsilon, target_delta=delta, sample_rate=sample_rate,
                                    steps=steps, accountant=accountant, epsilon_tolerance=EPSILON_TOLERANCE)


@functools.lru_cache(maxsize=256)
def spent_epsilon(accountant: str, history: tuple[tuple[float, float, int], ...], delta: float) -> float:
    """The accountant's epsilon for a history of (sigma, q, steps): once per history (each epoch's log
    line and each checkpoint ask; the PRV accountant takes ~0.2 s)."""
    from opacus.accountants import create_accountant

    counter = create_accountant(accountant)
    counter.history = list(history)
    with quiet():
        return float(counter.get_epsilon(delta=delta))


def float32_clipping() -> type:
    """Opacus's ``DPOptimizer`` with the per-sample gradients in float32 before their norms are taken.
    Under bf16 autocast the hooks compute them in bf16, and a norm rounded to bf16's 8 bits is off by up
    to 0.4%: clipped to C by that norm, a sample's gradient could reach 1.004 C, above the sensitivity
    the noise is calibrated for. In float32 the clipped norm is C to float32's precision."""
    from opacus.optimizers import DPOptimizer

    class Float32Clipping(DPOptimizer):
        def clip_and_accumulate(self) -> None:
            for p in self.params:
                if isinstance(p.grad_sample, torch.Tensor) and p.grad_sample.dtype != torch.float32:
                    p.grad_sample = p.grad_sample.float()
            super().clip_and_accumulate()

    return Float32Clipping


def privacy_state(privacy: "Privacy | None") -> dict[str, Any]:
    """``{"privacy": state}`` for a checkpoint or a summary; nothing for a run without DP."""
    return {"privacy": privacy.state_dict()} if privacy else {}


class Privacy:
    """One private run: the calibrated noise, Poisson sampling, Opacus's optimizer, the accountant."""

    @classmethod
    def planned(cls, cfg: TrainConfig, samples: int, planned_steps: int, info: Any = None) -> "Privacy | None":
        """The run's privacy, or None without ``dp_epsilon``."""
        return None if cfg.dp_epsilon is None else cls(cfg, samples, planned_steps, info)

    def __init__(self, cfg: TrainConfig, samples: int, planned_steps: int, info: Any = None) -> None:
        import_opacus()
        from opacus.accountants import create_accountant

        self.cfg, self.samples, self.planned_steps = cfg, samples, planned_steps
        # statistics the data loader fitted on the training part: published beside the weights, and
        # not covered by the accounting
        fitted = (("the standardisation's means and standard deviations (--standardise off)", "standardise"),
                  ("contrast normalisation", "contrast"), ("the series' scaling and preprocessing", "series"))
        self.fitted = [what for what, field in fitted if getattr(info, field, None) is not None]
        self.delta = delta_of(cfg, samples)
        self.sample_rate = min(1.0, cfg.batch_size / samples)
        self.accountant = create_accountant(cfg.dp_accountant)
        try:
            self.noise_multiplier = calibrated_noise(cfg.dp_epsilon, self.delta, self.sample_rate, planned_steps,
                                                     cfg.dp_accountant)
        except ValueError as e:   # "The privacy budget is too low": sigma beyond 1e6
            raise NeuralzooError(f"dp_epsilon {cfg.dp_epsilon:g}: no noise level reaches it in "
                                 f"{planned_steps} steps at sample rate {self.sample_rate:.3g} ({e})") from None
        self.rows = 0   # samples in the current step's batch

    # -- set-up ---------------------------------------------------------------------------------
    def wrap(self, model: nn.Module, optimizers: list[torch.optim.Optimizer]) -> list[torch.optim.Optimizer]:
        """Per-sample gradient hooks on ``model`` (its own forward keeps working: the hooks sit on
        its layers) and Opacus's DP optimizer around its one optimizer, counting every step."""
        from opacus import GradSampleModule
        from opacus.validators import ModuleValidator

        name = getattr(model, "name", type(model).__name__)
        problems = ModuleValidator.validate(model, strict=False)
        try:
            if problems:
                raise NeuralzooError(str(problems[0]).splitlines()[0])
            self.hooks = GradSampleModule(model, batch_first=True, loss_reduction="mean", strict=True)
        except (NeuralzooError, NotImplementedError) as e:
            raise NeuralzooError(f"dp_epsilon: Opacus cannot train {name!r} privately: "
                                 f"{str(e).splitlines()[0][:200]}") from None
        optimizer = float32_clipping()(optimizers[0], noise_multiplier=self.noise_multiplier,
                                max_grad_norm=self.cfg.dp_max_grad_norm,
                                expected_batch_size=self.cfg.batch_size, loss_reduction="mean")
        optimizer.attach_step_hook(self.count_step)
        # benign, once per run: the first layer's input needs no gradient (torch says so on backward)
        warnings.filterwarnings("ignore", "Full backward hook is firing when gradients are computed")
        self.name = name
        return [optimizer]

    def count_step(self, optimizer: Any) -> None:
        """After clipping and noise, before the update: check that the model's layers saw one row per
        sample (a loss that stacks several views of a sample, such as the rotation pretext task's four
        rotations, would clip each view alone and leak more than the accountant counts), then count."""
        rows = {int(g.shape[0]) for g in optimizer.grad_samples}
        if rows - {self.rows}:
            raise NeuralzooError(too_many_rows(self.name, max(rows), self.rows))
        self.accountant.step(noise_multiplier=self.noise_multiplier, sample_rate=self.sample_rate)

    def describe(self, replaced: list[str]) -> str:
        """The run's first line about privacy: the budget, the noise it needs, what was replaced."""
        swapped = f"; replaced for per-sample gradients: {'; '.join(replaced)}" if replaced else ""
        if self.fitted:
            swapped += f"; not covered: {', '.join(self.fitted)} fitted on the training data"
        return (f"DP-SGD: epsilon {self.cfg.dp_epsilon:g} at delta {self.delta:.3g} after {self.planned_steps} "
                f"steps ({self.cfg.dp_accountant.upper()} accountant): noise multiplier "
                f"{self.noise_multiplier:.4g}, per-sample clipping at {self.cfg.dp_max_grad_norm:g}, Poisson "
                f"sampling at rate {self.sample_rate:.4g}{swapped}")

    # -- each step ------------------------------------------------------------------------------
    def sample(self, step: int, seed: int) -> torch.Tensor:
        """The indices of step ``step``'s Poisson batch: each sample in with probability q."""
        generator = torch.Generator().manual_seed(seed * 1_000_003 + step + 7_919)
        index = torch.nonzero(torch.rand(self.samples, generator=generator) < self.sample_rate).flatten()
        self.rows = len(index)
        return index

    def empty_step(self, optimizer: Any) -> None:
        """An empty Poisson batch still releases a noisy update (the accountant counts every step)."""
        for group in optimizer.param_groups:
            for p in group["params"]:
                p.grad_sample = p.new_zeros((0, *p.shape))
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    # -- accounting and state -------------------------------------------------------------------
    @property
    def steps(self) -> int:
        return sum(steps for _, _, steps in self.accountant.history)

    def epsilon(self) -> float:
        """The epsilon spent so far (0 before the first step)."""
        if not self.accountant.history:
            return 0.0
        return spent_epsilon(self.cfg.dp_accountant, tuple(map(tuple, self.accountant.history)), self.delta)

    def state_dict(self) -> dict[str, Any]:
        """JSON for the checkpoint: the settings, the calibrated noise and the accountant's history."""
        return {"epsilon": self.epsilon(), "delta": self.delta, "target_epsilon": self.cfg.dp_epsilon,
                "accountant": self.cfg.dp_accountant, "noise_multiplier": self.noise_multiplier,
                "sample_rate": self.sample_rate, "max_grad_norm": self.cfg.dp_max_grad_norm,
                "planned_steps": self.planned_steps, "steps": self.steps, "sampling": "poisson",
                "history": [list(entry) for entry in self.accountant.history]}

    def load_state_dict(self, saved: dict[str, Any] | None, where: str) -> None:
        """Go on from a checkpoint: the same noise, the accountant's history as it was."""
        if saved is None:
            raise NeuralzooError(f"{where}: this run was trained without dp_epsilon; it cannot become private "
                                 "on resume (start a new run)")
        for key, now in (("target_epsilon", self.cfg.dp_epsilon), ("delta", self.delta),
                         ("accountant", self.cfg.dp_accountant), ("max_grad_norm", self.cfg.dp_max_grad_norm)):
            if saved[key] != now:
                raise NeuralzooError(f"{where}: a resumed private run keeps its privacy settings ({key} was "
                                     f"{saved[key]}, now {now})")
        self.noise_multiplier = float(saved["noise_multiplier"])
        self.accountant.history = [(float(s), float(q), int(n)) for s, q, n in saved["history"]]
        if self.planned_steps != saved["planned_steps"]:
            print(f"note: the noise was calibrated for {saved['planned_steps']} steps; this run now plans "
                  f"{self.planned_steps}, so it ends at a different epsilon than {self.cfg.dp_epsilon:g}",
                  flush=True)


def spent(state: dict[str, Any]) -> dict[str, Any] | None:
    """A checkpoint state's privacy block without the accountant's history (eval.json, summaries)."""
    block = state.get("privacy")
    if not block:
        return None
    return {k: v for k, v in block.items() if k != "history"} | {
        "guarantee": f"({block['epsilon']:.3g}, {block['delta']:.3g})-DP for each training sample"}


__all__ = ["Privacy", "privacy_state", "spent"]
