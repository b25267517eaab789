"""Time series from a CSV file -> forecasting windows (``DataInfo.task == "forecast"``).

Protocol, in this order (written to ``DataInfo.description``):
1. rows in file order are time steps; value column(s) (default: every column but the time column);
   an optional time column (default: one named time/date/year/month/timestamp) labels the steps.
2. chronological split: the last ``test_fraction`` of the steps is the test part, the
   ``val_fraction`` before it the validation part, the rest the training part.
3. missing values (empty cells, NaN) are an error (``missing=error``) or linearly interpolated
   (``missing=interpolate``) using only values up to the end of the part they lie in, so no value
   of a later part ever reaches an earlier one.
4. ``transform`` (none, sqrt, log1p, log): a variance-stabilising transform of every value (the
   Box-Cox family's square root and log, classic for counts such as sunspots); ``inverse_transform``
   maps forecasts back, so every reported figure is in the data's units. ``auto`` (the default)
   chooses none or log, and the window normalisation a forecaster uses (``SeriesInfo.instance_norm``),
   on the validation part (``data/series_choice.py``); without a validation part: none and none.
5. scaling: each column -> (value - mean) / std with mean and std of the training part only (after
   the transform).
6. windows: ``lookback`` inputs followed by ``horizon`` targets, one per step. A window belongs to
   the part its first target lies in and every target lies inside that part; its inputs may reach
   back into earlier parts (the observed past), never forward.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import NeuralzooError
from .base import ArrayData, DataConfig, DataInfo, DataSplits, SeriesInfo
from .files import read_table
from .series_choice import (CHOSEN_NORMS, choose, describe, fit_candidates, linear_forecast,
                            transform_candidates)

BUNDLED = Path(__file__).parent / "bundled"
SERIES_DATASETS = {"sunspots": BUNDLED / "sunspots.csv"}   # yearly sunspot numbers 1700-2008
DEFAULT_LOOKBACK = 12
TIME_NAMES = ("time", "date", "datetime", "timestamp", "year", "month", "day")
MISSING = ("", "nan", "na", "n/a", "null", "none")


# name -> (forward, smallest allowed value, whether that value itself is allowed)
TRANSFORMS = {"none": (lambda v: v, -np.inf, False), "sqrt": (np.sqrt, 0.0, True),
              "log1p": (np.log1p, -1.0, False), "log": (np.log, 0.0, False)}


def apply_transform(values: np.ndarray, name: str, source: str = "data") -> np.ndarray:
    """``values`` through the named transform; values outside its domain are an error."""
    forward, low, closed = TRANSFORMS[name]
    bad = values < low if closed else values <= low
    if bad.any():
        raise NeuralzooError(f"{source}: transform {name!r} needs values {'>=' if closed else '>'} "
                             f"{low:g}, found {values[bad].min():g}; use --transform none")
    return forward(values)


def inverse_transform(values, name: str):
    """Transformed values (NumPy array or tensor) back in the data's units. sqrt: a negative
    forecast maps to 0 (the square root of a count is never negative)."""
    if name == "none":
        return values
    if isinstance(values, torch.Tensor):
        return (values.clamp(min=0).square() if name == "sqrt" else torch.exp(values) if name == "log"
                else torch.expm1(values))
    values = np.asarray(values, dtype=np.float64)
    return (np.square(np.maximum(values, 0.0)) if name == "sqrt" else np.exp(values) if name == "log"
            else np.expm1(values))


@dataclass
class Series:
    values: np.ndarray           # (N, F) float64; NaN where the file has no value
    times: list[str]             # N labels (the time column, or row numbers)
    columns: list[str]
    time_column: str | None
    source: str


def read_series(cfg: DataConfig) -> Series:
    """The raw series of ``cfg.data`` (missing values still NaN)."""
    path = SERIES_DATASETS.get(cfg.data) or Path(cfg.data).expanduser()
    if not path.is_file():
        raise NeuralzooError(f"{path}: no such file")
    header, cells = read_table(path)
    for name in (cfg.time_column, *cfg.value_columns):
        if name is not None and name not in header:
            raise NeuralzooError(f"{path}: no column {name!r}; columns are: {', '.join(header)}")
    time_column = cfg.time_column or next((h for h in header if h.lower() in TIME_NAMES
                                           and h not in cfg.value_columns), None)
    columns = list(cfg.value_columns) or [h for h in header if h != time_column]
    if not columns:
        raise NeuralzooError(f"{path}: no value column besides the time column {time_column!r}")
    picked = cells[:, [header.index(c) for c in columns]]
    values = np.full(picked.shape, np.nan)
    for (row, col), cell in np.ndenumerate(picked):
        if cell.lower() in MISSING:
            continue
        try:
            values[row, col] = float(cell)
        except ValueError:
            raise NeuralzooError(f"{path}: column {columns[col]!r}, row {row + 1} (line {row + 2}): "
                                 f"{str(cell)!r} is not a number") from None
    if np.isinf(values).any():
        row, col = np.argwhere(np.isinf(values))[0]
        raise NeuralzooError(f"{path}: column {columns[col]!r}, row {row + 1} (line {row + 2}): "
                             "infinite value")
    times = (list(cells[:, header.index(time_column)]) if time_column
             else [str(i) for i in range(len(values))])
    return Series(values, times, columns, time_column, str(path))


def split_points(n: int, cfg: DataConfig) -> tuple[int, int]:
    """(end of training part, end of validation part): chronological fractions of n steps."""
    test, val = round(n * cfg.test_fraction), round(n * cfg.val_fraction)
    return n - test - val, n - test


def fill_missing(series: Series, ends: tuple[int, ...], how: str) -> tuple[np.ndarray, int]:
    """Values with gaps filled (or an error naming the first gap); returns the count filled."""
    values = series.values
    gaps = np.isnan(values)
    if not gaps.any():
        return values, 0
    row, col = np.argwhere(gaps)[0]
    if how == "error":
        raise NeuralzooError(f"{series.source}: column {series.columns[col]!r}, row {row + 1} "
                             f"(line {row + 2}): missing value ({int(gaps.sum())} in all); use "
                             "--missing interpolate to fill gaps linearly")
    filled, start = values.copy(), 0
    steps = np.arange(len(values))
    for end in ends:   # each part sees only its own values and the past, never a later part
        for c in range(values.shape[1]):
            known = ~np.isnan(values[:end, c])
            if not known.any():
                raise NeuralzooError(f"{series.source}: column {series.columns[c]!r} has no value in "
                                     f"rows 1..{end}; nothing to interpolate from")
            filled[start:end, c] = np.interp(steps[start:end], steps[:end][known], values[:end, c][known])
        start = end
    return filled, int(gaps.sum())


def windows(scaled: torch.Tensor, start: int, end: int, lookback: int, horizon: int, source: str
            ) -> ArrayData | None:
    """Windows whose targets lie in [start, end): x (N, lookback, F), y (N, horizon, F)."""
    first = max(start, lookback)   # index of the first target of the first window
    if end - horizon < first:
        return None
    spans = scaled[first - lookback:end].unfold(0, lookback + horizon, 1).permute(0, 2, 1)
    return ArrayData(spans[:, :lookback].contiguous(), spans[:, lookback:].contiguous(), source)


def check_lengths(source: str, n: int, cfg: DataConfig, lookback: int, train_end: int,
                  val_end: int) -> None:
    """One line saying how many steps each part needs and how many it has."""
    horizon, needed = cfg.horizon, lookback + cfg.horizon + 1
    if n < needed or train_end < needed:
        parts = (f"the training part has {train_end} of the series' {n} (val {val_end - train_end}, "
                 f"test {n - val_end})") if n >= needed else f"the series has {n}"
        raise NeuralzooError(f"{source}: lookback {lookback} + horizon {horizon} need at least "
                             f"{needed} training steps (one window and its next step), {parts}; "
                             "lower --lookback / --horizon or --val-fraction / --test-fraction, or "
                             "give a longer series")
    for name, fraction, steps in (("val", cfg.val_fraction, val_end - train_end),
                                  ("test", cfg.test_fraction, n - val_end)):
        if fraction > 0 and steps < horizon:
            raise NeuralzooError(f"{source}: the {name} part ({fraction:g} of {n} steps = {steps}) "
                                 f"is too small for one window of horizon {horizon}: it needs at least "
                                 f"{horizon} step{'s' if horizon > 1 else ''}, i.e. --{name}-fraction >= {horizon / n:.3g} (or "
                                 f"--{name}-fraction 0)")


def check_validation_varies(series: Series, values: np.ndarray, train_end: int, val_end: int) -> None:
    """A constant validation part cannot judge a forecast (every error but the constant's is
    noise-free), so neither early stopping nor the preprocessing choice could rely on it."""
    part = values[train_end:val_end]
    if len(part) and (part.max(0) == part.min(0)).all():
        shown = ", ".join(f"{c} = {v:g}" for c, v in zip(series.columns, part[0]))
        raise NeuralzooError(f"{series.source}: the validation part (steps {train_end + 1}-{val_end}) "
                             f"is constant ({shown}); it cannot judge a forecast: raise --val-fraction "
                             "so it reaches values that vary, or --val-fraction 0")


def prepared(values: np.ndarray, transform: str, train_end: int, source: str
             ) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """(scaled values (N, F) float64, mean, std) after the transform, scaled by the training part."""
    transformed = apply_transform(values, transform, source)
    mean, std = transformed[:train_end].mean(0), transformed[:train_end].std(0)
    return torch.from_numpy((transformed - mean) / np.where(std > 0, std, 1.0)), mean, std


def choose_preprocessing(values: np.ndarray, cfg: DataConfig, lookback: int, train_end: int,
                         val_end: int, source: str) -> tuple[tuple[str, str, str], str]:
    """((transform, window normalisation, linear part), account for the protocol line): with
    ``transform auto``, the candidates of ``series_choice`` judged on the validation windows by
    fits on the training windows; otherwise the given transform, with the normalisation and linear
    part judged the same way. (Earlier spans of the training part as extra judges, each fitted on
    the steps before it, chose worse on benchmarks/forecast_peers.py: mean MASE of the linear part
    0.82 against 0.76; its fits see less data than the run's.)"""
    transforms = transform_candidates(values) if cfg.transform == "auto" else (cfg.transform,)
    errors: dict[tuple[str, str, str], float] = {}
    raw_std = values[:train_end].std(0)
    raw_std = np.where(raw_std > 0, raw_std, 1.0)
    count = 0
    for transform in transforms:
        scaled, mean, std = prepared(values, transform, train_end, source)
        train = windows(scaled, 0, train_end, lookback, cfg.horizon, source)
        val = windows(scaled, train_end, val_end, lookback, cfg.horizon, source)
        if val is None or train is None:
            break
        count = len(val)
        mean_t, std_t = torch.from_numpy(mean), torch.from_numpy(np.where(std > 0, std, 1.0))
        truth = inverse_transform(val.y.numpy() * std_t.numpy() + mean, transform)
        for norm in CHOSEN_NORMS:
            for fit in fit_candidates(lookback, cfg.period):
                scaled_forecast = linear_forecast(val.x, (train.x, train.y), norm, fit, cfg.period,
                                                  mean_t, std_t).numpy()
                with np.errstate(over="ignore", invalid="ignore"):   # exp of a wild log forecast
                    forecast = inverse_transform(scaled_forecast * std_t.numpy() + mean, transform)
                error = float((np.abs(forecast - truth).mean((0, 1)) / raw_std).mean())
                errors[(transform, norm, fit)] = error if np.isfinite(error) else float("inf")
    if not errors:
        transform = "none" if cfg.transform == "auto" else cfg.transform
        return (transform, "none", "least-squares"), (
            f"no validation windows: transform {transform}, no window normalisation, least-squares "
            "linear part")
    chosen = choose(errors)
    return chosen, describe(errors, chosen, count)


def load_series(cfg: DataConfig) -> DataSplits:
    series = read_series(cfg)
    lookback = cfg.lookback or DEFAULT_LOOKBACK
    n, horizon = len(series.values), cfg.horizon
    train_end, val_end = split_points(n, cfg)
    check_lengths(series.source, n, cfg, lookback, train_end, val_end)
    values, filled = fill_missing(series, (train_end, val_end, n), cfg.missing)
    if (values[:train_end].max(0) == values[:train_end].min(0)).all():
        # nothing varies: every model and baseline would forecast the constant
        values_seen = ", ".join(f"{c} = {m:g}" for c, m in zip(series.columns, values[0]))
        raise NeuralzooError(f"{series.source}: the series is constant over the training part (steps "
                             f"1-{train_end}: {values_seen}); there is nothing to forecast")
    check_validation_varies(series, values, train_end, val_end)
    (transform, norm, fit), choice = choose_preprocessing(values, cfg, lookback, train_end, val_end,
                                                          series.source)
    scaled, mean, std = prepared(values, transform, train_end, series.source)
    std = np.where(std > 0, std, 1.0)   # a constant covariate beside varying ones: left unscaled
    scaled = scaled.float()
    parts = {name: windows(scaled, a, b, lookback, horizon, f"{series.source} [{name}]")
             for name, (a, b) in {"train": (0, train_end), "val": (train_end, val_end),
                                  "test": (val_end, n)}.items()}
    spec = SeriesInfo(columns=series.columns, time_column=series.time_column, lookback=lookback,
                      horizon=horizon, transform=transform, mean=mean.tolist(), std=std.tolist(),
                      period=cfg.period, ar_order=cfg.ar_order or lookback,
                      split=(train_end, val_end, n), instance_norm=norm, linear_fit=fit)
    counts = {k: 0 if v is None else len(v) for k, v in parts.items()}
    t = series.times
    description = (f"time series {series.source} ({n} steps {t[0]}..{t[-1]}, columns "
                   f"{', '.join(series.columns)}); chronological split: train steps 1-{train_end}, "
                   f"val {train_end + 1}-{val_end}, test {val_end + 1}-{n}; "
                   f"{filled} missing values"
                   f"{' interpolated from their own part and earlier ones' if filled else ''}"
                   f"; {choice}"
                   f"{'' if transform == 'none' else f'; {transform} transform'}"
                   f"; scaled by the training part's mean and std; windows of {lookback} inputs -> "
                   f"{horizon} targets (train {counts['train']}, val {counts['val']}, test "
                   f"{counts['test']}; a window belongs to the part of its targets)")
    info = DataInfo(name=cfg.data, input_shape=(lookback, len(series.columns)),
                    value_range=(float(scaled.min()), float(scaled.max())),
                    description=description, task="forecast", series=spec)
    return DataSplits(train=parts["train"], val=parts["val"], test=parts["test"], info=info)
