"""Evaluation: metrics of a trained run on a named split, with the protocol beside them.

``evaluate_run`` loads the run, expresses the data in the model's terms (``data.py``), then walks
``REPORTERS`` (the model's own loss metrics over the split come from the one reporter pass that has
them, else from one pass of ``model.loss`` when first asked for): each capability has one reporter
(``base.Reporter``) that decides whether it applies to the model and writes its block of eval.json.
The headline (the one figure the demo and the CLI show) comes from the first reporter that gives one.
Add a metric: a reporter in its own module, one line in ``REPORTERS``. Then the baselines
(``baselines.py``, ``baseline_figures.py``) go beside the model's figures, with a ``BaselineWarning``
(after eval.json is written) when the model is behind the best of them on validation.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.labels import labelled_part
from ..errors import BaselineWarning, NeuralzooError
from ..models.base import check_temperature
from ..runs import load, run_dir_of
from ..training.checkpoint import atomic_write
from ..training.context import StepContext, resolve_device
from ..training.faults import check_not_in_use
from ..training.metrics import evaluate_metrics
from .anomaly import AnomalyReporter
from .base import EvaluationContext, Headline, Reporter
from .baseline_figures import baseline_check, baseline_report
from .classification import ClassificationReporter
from .data import eval_data_config, load_eval_data
from .forecasting import ForecastReporter
from .privacy import PrivacyReporter
from .quality import SampleQualityReporter
from .reconstruction import ReconstructionReporter
from .representation import RepresentationReporter
from .robustness import RobustnessReporter
from .text import TextReporter

# in headline priority: a VAE's likelihood before the quality of its samples
REPORTERS: tuple[Reporter, ...] = (ClassificationReporter(), ForecastReporter(), TextReporter(),
                                   ReconstructionReporter(), AnomalyReporter(), SampleQualityReporter(),
                                   RepresentationReporter(), PrivacyReporter(), RobustnessReporter())

__all__ = ["REPORTERS", "EvaluationContext", "Headline", "Reporter", "baseline_check",
           "eval_data_config", "evaluate_run", "load_eval_data"]


def evaluate_run(run_dir: str | Path, split: str = "test", which: str = "best",
                 device: str = "auto", data_overrides: dict[str, Any] | None = None,
                 out: str | Path | None = None, iw_samples: int = 5000,
                 quality_samples: int = 10000, inception: str | Path | None = None,
                 temperature: float = 1.0, precision: str = "float32",
                 baselines: bool = True, robustness: Any = None) -> dict[str, Any]:
    """Evaluate a run; writes eval.json (and each reporter's pictures) to ``out`` (default: the run
    directory) and returns its contents. ``temperature``: the standard deviation of the latent draws
    behind the sample-quality figures (1: the prior); ``precision``: float32, or bf16 autocast to
    measure what bf16 inference costs (``Model.set_precision``); ``baselines``: the baselines beside
    the model (``baselines.py``: fitted on the training part, so the training part is loaded), with a
    ``BaselineWarning`` when the model is behind the best of them on validation; ``robustness``:
    ``robustness.AttackSettings``, a classifier's robust accuracy under that attack."""
    temperature = check_temperature(temperature)
    if quality_samples < 0:
        raise NeuralzooError(f"quality_samples must be >= 0, got {quality_samples}")
    if out is None or Path(out).resolve() == run_dir_of(run_dir).resolve():
        check_not_in_use(run_dir_of(run_dir), "evaluation")   # not into a run a live process trains in
    dev = resolve_device(device)
    model = load(run_dir, which, dev, precision)
    data_config = eval_data_config(model, data_overrides or {})
    data = load_eval_data(model, data_config, need_validation=split != "test")
    if data.train is not None:   # --labels: the training split is its N labelled samples here
        data.train = labelled_part(data.train)
    part = data.split(split)
    if part.y is None and hasattr(model, "predict_proba"):
        raise NeuralzooError(f"{part.source or data.info.name}: the {split!r} split has no labels; "
                             f"evaluating classifier {model.run_config.model!r} needs labelled data "
                             "(use predict for unlabelled inputs)")
    out_dir = Path(out) if out else run_dir_of(run_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seed = model.run_config.train.seed
    # evaluation runs in the inference precision so every figure agrees with predict_proba to the sample
    step = StepContext(loss=model.loss, device=dev, use_bf16=model.precision == "bf16",
                       channels_last=model.infers_channels_last)
    ctx = EvaluationContext(model, data, split, out_dir, seed,
                            lambda: evaluate_metrics(model, part, 256, step), iw_samples,
                            quality_samples, inception, temperature, robustness=robustness)
    result: dict[str, Any] = {
        "model": model.run_config.model,
        "checkpoint": model.checkpoint,
        "protocol": {"data": data.info.name, "split": split, "samples": len(part),
                     "training_seed": seed, "split_seed": data_config.split_seed,
                     "binarize": data_config.binarize, "precision": model.precision,
                     "description": data.info.description},
        "metrics": {},
        "reporters": [],
    }
    headline: Headline | None = None
    for reporter in REPORTERS:
        if not reporter.applies(ctx):
            continue
        with model.autocast():   # bf16 where asked; float32 outputs are cast back by the reporters
            block = reporter.report(ctx)
        result.update(block)
        result["reporters"].append(reporter.name)
        headline = headline or reporter.headline(block)
    result["metrics"] = ctx.metrics
    if baselines:
        # the reporters keep the test-only load (no training part, or no validation split drawn);
        # the baselines are fitted on the training part and compared on validation: loaded here
        loaded = split != "test" or (data.val is not None and len(data.train) > 0)
        full = data if loaded else load_eval_data(model, data_config, need_validation=True)
        result.update(baseline_report(replace(ctx, data=full), result))
    if headline is None and "loss" in ctx.metrics:
        headline = Headline("loss", ctx.metrics["loss"], higher_is_better=False)
    result["headline"] = headline.to_dict() if headline else None
    atomic_write(out_dir / "eval.json", (json.dumps(result, indent=2, default=_json_default) + "\n").encode())
    for message in result.get("warnings", []):   # after eval.json: an error filter loses nothing
        warnings.warn(message, BaselineWarning, stacklevel=2)
    return result


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.generic, torch.Tensor)):
        return value.item()
    raise TypeError(type(value).__name__)
