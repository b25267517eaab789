"""Evaluation data in the model's terms: the run's own data set (or another one named by flags),
checked against the model and expressed with the model's constants (classes, vocabulary, scaling,
contrast normalisation, standardisation), never with constants refitted on the data being scored."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from ..fields import build, to_dict
from ..data import DataConfig, DataInfo, DataSplits, load_dataset
from ..errors import NeuralzooError
from ..models.base import Model


def eval_data_config(model: Model, overrides: dict[str, Any]) -> DataConfig:
    """The run's data config, with explicit overrides (another data set, data dir, ...)."""
    values = to_dict(model.run_config.data)
    if "data" in overrides and overrides["data"] != values.get("data"):
        values = {"data_dir": values.get("data_dir")}  # a different data set: its own defaults
    values.update({k: v for k, v in overrides.items() if v is not None})
    values.pop("limit", None)  # evaluate on the whole split
    series = model.info.series
    if series is not None and values.get("transform", "auto") == "auto":
        values["transform"] = series.transform   # what the run chose, not a choice made again here
    return build(DataConfig, values, "data config")


def load_eval_data(model: Model, config: DataConfig, need_validation: bool = True) -> DataSplits:
    """The evaluation data, checked against the model: sample shape, and labels indexed by the
    model's classes (data holding only some of the classes, e.g. digits 3 and 5, gets the model's
    indices, not 0..K-1 of its own). A model trained on contrast-normalised data sees any data with
    its own constants (``DataInfo.contrast``, ``DataInfo.standardise``), never ones refitted on the
    evaluation data."""
    spec, scaling = model.info.contrast, model.info.standardise
    config = replace(config, contrast=spec["method"] if spec else "none",
                     standardise="on" if scaling is not None else "off")
    data = load_dataset(config, contrast=spec, need_validation=need_validation,
                        standardisation=scaling)
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


def align_sequences(trained: DataInfo, data: DataSplits) -> None:
    """Express other text / series data in the model's terms: character ids of the model's
    vocabulary (unknown characters -> its U+FFFD), values scaled by the model's training statistics."""
    info = data.info
    if info.task == "text" and info.text.vocabulary != trained.text.vocabulary:
        known = trained.text.vocabulary
        lookup = torch.tensor([known.find(c) if c in known else known.find("\ufffd")
                               for c in info.text.vocabulary])
        remap = lambda part: replace(part, x=lookup[part.x], y=lookup[part.y])  # noqa: E731
        data.info = replace(info, text=replace(info.text, vocabulary=known))
    elif info.task == "forecast" and info.series.transform != trained.series.transform:
        raise NeuralzooError(f"data {info.name!r} has transform {info.series.transform!r}, "
                             f"the model {trained.series.transform!r} (set --transform)")
    elif info.task == "forecast" and (info.series.mean, info.series.std) != (trained.series.mean,
                                                                             trained.series.std):
        spec, mine = info.series, trained.series
        if spec.horizon != mine.horizon or len(spec.columns) != len(mine.columns):
            raise NeuralzooError(f"data {info.name!r} has horizon {spec.horizon} and "
                                 f"{len(spec.columns)} column(s); the model: {mine.horizon} and "
                                 f"{len(mine.columns)} (set --horizon / --value-columns)")
        old_mean, old_std, new_mean, new_std = (torch.tensor(v, dtype=torch.float32) for v in (
            spec.mean, spec.std, mine.mean, mine.std))
        rescale = lambda t: ((t * old_std + old_mean) - new_mean) / new_std  # noqa: E731
        remap = lambda part: replace(part, x=rescale(part.x), y=rescale(part.y))  # noqa: E731
        data.info = replace(info, series=replace(spec, mean=mine.mean, std=mine.std))
    else:
        return
    for split in ("train", "val", "test"):
        if getattr(data, split) is not None:
            setattr(data, split, remap(getattr(data, split)))
