"""Command line of the sequence models: train + evaluate (with baselines) + forecast + backtest on a
CSV series, train + generate on a text file, and one-line errors for what cannot work."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from cli_helpers import one_line_error
from neuralzoo.cli import main

TINY = ["--epochs", "1", "--max-steps", "3", "--no-progress", "--no-baselines"]


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    folder = tmp_path_factory.mktemp("series")
    t = np.arange(120)
    a = np.sin(2 * np.pi * t / 12)
    rows = [f"{2000 + i},{a[i]:.4f},{np.cos(2 * np.pi * i / 12):.4f}" for i in t]
    gappy = list(rows)
    gappy[20] = f"{2020},,1.0"
    (folder / "s.csv").write_text("year,a,b\n" + "\n".join(rows) + "\n")
    (folder / "gaps.csv").write_text("year,a,b\n" + "\n".join(gappy) + "\n")
    return folder


@pytest.fixture(scope="module")
def forecast_run(series):
    run = series / "run"
    assert main(["train", "gru", "--data", str(series / "s.csv"), "--lookback", "12", "--horizon", "3",
                 "--period", "12", "--hidden-size", "8", "--out", str(run), *TINY]) == 0
    return run


def test_forecast_run_evaluate_forecast_and_backtest(forecast_run, series, capsys):
    assert main(["evaluate", str(forecast_run)]) == 0
    result = json.loads((forecast_run / "eval.json").read_text())
    report = result["forecast"]
    assert set(report["metrics"]) == {"model", "naive", "seasonal_naive_12", "ar_12"}
    for scores in report["metrics"].values():
        assert set(scores) == {"mae", "rmse", "mse", "mase", "smape"}
    # a seasonal series of period 12: the seasonal naive forecast is (almost) exact
    assert report["metrics"]["seasonal_naive_12"]["mae"] < 1e-3 < report["metrics"]["naive"]["mae"]
    assert report["windows"] == 24 - 2 and len(report["rmse_per_step"]["model"]) == 3

    assert main(["forecast", str(forecast_run), "--horizon", "5"]) == 0
    with (forecast_run / "forecast.csv").open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["step", "year", "forecast_a", "forecast_b", "truth_a", "truth_b"]
    assert [r[1] for r in rows[1:]] == ["2120", "2121", "2122", "2123", "2124"]   # years continued
    assert all(r[4] == "" for r in rows[1:])                                      # future: no truth
    assert (forecast_run / "forecast.png").stat().st_size > 5000

    out = series / "held-out.csv"
    assert main(["forecast", str(forecast_run), "--origin", "-4", "--horizon", "6",
                 "--output", str(out)]) == 0
    rows = list(csv.reader(out.open()))
    assert [r[4] != "" for r in rows[1:]] == [True] * 4 + [False] * 2           # truth where known
    assert float(rows[1][4]) == pytest.approx(np.sin(2 * np.pi * 116 / 12), abs=1e-3)

    assert main(["forecast", str(forecast_run), "--backtest", "--step", "2"]) == 0
    backtest = json.loads((forecast_run / "backtest.json").read_text())
    assert backtest["origins"] == len(range(96, 118, 2)) and "ar_12_refit" in backtest["metrics"]
    capsys.readouterr()


def test_text_run_generates(tmp_path, capsys):
    (tmp_path / "t.txt").write_text("the cat sat on the mat. " * 20)
    run = tmp_path / "lm"
    assert main(["train", "lstm", "--data", str(tmp_path / "t.txt"), "--seq-len", "16",
                 "--hidden-size", "16", "--out", str(run), *TINY]) == 0
    assert main(["evaluate", str(run)]) == 0
    assert "bits_per_char" in json.loads((run / "eval.json").read_text())["metrics"]
    capsys.readouterr()
    assert main(["generate", str(run), "--prompt", "the ", "--length", "40", "--temperature", "0.8",
                 "--output", str(tmp_path / "g.txt")]) == 0
    text = (tmp_path / "g.txt").read_text()
    assert text.startswith("the ") and len(text) == 44 and set(text) <= set("the cat sa on m.")
    assert text in capsys.readouterr().out
    one_line_error(["generate", run, "--prompt", "dog!"], capsys, "outside the training vocabulary")
    one_line_error(["forecast", run], capsys, "'lstm'", "text data", "no 'forecast'")


def test_bad_sequence_input_is_one_line(forecast_run, series, tmp_path, capsys, digits):
    never = tmp_path / "never"
    train = ["train", "gru", *TINY, "--out", never]
    one_line_error(["generate", forecast_run], capsys, "forecast data", "no 'generate'")
    one_line_error([*train, "--data", series / "s.csv", "--lookback", "4", "--value-columns", "a,nope"],
                   capsys, "no column 'nope'", "columns are: year, a, b")
    one_line_error([*train, "--data", series / "gaps.csv", "--lookback", "4"], capsys,
                   "column 'a'", "row 21 (line 22)", "missing", "--missing interpolate")
    one_line_error([*train, "--data", series / "s.csv", "--lookback", "0"], capsys, "lookback")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe" * 100)
    one_line_error([*train, "--data", tmp_path / "bin.txt"], capsys, "not UTF-8")
    one_line_error([*train, "--data", "fable", "--bidirectional"], capsys, "bidirectional")
    one_line_error(["forecast", forecast_run, "--origin", "3"], capsys, "--origin 3")
    assert not never.exists()
    assert main([*train[:-1], str(tmp_path / "ok"), "--data", str(series / "gaps.csv"), "--lookback",
                 "4", "--missing", "interpolate"]) == 0
    capsys.readouterr()


def test_predict_sequence_classifier_from_npz(tmp_path, capsys):
    from neuralzoo.data import DataConfig, load_dataset

    run = tmp_path / "rows"
    assert main(["train", "rnn", "--data", "digits-rows", "--hidden-size", "8", "--out", str(run),
                 *TINY]) == 0
    x = load_dataset(DataConfig(data="digits-rows")).test.x[:4].numpy()
    np.savez(tmp_path / "x.npz", x=x)
    assert main(["predict", str(run), "--input", str(tmp_path / "x.npz"),
                 "--output", str(tmp_path / "p.csv")]) == 0
    assert len(list(csv.reader((tmp_path / "p.csv").open()))) == 5
    # padded to 12 steps with garbage and given their lengths: the same probabilities, the padding
    # is never read; the same sequences cut to 5 steps, padded to 8 or to 12, agree with each other
    padded = np.concatenate([x, np.full((4, 4, 8), np.nan, np.float32)], 1)   # (4, 12, 8)
    np.savez(tmp_path / "pad.npz", x=padded, lengths=np.full(4, 8))
    cut = np.where(np.arange(12)[None, :, None] < 5, padded, 7.0)
    np.savez(tmp_path / "cut12.npz", x=cut, lengths=np.full(4, 5))
    np.savez(tmp_path / "cut8.npz", x=cut[:, :8], lengths=np.full(4, 5))
    probs = {}
    for name in ("p", "pad", "cut12", "cut8"):
        if name != "p":
            assert main(["predict", str(run), "--input", str(tmp_path / f"{name}.npz"),
                         "--output", str(tmp_path / f"{name}.csv")]) == 0
        rows = list(csv.reader((tmp_path / f"{name}.csv").open()))[1:]
        probs[name] = np.array([[float(v) for v in row[2:]] for row in rows])
    np.testing.assert_allclose(probs["pad"], probs["p"], atol=1e-6)
    np.testing.assert_allclose(probs["cut12"], probs["cut8"], atol=1e-6)
    assert np.abs(probs["cut8"] - probs["p"]).max() > 1e-3   # five steps are not eight
    np.savez(tmp_path / "wide.npz", x=padded[..., :3], lengths=np.full(4, 8))
    one_line_error(["predict", run, "--input", tmp_path / "wide.npz"], capsys,
                   str(tmp_path / "wide.npz"), "3 features per step", "expects 8")
    capsys.readouterr()


def test_evaluate_on_other_sequence_data_uses_the_models_vocabulary_and_scaling(tmp_path, capsys):
    import torch

    import neuralzoo
    from neuralzoo.data import DataConfig
    from neuralzoo.evaluation import load_eval_data

    (tmp_path / "a.txt").write_text("abcabcabd " * 30)
    (tmp_path / "b.txt").write_text("dcba zz " * 30)   # another vocabulary and an unseen 'z'
    run = tmp_path / "lm"
    assert main(["train", "lstm", "--data", str(tmp_path / "a.txt"), "--seq-len", "8",
                 "--hidden-size", "8", "--out", str(run), *TINY]) == 0
    model = neuralzoo.load(run)
    data = load_eval_data(model, DataConfig(data=str(tmp_path / "b.txt"), seq_len=8))
    vocabulary = model.info.text.vocabulary
    decoded = "".join(vocabulary[i] for i in data.train.x[0].tolist())
    assert decoded == "dcba \ufffd\ufffd " and data.info.text.vocabulary == vocabulary

    t = torch.arange(60, dtype=torch.float64)
    (tmp_path / "s1.csv").write_text("time,v\n" + "".join(f"{i},{i}\n" for i in range(60)))
    (tmp_path / "s2.csv").write_text("time,v\n" + "".join(f"{i},{100 + 2 * i}\n" for i in range(60)))
    run = tmp_path / "f"
    assert main(["train", "gru", "--data", str(tmp_path / "s1.csv"), "--lookback", "4",
                 "--hidden-size", "4", "--out", str(run), *TINY]) == 0
    model = neuralzoo.load(run)
    data = load_eval_data(model, DataConfig(data=str(tmp_path / "s2.csv"), lookback=4))
    mean, std = model.info.series.mean[0], model.info.series.std[0]
    assert torch.allclose(data.train.x[0, :, 0].double() * std + mean, 100 + 2 * t[:4], atol=1e-3)
    one_line_error(["evaluate", run, "--data", "digits"], capsys, "classify data", "forecast data")
    capsys.readouterr()


def test_a_model_that_cannot_read_lengths_refuses_padded_sequences(tmp_path, capsys):
    x = np.zeros((20, 5, 2), np.float32)
    np.savez(tmp_path / "s.npz", x=x, y=np.arange(20) % 2, lengths=np.full(20, 3))
    one_line_error(["train", "mlp", "--data", tmp_path / "s.npz", *TINY, "--out", tmp_path / "r"], capsys,
                   str(tmp_path / "s.npz"), "lengths", "rnn, lstm, gru")
    assert main(["train", "gru", "--data", str(tmp_path / "s.npz"), *TINY, "--hidden-size", "4",
                 "--out", str(tmp_path / "g")]) == 0
    capsys.readouterr()
