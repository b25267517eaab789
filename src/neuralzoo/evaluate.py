"""``neuralzoo evaluate``: metrics of a trained run on a named split, with the protocol beside them."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .api import load, run_dir_of
from .config import build
from .data import ArrayData, DataConfig, DataSplits, load_dataset
from .errors import NeuralzooError
from .models.base import Model, check_temperature
from .plots import save_confusion, save_predictions
from .training.context import StepContext, resolve_device
from .training.loop import evaluate_metrics


def eval_data_config(model: Model, overrides: dict[str, Any]) -> DataConfig:
    """The run's data config, with explicit overrides (another data set, data dir, ...)."""
    values = dict(model.run_config["data"])
    if "data" in overrides and overrides["data"] != values.get("data"):
        values = {"data_dir": values.get("data_dir")}  # a different data set: its own defaults
    values.update({k: v for k, v in overrides.items() if v is not None})
    values.pop("limit", None)  # evaluate on the whole split
    return build(DataConfig, values, "data config")


def load_eval_data(model: Model, config: DataConfig) -> DataSplits:
    """The evaluation data, checked against the model: sample shape, and labels indexed by the
    model's classes (data holding only some of the classes, e.g. digits 3 and 5, gets the model's
    indices, not 0..K-1 of its own). A model trained on contrast-normalised data sees any data with
    its own constants (``DataInfo.contrast``), never ones refitted on the evaluation data."""
    spec = model.info.contrast
    data = load_dataset(replace(config, contrast=spec["method"] if spec else "none"), contrast=spec)
    if data.info.task != model.info.task:
        raise NeuralzooError(f"data {data.info.name!r} is {data.info.task} data, but the model was "
                             f"trained on {model.info.task} data")
    if data.info.task in ("text", "forecast"):
        align_sequences(model.info, data)
    if tuple(data.info.input_shape) != tuple(model.info.input_shape):
        raise NeuralzooError(f"data {data.info.name!r} has samples of shape {data.info.input_shape}, "
                             f"but the model was trained on {tuple(model.info.input_shape)}")
    known, found = model.info.class_names, data.info.class_names
    if known is not None and found is not None and found != known:
        unknown = [name for name in found if name not in known]
        if unknown:
            raise NeuralzooError(f"data {data.info.name!r} has classes the model was not trained on: "
                                 f"{', '.join(unknown[:10])}; the model's classes: {', '.join(known)}")
        lookup = torch.tensor([known.index(name) for name in found])
        for split in ("train", "val", "test"):
            part = getattr(data, split)
            if part is not None and part.y is not None:
                setattr(data, split, replace(part, y=lookup[part.y]))
        data.info = replace(data.info, class_names=list(known), num_classes=len(known))
    return data


def align_sequences(trained, data: DataSplits) -> None:
    """Express other text / series data in the model's terms: character ids of the model's
    vocabulary (unknown characters -> its U+FFFD), values scaled by the model's training statistics."""
    spec, mine = data.info.sequence, trained.sequence
    if data.info.task == "text" and spec["vocabulary"] != mine["vocabulary"]:
        known = mine["vocabulary"]
        lookup = torch.tensor([known.find(c) if c in known else known.find("\ufffd")
                               for c in spec["vocabulary"]])
        remap = lambda part: replace(part, x=lookup[part.x], y=lookup[part.y])  # noqa: E731
    elif data.info.task == "forecast" and spec.get("transform", "none") != mine.get("transform", "none"):
        raise NeuralzooError(f"data {data.info.name!r} has transform {spec.get('transform', 'none')!r}, "
                             f"the model {mine.get('transform', 'none')!r} (set --transform)")
    elif data.info.task == "forecast" and (spec["mean"], spec["std"]) != (mine["mean"], mine["std"]):
        if spec["horizon"] != mine["horizon"] or len(spec["columns"]) != len(mine["columns"]):
            raise NeuralzooError(f"data {data.info.name!r} has horizon {spec['horizon']} and "
                                 f"{len(spec['columns'])} column(s); the model: {mine['horizon']} and "
                                 f"{len(mine['columns'])} (set --horizon / --value-columns)")
        old_mean, old_std, new_mean, new_std = (torch.tensor(v, dtype=torch.float32) for v in (
            spec["mean"], spec["std"], mine["mean"], mine["std"]))
        rescale = lambda t: ((t * old_std + old_mean) - new_mean) / new_std  # noqa: E731
        remap = lambda part: replace(part, x=rescale(part.x), y=rescale(part.y))  # noqa: E731
    else:
        return
    for split in ("train", "val", "test"):
        if getattr(data, split) is not None:
            setattr(data, split, remap(getattr(data, split)))
    keep = ("vocabulary",) if data.info.task == "text" else ("mean", "std")
    data.info = replace(data.info, sequence={**spec, **{k: mine[k] for k in keep}})


