"""The preprocessing of a forecasting run, chosen on its validation part (``transform auto``).

A recurrent forecaster's default is Zhang's (2003) hybrid: a linear direct multi-step model fitted
by least squares on the training windows (closed form) gives the base forecast and the network
learns its residual, starting from zero. Which preprocessing suits the linear part can then be
judged cheaply, without training a network: for every candidate, the linear part fitted on the
training windows forecasts the validation windows, and the candidate with the smallest error in
the data's units wins. Candidates: the transform (none, or log where every value is > 0: a
multiplicative seasonality or a growth rate becomes additive) times the window normalisation
(none; shift: each window minus its own mean, so the forecast moves with the level as a
differenced model's does; standardise: RevIN, Kim et al. ICLR 2022, each window by its own mean
and std) times the linear part (direct least squares per horizon step; the one-step least-squares
AR iterated over the horizon; seasonal naive or naive, fixed, so the network learns the seasonally
differenced or differenced series). The functions here are the ones the model uses (``models/sequence_tasks.py``), so the
choice is judged on exactly the linear part the run will train with.
"""

from __future__ import annotations

import numpy as np
import torch

WINDOW_NORMS = ("none", "shift", "standardise", "level")
# the candidates judged on validation. Not standardise: on two series the 13 benchmark series did
# not include (statsmodels macrodata realinv / realcons, h = 4), it won on 17 validation windows and
# then scored test MASE 8.73 / 3.94 against AR(8)'s 0.81 / 0.25 (shift: 0.93 / 0.37); on the 13 it
# was never chosen (mean MASE 0.754 with and without it). `--instance-norm standardise` still works.
CHOSEN_NORMS = ("none", "shift")


