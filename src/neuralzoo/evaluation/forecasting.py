"""Forecast evaluation: baselines, metrics and the report ``evaluate`` writes for forecasting runs.

Baselines (computed from the very windows the network sees, so every figure shares one protocol):
naive (the last observed value, repeated), seasonal naive (the value one ``period`` earlier:
y[t+h] = y[t+h-m*ceil(h/m)]), and AR(p) (least squares y[t] = c + sum_i a_i y[t-i] on the training
part, iterated over the horizon). The AR coefficients and the MASE scale are fitted here, on the
training part of the data being evaluated (its values read back from its windows), never stored by
the data loader. Metrics (Hyndman & Koehler 2006): MAE, RMSE, MASE (MAE divided by
the in-sample MAE of the seasonal naive forecast on the training part) and sMAPE in percent
(200 |e| / (|y| + |yhat|), 0 where both are 0). A test split evaluated this way is a rolling-origin
evaluation with one origin per step and a model fitted once; ``backtest`` also refits AR at every origin.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ..data.base import ArrayData, SeriesInfo
from ..data.series import inverse_transform
from .base import EvaluationContext, Headline, Reporter


def fit_ar(series: np.ndarray, order: int) -> np.ndarray:
    """Least-squares AR(order) coefficients [c, a_1, ..., a_p] of a 1-D series."""
    series = np.asarray(series, dtype=np.float64)
    if len(series) <= 2 * order:
        return np.concatenate([[series.mean()], np.zeros(order)])   # too short: the mean
    lags = np.stack([series[order - i:len(series) - i] for i in range(1, order + 1)], 1)
    design = np.concatenate([np.ones((len(lags), 1)), lags], 1)
    coef, *_ = np.linalg.lstsq(design, series[order:], rcond=None)
    return coef


def ar_forecast(history: np.ndarray, coef: np.ndarray, horizon: int) -> np.ndarray:
    """Iterated AR forecasts (N, horizon) from windows (N, L) with L >= order."""
    order = len(coef) - 1
    window = np.asarray(history, dtype=np.float64)[:, -order:] if order else history[:, :0]
    out = []
    for _ in range(horizon):
        step = coef[0] + window[:, ::-1] @ coef[1:] if order else np.full(len(history), coef[0])
        out.append(step)
        window = np.concatenate([window[:, 1:], step[:, None]], 1) if order else window
    return np.stack(out, 1)


def mase_scale(train: np.ndarray, period: int) -> np.ndarray:
    """Per column: in-sample MAE of the seasonal naive forecast on the training part."""
    diffs = np.abs(train[period:] - train[:-period]) if len(train) > period else np.zeros((1, train.shape[1]))
    scale = diffs.mean(0)
    return np.where(scale > 0, scale, 1.0)


def metrics(predicted: np.ndarray, truth: np.ndarray, scale: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, MASE, sMAPE of (N, horizon, F) forecasts in the data's units."""
    error = predicted - truth
    denominator = np.abs(truth) + np.abs(predicted)
    smape = np.where(denominator > 0, 200 * np.abs(error) / np.where(denominator > 0, denominator, 1), 0)
    return {"mae": float(np.abs(error).mean()), "rmse": float(np.sqrt((error ** 2).mean())),
            "mse": float((error ** 2).mean()),
            "mase": float((np.abs(error).mean((0, 1)) / scale).mean()), "smape": float(smape.mean())}


def unscale(values: np.ndarray, spec: SeriesInfo) -> np.ndarray:
    """Scaled values (..., F) back in the data's units (scaling, then the transform, undone)."""
    return inverse_transform(values * np.array(spec.std) + np.array(spec.mean), spec.transform)


def training_values(train: ArrayData, spec: SeriesInfo) -> np.ndarray:
    """The training part's series (T, F) in the data's units, read back from its windows (one per
    step from the first): the first window's inputs, each later window's last input, then the last
    window's targets."""
    x, y = train.x.double().numpy(), train.y.double().numpy()
    return unscale(np.concatenate([x[0], x[1:, -1], y[-1]]), spec)


def fit_baselines(values: np.ndarray, spec: SeriesInfo) -> tuple[list[np.ndarray], np.ndarray]:
    """(AR(p) coefficients per column, MASE scale per column) fitted on training values (T, F)."""
    return ([fit_ar(values[:, c], spec.ar_order) for c in range(values.shape[1])],
            mase_scale(values, spec.period))


