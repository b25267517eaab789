"""Robust accuracy of a classifier under L-infinity attacks (``neuralzoo attack``, ``evaluate
--robustness``): the share of samples still classified correctly when every input may move by up to
eps in each value.

eps is in the model's input units: pixels scaled to [0, 1] for images (the 8x8 digits are /16, MNIST
/255, so eps 0.3 is 0.3 * 255 grey levels), the clamp keeps adversarial inputs inside the data's
value range (``DataInfo.value_range``). Standardised inputs (feature vectors; images with
``--standardise on``) are attacked in standardised units (standard deviations of the training part),
as the model reads them: eps 0.3 on MNIST standardised by 0.3081 is 0.09 in pixels.

Methods: ``fgsm`` (one step; Goodfellow et al. 2015), ``pgd`` (Madry et al. 2018: 100 steps of 0.01
from a uniform start, the worst of ``restarts``), both ``training/adversarial.linf_pgd``, and
``autoattack`` from torchattacks (Croce & Hein 2020): ``standard`` APGD-CE, APGD-T (9 target
classes), FAB-T and Square (5000 queries), each attack only on the samples the ones before left
correct, with the authors' 100 iterations; ``apgd``: the cheaper APGD-CE + APGD-T pair, which
gives nearly all of the standard ensemble's reductions (Croce & Hein 2020, Table 2).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from ..errors import NeuralzooError
from ..models.base import Model
from ..training.adversarial import PGD_STEP_SIZE, check_eps, linf_pgd
from .base import EvaluationContext, Reporter

METHODS = ("fgsm", "pgd", "autoattack")
DEFAULT_LIMIT = 1000   # test samples attacked unless told: AutoAttack on all 10,000 takes hours on a CPU


@dataclass
class AttackSettings:
    """One robustness measurement: method, radii and the attack's budget."""

    method: str = "pgd"
    eps: tuple[float, ...] = (0.1, 0.2, 0.3)
    limit: int | None = DEFAULT_LIMIT   # the first N samples of the split; None: all
    steps: int = 100                     # pgd (Madry et al. 2018 evaluate with 100)
    step_size: float = PGD_STEP_SIZE
    restarts: int = 1
    version: str = "standard"            # autoattack: standard or apgd
    seed: int = 0
    batch_size: int = 500

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise NeuralzooError(f"method {self.method!r} is unknown; choose one of {', '.join(METHODS)}")
        if self.version not in ("standard", "apgd"):
            raise NeuralzooError(f"version {self.version!r} is unknown; choose standard or apgd")
        if not self.eps:
            raise NeuralzooError("eps: give at least one radius")
        for name in ("steps", "restarts", "batch_size"):
            if getattr(self, name) < 1:
                raise NeuralzooError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.limit is not None and self.limit < 1:
            raise NeuralzooError(f"limit must be >= 1, got {self.limit}")
        if not self.step_size > 0:
            raise NeuralzooError(f"step_size must be positive, got {self.step_size}")


def require_torchattacks() -> Any:
    try:
        import torchattacks
    except ImportError:
        raise NeuralzooError("AutoAttack needs torchattacks: pip install 'neuralzoo[robust]' (where "
                             "torchvision cannot be installed: pip install --no-deps torchattacks)") from None
    return torchattacks


def check_attackable(model: Model) -> tuple[float, float]:
    """The input range of a classifier of continuous inputs, or a one-line NeuralzooError."""
    if not hasattr(model, "predict_proba"):
        raise NeuralzooError(f"model {model.name!r} is not a classifier; attacks measure a classifier's "
                             "robust accuracy")
    if model.info.task != "classify" or model.info.text is not None:
        raise NeuralzooError(f"model {model.name!r} reads {model.info.task} data; attacks perturb "
                             "continuous inputs")
    low, high = (float(v) for v in model.info.value_range)
    return low, high


class UnitInputs(torch.nn.Module):
    """The classifier as torchattacks expects one: inputs in [0, 1] (mapped onto the model's value
    range), float32 logits, no autocast (bf16 gradients would blunt the attack)."""

    def __init__(self, model: Model, low: float, high: float) -> None:
        super().__init__()
        self.model, self.low, self.width = model, low, high - low
        self.shape = tuple(model.info.input_shape)

    def forward(self, unit: torch.Tensor) -> torch.Tensor:
        # torchattacks' Square and FAB read (N, C, H, W): other samples travel as (N, 1, 1, D)
        return self.model(self.low + self.width * unit.reshape(len(unit), *self.shape)).float()


def _logits(model: Model, x: torch.Tensor) -> torch.Tensor:
    return model(x).float()