def window_statistics(x: torch.Tensor, how: str, mean: torch.Tensor, std: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """(loc, scale), each (B, 1, F), of scaled windows x (B, L, F), so z = (x - loc) / scale.
    shift: the window's mean, scale 1; standardise: its mean and sqrt(var + eps) (RevIN eq. 1);
    level: the scaled zero of the data's units and the window's mean absolute value there;
    ``mean`` and ``std`` (F,) are the training part's scaling."""
    if how in ("shift", "standardise"):
        loc = x.mean(1, keepdim=True)                                            # (B, 1, F)
        if how == "shift":
            return loc, torch.ones_like(loc)
        return loc, (x.var(1, keepdim=True, unbiased=False) + 1e-5).sqrt()
    if how == "level":
        loc = (-mean / std).to(x.dtype).expand(x.shape[0], 1, -1)               # (B, 1, F)
        level = (x * std + mean).abs().mean(1, keepdim=True)                    # (B, 1, F)
        return loc, (level + 1e-5 * std) / std
    loc = torch.zeros(x.shape[0], 1, x.shape[2], dtype=x.dtype, device=x.device)
    return loc, torch.ones_like(loc)


def fit_linear(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Least-squares coefficients (L * F + 1, H * F) of the direct linear model y = [x, 1] @ coef
    over windows x (B, L, F) -> targets y (B, H, F), in float64. gelsd: the minimum-norm solution
    (normalised windows are rank-deficient: a standardised window sums to 0)."""
    x = x.double().flatten(1)
    design = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1)
    return torch.linalg.lstsq(design, y.double().flatten(1), driver="gelsd").solution


def iterated(one_step: torch.Tensor, lookback: int, features: int, horizon: int) -> torch.Tensor:
    """The direct map (L * F + 1, H * F) equal to iterating a one-step linear model (L * F + 1, F)
    over the horizon (each forecast appended to the window): an affine map of the window, read off
    by applying the iteration to 0 and to each unit window."""
    size = lookback * features
    probes = torch.cat([torch.zeros(1, size, dtype=one_step.dtype),
                        torch.eye(size, dtype=one_step.dtype)])          # (1 + L * F, L * F)
    window, out = probes, []
    for _ in range(horizon):
        step = window @ one_step[:-1] + one_step[-1]                     # (1 + L * F, F)
        out.append(step)
        window = torch.cat([window[:, features:], step], 1)
    outputs = torch.cat(out, 1)                                          # (1 + L * F, H * F)
    return torch.cat([outputs[1:] - outputs[:1], outputs[:1]])


def repeated(lookback: int, features: int, horizon: int, period: int) -> torch.Tensor:
    """The direct map of the (seasonal) naive forecast: y[t + h] = y[t + h - m ceil(h / m)]."""
    coef = torch.zeros(lookback * features + 1, horizon * features, dtype=torch.float64)
    for h in range(horizon):
        back = period * -(-(h + 1) // period)                  # steps back from t + h + 1 ...
        source = lookback - back + h                           # ... as an index into the window
        for f in range(features):
            coef[source * features + f, h * features + f] = 1.0
    return coef


def linear_coefficients(x: torch.Tensor, y: torch.Tensor, fit: str, period: int) -> torch.Tensor:
    """The linear part's map (L * F + 1, H * F) from (normalised) training windows x (B, L, F) ->
    y (B, H, F). least-squares: one regression per horizon step (direct); iterated: the one-step
    regression iterated (the AR(p) baseline's strategy); seasonal-naive / naive: fixed, not fitted
    (the network then learns the seasonally differenced / differenced series)."""
    _, lookback, features = x.shape
    horizon = y.shape[1]
    if fit == "least-squares":
        return fit_linear(x, y)
    if fit == "iterated":
        return iterated(fit_linear(x, y[:, :1]), lookback, features, horizon)
    return repeated(lookback, features, horizon, period if fit == "seasonal-naive" else 1)


def linear_forecast(x: torch.Tensor, train: tuple[torch.Tensor, torch.Tensor], how: str, fit: str,
                    period: int, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Forecasts (B, H, F) of windows x by the linear part fitted on the training windows
    ``train`` = (inputs, targets) with window normalisation ``how``; all scaled values."""
    train_x, train_y = (t.double() for t in train)
    loc, scale = window_statistics(train_x, how, mean, std)
    coef = linear_coefficients((train_x - loc) / scale, (train_y - loc) / scale, fit, period)
    loc, scale = window_statistics(x.double(), how, mean, std)
    z = ((x.double() - loc) / scale).flatten(1)
    out = torch.cat([z, torch.ones(len(z), 1, dtype=z.dtype)], 1) @ coef
    return out.view(len(x), -1, x.shape[2]) * scale + loc


def fit_candidates(lookback: int, period: int) -> tuple[str, ...]:
    """The linear parts judged: seasonal naive only where the window holds a whole period."""
    seasonal = ("seasonal-naive",) if 1 < period <= lookback else ()
    return ("least-squares", "iterated", *seasonal, "naive")


def transform_candidates(values: np.ndarray) -> tuple[str, ...]:
    """none, and log where every value is > 0."""
    return ("none", "log") if (values > 0).all() else ("none",)


def choose(errors: dict[tuple[str, str, str], float]) -> tuple[str, str, str]:
    """The (transform, window norm, linear fit) with the smallest validation error; the first
    listed (the simplest) on a tie."""
    return min(errors, key=lambda key: (errors[key], list(errors).index(key)))


def describe(errors: dict[tuple[str, str, str], float], chosen: tuple[str, str, str], windows: int
             ) -> str:
    """The protocol line's account of the choice: the chosen candidate and each linear part's best."""
    best = {}
    for key, error in errors.items():
        if key[2] not in best or error < errors[best[key[2]]]:
            best[key[2]] = key
    table = ", ".join(f"{fit} {errors[key]:.4g} ({key[0]}, {key[1]})" for fit, key in best.items())
    return (f"preprocessing chosen on the validation part ({windows} windows) by the mean absolute error "
            f"(divided by the training std) of the linear part alone in the data's units: transform "
            f"{chosen[0]}; for a recurrent forecaster with instance_norm and linear_fit auto (the "
            f"defaults): window normalisation {chosen[1]}, linear part {chosen[2]}, the network "
            f"learning its residual (best of each linear part: {table})")