def evaluate_run(run_dir: str | Path, split: str = "test", which: str = "best",
                 device: str = "auto", data_overrides: dict[str, Any] | None = None,
                 out: str | Path | None = None, iw_samples: int = 5000,
                 quality_samples: int = 10000, inception: str | Path | None = None,
                 temperature: float = 1.0) -> dict[str, Any]:
    """Evaluate a run; writes eval.json (and confusion.png / predictions.png for classifiers,
    reconstructions.png / samples.png and the likelihood for autoencoders and VAEs; forecasting runs
    add the baselines' metrics on the same windows). ``temperature``: the standard deviation of the
    latent draws behind the sample-quality figures (1: the prior)."""
    run_dir = Path(run_dir)
    temperature = check_temperature(temperature)
    dev = resolve_device(device)
    model = load(run_dir, which, dev)
    data_config = eval_data_config(model, data_overrides or {})
    data = load_eval_data(model, data_config)
    part = data.split(split)
    if part.y is None and hasattr(model, "predict_proba"):
        raise NeuralzooError(f"{part.source or data.info.name}: the {split!r} split has no labels; "
                             f"evaluating classifier {model.run_config['model']!r} needs labelled data "
                             "(use predict for unlabelled inputs)")
    out_dir = Path(out) if out else run_dir_of(run_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    train_cfg = model.run_config["train"]
    result: dict[str, Any] = {
        "model": model.run_config["model"],
        "checkpoint": model.checkpoint,
        "protocol": {"data": data.info.name, "split": split, "samples": len(part),
                     "training_seed": train_cfg["seed"],
                     "split_seed": data_config.split_seed,
                     "description": data.info.description},
    }
    # evaluation runs in float32 so every reported figure agrees with predict_proba to the sample
    ctx = StepContext(loss=model.loss, device=dev, use_bf16=False)
    result["metrics"] = evaluate_metrics(model, part, 1000, ctx)
    if hasattr(model, "predict_proba") and part.y is not None:
        result.update(classification_report(model, part, data.info.class_names, out_dir))
    if data.info.task == "forecast":   # model and baselines, unscaled, on the same windows
        from .forecasting import forecast_report

        result["forecast"] = forecast_report(model, part, data.info.sequence)
    elif hasattr(model, "reconstruct"):
        from .latent_eval import latent_report

        if iw_samples < 1:
            raise NeuralzooError(f"iw_samples must be a positive integer, got {iw_samples}")
        result.update(latent_report(model, part, out_dir, iw_samples, seed=train_cfg["seed"]))
        result["protocol"]["binarize"] = data_config.binarize
        if "likelihood" in result:
            result["headline"] = {"metric": f"NLL (k={iw_samples}, nats)",
                                  "value": result["likelihood"]["nll"]}
        else:
            result["headline"] = {"metric": "squared error / example",
                                  "value": result["squared_error"]}
    if hasattr(model, "sample") and quality_samples:
        result.update(sample_quality(model, part, out_dir, quality_samples, train_cfg["seed"],
                                     inception, temperature))
    (out_dir / "eval.json").write_text(json.dumps(result, indent=2, default=_json_default) + "\n")
    return result


def sample_quality(model: Model, part: ArrayData, out_dir: Path, n: int, seed: int,
                   inception: str | Path | None = None, temperature: float = 1.0) -> dict[str, Any]:
    """Fréchet distance, precision/recall and the class histogram of ``n`` generated samples
    (z ~ N(0, temperature^2 I)) against ``n`` samples of ``part`` (GANs and VAEs alike), with a
    sample grid."""
    from .images import save_image_grid
    from .quality import feature_network, quality_report

    n = min(n, len(part))
    torch.manual_seed(seed)
    samples = torch.cat([model.sample(min(1000, n - i), temperature=temperature).cpu()
                         for i in range(0, n, 1000)])
    if model.info.is_image:
        save_image_grid(samples[:64], out_dir / "samples.png", nrow=8)
    out: dict[str, Any] = {}
    if inception is not None:   # the standard FID, with the user's local Inception weights
        from .inception import InceptionFeatures

        out["quality_inception"] = quality_report(samples, part.x[:n], InceptionFeatures(inception))
    net = feature_network(model.info.input_shape)
    if net is None:
        out["quality"] = {"note": f"no shipped feature network for samples of shape "
                                  f"{tuple(model.info.input_shape)}; sample quality not measured"}
        return out
    quality = out["quality"] = {**quality_report(samples, part.x[:n], net), "temperature": temperature}
    if not hasattr(model, "reconstruct"):   # GANs: the Fréchet distance is the headline
        out["headline"] = {"metric": f"Fréchet distance ({n} samples)", "value": quality["frechet_distance"]}
    return out


def classification_report(model: Model, part, class_names: list[str] | None, out_dir: Path) -> dict:
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    probs = model.predict_proba(part.x, lengths=part.lengths)
    predicted = probs.argmax(1).numpy()
    true = part.y.numpy()
    k = probs.shape[1]
    names = class_names or [str(i) for i in range(k)]
    precision, recall, f1, support = precision_recall_fscore_support(
        true, predicted, labels=list(range(k)), zero_division=0)
    matrix = confusion_matrix(true, predicted, labels=list(range(k)))
    save_confusion(matrix, names, out_dir / "confusion.png",
                   f"{model.run_config['model']}: accuracy {np.mean(predicted == true):.4f}")
    if part.x.dim() == 4:  # a picture of the first 32 test images, wrong ones highlighted
        n = min(32, len(part))
        save_predictions(part.x[:n].float().numpy(), [names[i] for i in predicted[:n]],
                         [names[i] for i in true[:n]], out_dir / "predictions.png")
    return {
        "accuracy": float(np.mean(predicted == true)),
        "errors": int(np.sum(predicted != true)),
        "macro_f1": float(np.mean(f1)),
        "per_class": {names[i]: {"precision": float(precision[i]), "recall": float(recall[i]),
                                 "f1": float(f1[i]), "support": int(support[i])} for i in range(k)},
        "confusion_matrix": matrix.tolist(),
    }


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.generic, torch.Tensor)):
        return value.item()
    raise TypeError(type(value).__name__)