def attack_batch(model: Model, x: torch.Tensor, y: torch.Tensor, eps: float, settings: AttackSettings,
                 value_range: tuple[float, float], generator: torch.Generator) -> torch.Tensor:
    """Adversarial versions of ``x`` (on the model's device, eval mode): for PGD, the first restart
    that fools the model per sample (the last draw where none does)."""
    low, high = value_range
    if settings.method == "autoattack":
        return _autoattack(model, x, y, eps, settings, value_range)

    def loss_for(labels: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        # the sum: each sample's own gradient
        return lambda inputs: F.cross_entropy(_logits(model, inputs), labels, reduction="sum")

    if settings.method == "fgsm":
        return linf_pgd(loss_for(y), x, eps, 1, eps, low, high, random_start=False)
    best = x.clone()
    fooled = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    for _ in range(settings.restarts):   # each restart attacks only the samples no draw has fooled yet
        left = torch.nonzero(~fooled).flatten()
        candidate = linf_pgd(loss_for(y[left]), x[left], eps, settings.steps, settings.step_size, low,
                             high, random_start=True, generator=generator)
        best[left] = candidate   # the first success stays, else the latest draw
        with torch.no_grad():
            fooled[left] = _logits(model, candidate).argmax(1) != y[left]
        if bool(fooled.all()):
            break
    return best


def _autoattack(model: Model, x: torch.Tensor, y: torch.Tensor, eps: float, settings: AttackSettings,
                value_range: tuple[float, float]) -> torch.Tensor:
    attacks = require_torchattacks()
    low, high = value_range
    net, unit_eps = UnitInputs(model, low, high), eps / (high - low)
    classes, seed = model.num_classes, settings.seed
    # the authors' standard settings (fra31/auto-attack, version="standard"): 100 iterations, one
    # restart, 9 target classes; torchattacks' own AutoAttack keeps its 10-step defaults, so the
    # ensemble is assembled here
    ensemble = [attacks.APGD(net, norm="Linf", eps=unit_eps, steps=100, n_restarts=1, loss="ce", seed=seed),
                attacks.APGDT(net, norm="Linf", eps=unit_eps, steps=100, n_restarts=1, n_classes=classes,
                              seed=seed)]
    if settings.version == "standard":
        ensemble += [attacks.FAB(net, norm="Linf", eps=unit_eps, steps=100, n_restarts=1,
                                 multi_targeted=True, n_classes=classes, seed=seed),
                     attacks.Square(net, norm="Linf", eps=unit_eps, n_queries=5000, n_restarts=1, seed=seed)]
    unit = ((x - low) / (high - low)).clamp(0, 1)
    if unit.dim() != 4:   # vectors and sequences: one row of "pixels"
        unit = unit.reshape(len(unit), 1, 1, -1)
    adversarial = attacks.MultiAttack(ensemble)(unit, y)
    return (low + (high - low) * adversarial).reshape(x.shape).detach()


def robust_accuracy(model: Model, x: torch.Tensor, y: torch.Tensor, settings: AttackSettings,
                    keep: int = 8) -> dict[str, Any]:
    """Clean and robust accuracy (%) of ``model`` on (x, y) per eps of ``settings``; under
    ``"examples"`` the first ``keep`` originals and their adversarial versions at the largest eps."""
    value_range = check_attackable(model)
    radii = [check_eps(e, value_range) for e in settings.eps]
    if settings.limit is not None:
        x, y = x[:settings.limit], y[:settings.limit]
    device = model.device
    generator = torch.Generator().manual_seed(settings.seed)
    was_training = model.training
    model.eval()
    correct: dict[float, int] = {eps: 0 for eps in radii}
    clean, examples = 0, None
    try:
        with torch.autocast(device.type, enabled=False), torch.enable_grad():
            for start in range(0, len(x), settings.batch_size):
                xb = x[start:start + settings.batch_size].to(device).float()
                yb = y[start:start + settings.batch_size].to(device)
                with torch.no_grad():
                    clean += int((_logits(model, xb).argmax(1) == yb).sum())
                for eps in radii:
                    adversarial = attack_batch(model, xb, yb, eps, settings, value_range, generator)
                    with torch.no_grad():
                        correct[eps] += int((_logits(model, adversarial).argmax(1) == yb).sum())
                    if start == 0 and eps == max(radii):
                        examples = (xb[:keep].cpu(), adversarial[:keep].cpu())
    finally:
        model.train(was_training)
    n = len(x)
    return {"method": settings.method if settings.method != "autoattack" else
            f"autoattack ({settings.version})", "samples": n,
            "eps_units": (f"model input units: values in [{value_range[0]:g}, {value_range[1]:g}]"
                          + ("; images scaled to [0, 1]" if model.info.is_image else "")),
            "clean_accuracy": 100.0 * clean / n,
            "robust_accuracy": {f"{eps:g}": 100.0 * correct[eps] / n for eps in radii},
            "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(settings).items()},
            "examples": examples}


def save_pictures(model: Model, result: dict[str, Any], out_stem: Path) -> list[Path]:
    """The curve of robust accuracy over eps (PNG) and, for images, originals above their adversarial
    versions at the largest eps."""
    from ..images import save_image_grid
    from ..plots import save_robustness_curve

    written = [save_robustness_curve(result, out_stem.with_name(out_stem.name + "_curve.png"))]
    if result.get("examples") is not None and model.info.is_image:
        originals, adversarial = result["examples"]
        low, high = (float(v) for v in model.info.value_range)
        grid = (torch.cat([originals, adversarial]) - low) / (high - low)
        written.append(save_image_grid(grid, out_stem.with_name(out_stem.name + "_examples.png"),
                                       nrow=len(originals), min_size=56))   # 8x8 digits: 7x
    return written


class RobustnessReporter(Reporter):
    """``evaluate --robustness``: the ``robustness`` block of eval.json (no headline)."""

    name = "robustness"

    def applies(self, ctx: EvaluationContext) -> bool:
        if ctx.robustness is None:
            return False
        check_attackable(ctx.model)   # asked for on a model that is not a classifier: one line, exit 2
        return True

    def report(self, ctx: EvaluationContext) -> dict[str, Any]:
        part = ctx.part
        result = robust_accuracy(ctx.model, part.x, part.y, ctx.robustness)
        save_pictures(ctx.model, result, ctx.out_dir / "robustness")
        result.pop("examples")
        result["split"] = ctx.split
        return {"robustness": result}