def baselines(history: np.ndarray, horizon: int, spec: SeriesInfo,
              ar: list[np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Baseline forecasts (N, horizon, F) from raw input windows (N, L, F); AR(p) when its
    coefficients per column are given and the windows are long enough."""
    period, (_, lookback, features) = spec.period, history.shape
    out = {"naive": np.repeat(history[:, -1:], horizon, 1)}
    if period <= lookback:
        steps = np.arange(horizon)
        back = period * np.ceil((steps + 1) / period).astype(int) - steps   # 1..period steps back
        out[f"seasonal_naive_{period}"] = history[:, lookback - back]
    if ar is not None and spec.ar_order <= lookback:
        out[f"ar_{spec.ar_order}"] = np.stack(
            [ar_forecast(history[..., c], ar[c], horizon) for c in range(features)], -1)
    return out


def forecast_report(model, part: ArrayData, train: ArrayData, spec: SeriesInfo) -> dict[str, Any]:
    """Model and baseline metrics on one split's windows, overall and per horizon step; the
    baselines and the MASE scale are fitted on ``train``'s windows."""
    ar, scale = fit_baselines(training_values(train, spec), spec)
    scaled = model.infer(lambda rows: model(rows).float(), part.x).numpy()
    history = unscale(part.x.double().numpy(), spec)       # (N, lookback, F) in the data's units
    truth = unscale(part.y.double().numpy(), spec)         # (N, horizon, F)
    forecasts = {"model": unscale(scaled, spec), **baselines(history, truth.shape[1], spec, ar)}
    report = {name: metrics(f, truth, scale) for name, f in forecasts.items()}
    per_step = {name: [math.sqrt(float(((f[:, h] - truth[:, h]) ** 2).mean())) for h in range(truth.shape[1])]
                for name, f in forecasts.items()}
    return {"windows": len(part), "horizon": truth.shape[1], "units": "the data's own (unscaled)",
            "mase_scale": scale.tolist(), "period": spec.period, "metrics": report,
            "rmse_per_step": per_step,
            "baselines_fitted_on": f"{len(train.x) + spec.lookback + spec.horizon - 1} training steps"}


class ForecastReporter(Reporter):
    name = "forecasting"

    def applies(self, ctx: EvaluationContext) -> bool:
        return ctx.model.info.task == "forecast"

    def report(self, ctx: EvaluationContext) -> dict[str, Any]:
        return {"forecast": forecast_report(ctx.model, ctx.part, ctx.data.train, ctx.data.info.series)}

    def headline(self, block: dict[str, Any]) -> Headline:
        return Headline("MASE", block["forecast"]["metrics"]["model"]["mase"], higher_is_better=False)


def backtest(model, values: np.ndarray, start: int, horizon: int, step: int,
             spec: SeriesInfo) -> dict[str, Any]:
    """Rolling-origin backtest: at origins start, start + step, ... (each with ``horizon`` known
    future values) forecast from everything observed before the origin. The network keeps its
    trained weights (beyond its trained horizon it feeds its forecasts back); AR(p) is refitted on all
    values before each origin; naive and seasonal naive use the last window. The MASE scale comes
    from the training part (the first ``spec.split[0]`` values)."""
    lookback, order = spec.lookback, spec.ar_order
    origins = list(range(max(start, lookback, order + 1), len(values) - horizon + 1, step))
    if not origins:
        return {"origins": 0}
    history = np.stack([values[o - lookback:o] for o in origins])          # (N, L, F)
    truth = np.stack([values[o:o + horizon] for o in origins])             # (N, H, F)
    network = np.stack([model.forecast(torch.from_numpy(values[:o]), horizon).numpy() for o in origins])
    forecasts = {"model": network, **baselines(history, horizon, spec)}
    forecasts[f"ar_{order}_refit"] = np.stack([np.stack(
        [ar_forecast(values[None, :o, c], fit_ar(values[:o, c], order), horizon)[0]
         for c in range(values.shape[1])], -1) for o in origins])
    scale = mase_scale(values[:spec.split[0]], spec.period)
    return {"origins": len(origins), "first_origin": origins[0], "step": step, "horizon": horizon,
            "metrics": {name: metrics(f, truth, scale) for name, f in forecasts.items()}}
