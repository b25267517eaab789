"""The default forecaster (issue 33): preprocessing chosen on the validation part, recorded in the
checkpoint and inverted (forecasts in the data's units); the default beats seasonal naive on a
trend + seasonal series; bad input (too short, constant validation part, no room for a validation
window) is one line naming what is needed."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import neuralzoo
from cli_helpers import one_line_error
from neuralzoo.data import DataConfig, load_dataset
from neuralzoo.data.series_choice import iterated, repeated
from neuralzoo.errors import NeuralzooError
from neuralzoo.evaluation import evaluate_run
from neuralzoo.evaluation.forecasting import ar_forecast, baselines, fit_ar

TINY = dict(epochs=2, hidden_size=8, seed=0)


def write(path, values):
    path.write_text("month,value\n" + "".join(f"{i},{float(v)!r}\n" for i, v in enumerate(values)))
    return path


def multiplicative(n=144, noise=0.01, seed=0):
    """Exponential growth times a seasonal factor: additive (and linear) only after a log."""
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    return 100 * np.exp(0.02 * t) * (1 + 0.3 * np.sin(2 * np.pi * t / 12)) * np.exp(noise * rng.standard_normal(n))


def test_linear_parts_are_the_baselines_they_name():
    """The iterated map is the AR(p) baseline's recursion and the repeated map the seasonal naive
    forecast, written as one affine map of the window (what the frozen skip layer holds)."""
    rng = np.random.default_rng(0)
    values = rng.standard_normal(150).cumsum()
    lookback, horizon = 6, 5
    coef = fit_ar(values, lookback)                           # [c, a_1 .. a_p]
    one_step = torch.tensor(np.r_[coef[1:][::-1], coef[0]])[:, None]
    history = np.stack([values[i:i + lookback] for i in range(30)])
    design = np.c_[history, np.ones(30)]
    assert np.allclose(design @ iterated(one_step, lookback, 1, horizon).numpy(),
                       ar_forecast(history, coef, horizon), atol=1e-9)
    spec = load_dataset(DataConfig(data="sunspots", lookback=lookback, horizon=horizon, period=4)).info.series
    snaive = baselines(history[..., None], horizon, spec)["seasonal_naive_4"][..., 0]
    assert np.array_equal(design @ repeated(lookback, 1, horizon, 4).numpy(), snaive)


def test_chosen_preprocessing_is_recorded_and_inverted(tmp_path):
    """Multiplicative seasonality on a growing level: auto picks the log transform; the choice is
    in the protocol line and the checkpoint's JSON; the loaded model forecasts in the data's units
    (close to the noise-free continuation) and evaluate scores it with the run's own transform."""
    values = multiplicative()
    csv = write(tmp_path / "s.csv", values)
    settings = dict(data=str(csv), lookback=24, horizon=12, period=12, test_fraction=24 / 144)
    data = load_dataset(DataConfig(**settings))
    spec = data.info.series
    assert spec.transform == "log"
    assert "transform log" in data.info.description and spec.linear_fit in data.info.description
    neuralzoo.train("gru", out=tmp_path / "run", **settings, **TINY)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["data_info"]["series"]["transform"] == "log"
    assert saved["data_info"]["series"]["linear_fit"] == spec.linear_fit
    model = neuralzoo.load(tmp_path / "run")
    ahead = model.forecast(torch.from_numpy(values[:120]), 12)[:, 0].numpy()      # data units
    clean = multiplicative(noise=0.0)[120:132]
    assert np.abs(ahead / clean - 1).max() < 0.05, (ahead, clean)
    report = evaluate_run(tmp_path / "run")["forecast"]["metrics"]
    assert report["model"]["mae"] < 0.5 * report["seasonal_naive_12"]["mae"], report


def test_default_gru_beats_seasonal_naive_on_trend_and_seasonality(tmp_path):
    """A 12-year monthly series with a trend and additive seasonality, horizon 12 (issue 33's
    shape): the defaults beat the seasonal naive forecast, which cannot follow the trend."""
    t = np.arange(144)
    rng = np.random.default_rng(1)
    values = 50 + 0.8 * t + 10 * np.sin(2 * np.pi * t / 12) + rng.standard_normal(144)
    csv = write(tmp_path / "s.csv", values)
    neuralzoo.train("gru", out=tmp_path / "run", data=str(csv), lookback=24, horizon=12, period=12,
                    test_fraction=24 / 144, epochs=3, seed=0)
    report = evaluate_run(tmp_path / "run")["forecast"]["metrics"]
    assert report["model"]["mae"] < 0.5 * report["seasonal_naive_12"]["mae"], report


def test_bad_input_says_what_is_needed(tmp_path, capsys):
    """Too short for lookback + horizon, a validation part too small for one window, a constant
    validation part: one line (exit 2) with the steps needed and the steps there are."""
    short = write(tmp_path / "short.csv", np.arange(45.0))   # test 9 steps, val 4, train 32
    one_line_error(["train", "gru", "--data", short, "--lookback", 24, "--horizon", 12, "--out",
                    tmp_path / "r1"], capsys, "need at least 37 training steps", "has 32 of the series' 45")
    tiny = write(tmp_path / "tiny.csv", np.arange(10.0))
    with pytest.raises(NeuralzooError, match="the series has 10"):
        load_dataset(DataConfig(data=str(tiny), lookback=24, horizon=12))
    medium = write(tmp_path / "medium.csv", np.sin(np.arange(60.0)))
    one_line_error(["train", "gru", "--data", medium, "--lookback", 6, "--horizon", 12, "--out",
                    tmp_path / "r2"], capsys, "val part (0.1 of 60 steps = 6)", "needs at least 12",
                   "--val-fraction >= 0.2")
    flat = np.r_[np.sin(np.arange(80.0)), np.full(10, 3.0), np.sin(np.arange(10.0))]
    constant = write(tmp_path / "flat.csv", flat)
    one_line_error(["train", "gru", "--data", constant, "--lookback", 6, "--test-fraction", 0.1,
                    "--out", tmp_path / "r3"], capsys, "validation part (steps 81-90) is constant",
                   "value = 3")


def test_the_start_is_kept_when_training_never_beats_it(tmp_path):
    """The hybrid starts as its linear part (the network's head at zero) and is validated before
    the first step: a network that only gets worse (a learning rate far too large) is not kept."""
    path = write(tmp_path / "series.csv", multiplicative())
    run = tmp_path / "run"
    neuralzoo.train("gru", data=str(path), lookback=24, horizon=12, period=12, out=run, lr=5.0,
                    schedule="constant", progress=False, verbose=False, baselines=False, **TINY)
    validations = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()
                   if json.loads(line)["event"] == "val"]
    assert validations[0]["step"] == 0 and validations[0]["best"]
    assert not any(event["best"] for event in validations[1:])
    kept = neuralzoo.load(run)
    assert float(kept.head.weight.abs().max()) == 0.0   # the start: the linear part alone
