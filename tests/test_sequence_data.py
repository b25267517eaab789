"""Sequence data: rows of images, padded .npz sequences, time-series windows (no look-ahead, scaling
from the training part only, missing values), the AR baseline, and character text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from neuralzoo.data import DataConfig, load_dataset
from neuralzoo.errors import NeuralzooError
from neuralzoo.data import SeriesInfo
from neuralzoo.evaluation.forecasting import (ar_forecast, baselines, fit_ar, fit_baselines, metrics,
                                                  training_values)

MNIST_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


def write_series(path: Path, columns: dict[str, list], time=None) -> Path:
    names = (["time"] if time is not None else []) + list(columns)
    rows = zip(*([time] if time is not None else []), *columns.values())
    path.write_text(",".join(names) + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


def error(parts, **config) -> str:
    with pytest.raises(NeuralzooError) as caught:
        load_dataset(DataConfig(**config))
    message = str(caught.value)
    assert "\n" not in message and all(p in message for p in parts), message
    return message


def test_digits_rows_are_the_digits_images_row_by_row(digits):
    rows = load_dataset(DataConfig(data="digits-rows"))
    assert rows.info.input_shape == (8, 8) and rows.info.task == "classify"
    assert torch.equal(rows.train.x, digits.train.x[:, 0]) and torch.equal(rows.test.y, digits.test.y)


@pytest.mark.slow
@pytest.mark.skipif(not (MNIST_DIR / "train-images-idx3-ubyte.gz").is_file(), reason="no MNIST files")
def test_mnist_rows():
    rows = load_dataset(DataConfig(data="mnist-rows", data_dir=str(MNIST_DIR), limit=100))
    assert rows.info.input_shape == (28, 28) and rows.test.x.shape == (10000, 28, 28)


def test_npz_sequences_with_lengths(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 6, 2)).astype(np.float32)
    lengths = rng.integers(1, 7, 40)
    x[np.arange(6)[None, :] >= lengths[:, None]] = np.nan   # NaN padding is allowed: it is zeroed
    np.savez(tmp_path / "s.npz", x=x, y=np.arange(40) % 3, lengths=lengths)
    data = load_dataset(DataConfig(data=str(tmp_path / "s.npz"), val_fraction=0.25))
    assert data.info.input_shape == (6, 2) and (len(data.train), len(data.val), len(data.test)) == (
        24, 8, 8)   # 0.2 held out for testing, then 0.25 of the rest for validation
    for part in (data.train, data.val, data.test):
        assert part.lengths is not None and len(part.lengths) == len(part)
        pad = torch.arange(6)[None, :] >= part.lengths[:, None]
        assert (part.x[pad] == 0).all() and torch.isfinite(part.x).all()
    batch = data.train.batch(torch.arange(5))
    assert batch["lengths"].shape == (5,) and batch["x"].shape == (5, 6, 2)
    np.savez(tmp_path / "long.npz", x=x, y=np.arange(40) % 3, lengths=lengths + 6)
    error([str(tmp_path / "long.npz"), "'lengths'", "outside 1..6"], data=str(tmp_path / "long.npz"))
    np.savez(tmp_path / "val.npz", x=x, y=np.arange(40) % 3, lengths=lengths, x_val=x, y_val=lengths % 2)
    error(["'lengths_val'"], data=str(tmp_path / "val.npz"))


@pytest.fixture
def ramp(tmp_path) -> Path:
    """Values equal to their step index: every window says exactly which steps it holds."""
    return write_series(tmp_path / "ramp.csv", {"v": list(range(100))}, time=list(range(1900, 2000)))


def test_windows_never_reach_into_the_future(ramp):
    data = load_dataset(DataConfig(data=str(ramp), lookback=5, horizon=3, val_fraction=0.2,
                                   test_fraction=0.2))
    train_end, val_end, n = data.info.series.split
    assert (train_end, val_end, n) == (60, 80, 100)
    mean, std = data.info.series.mean[0], data.info.series.std[0]
    bounds = {"train": (0, train_end), "val": (train_end, val_end), "test": (val_end, n)}
    for name, (start, end) in bounds.items():
        part = getattr(data, name)
        steps_x = (part.x[..., 0].double() * std + mean).round().long()   # (N, lookback) step indices
        steps_y = (part.y[..., 0].double() * std + mean).round().long()   # (N, horizon)
        first = steps_y[:, 0]
        assert ((steps_y >= start) & (steps_y < end)).all(), name          # targets inside the part
        assert torch.equal(steps_x, first[:, None] + torch.arange(-5, 0))    # the 5 steps just before
        assert torch.equal(steps_y, first[:, None] + torch.arange(3))
        assert first.tolist() == list(range(max(start, 5), end - 2)), name   # every origin, once


def test_scaling_and_training_windows_use_only_the_training_part(ramp, tmp_path):
    config = dict(lookback=5, horizon=3, val_fraction=0.2, test_fraction=0.2)
    data = load_dataset(DataConfig(data=str(ramp), **config))
    assert data.info.series.mean == [pytest.approx(29.5)]              # mean of steps 0..59
    assert data.info.series.std == [pytest.approx(np.arange(60).std())]
    changed = write_series(tmp_path / "changed.csv", {"v": list(range(60)) + [1e6 + i for i in range(40)]},
                           time=list(range(1900, 2000)))
    other = load_dataset(DataConfig(data=str(changed), **config))
    assert other.info.series.mean == data.info.series.mean
    # the evaluation's AR baseline and MASE scale come from the training part alone
    (ar_other,), scale_other = fit_baselines(training_values(other.train, other.info.series), other.info.series)
    (ar_data,), scale_data = fit_baselines(training_values(data.train, data.info.series), data.info.series)
    assert ar_other.tolist() == ar_data.tolist() and scale_other.tolist() == scale_data.tolist()
    assert torch.equal(other.train.x, data.train.x) and torch.equal(other.train.y, data.train.y)


def test_missing_values_error_or_interpolate_from_the_past(tmp_path):
    values = [float(i) for i in range(50)]
    values[10] = ""                   # a gap inside the training part
    values[29] = ""                   # the last training step (train ends at 30): only the past fills it
    values[30] = 1000.0               # ... and this later value must not reach it
    path = write_series(tmp_path / "gaps.csv", {"v": values}, time=list(range(50)))
    error([str(path), "column 'v'", "row 11 (line 12)", "missing", "--missing interpolate"],
          data=str(path), lookback=3)
    data = load_dataset(DataConfig(data=str(path), lookback=3, missing="interpolate", val_fraction=0.2,
                                   test_fraction=0.2))
    mean, std = data.info.series.mean[0], data.info.series.std[0]
    x = data.train.x[..., 0] * std + mean
    y = data.train.y[:, 0, 0] * std + mean
    restored = torch.cat([x[0], y]).double()     # steps 0..29 of the training part
    assert restored[10] == pytest.approx(10.0, abs=1e-4)           # linear between 9 and 11
    assert restored[29] == pytest.approx(28.0, abs=1e-4)           # held at the last training value
    assert torch.isfinite(data.train.x).all()
    assert "2 missing values interpolated from their own part" in data.info.description


def test_bad_series_input_names_the_problem(ramp, tmp_path):
    error([str(ramp), "no column 'nope'", "columns are: time, v"], data=str(ramp), lookback=3,
          value_columns=("nope",))
    error([str(ramp), "no column 'when'"], data=str(ramp), lookback=3, time_column="when")
    error(["lookback 90 + horizon 1 need at least 92 training steps"], data=str(ramp), lookback=90)
    text = write_series(tmp_path / "t.csv", {"v": ["1", "2", "x"] * 10})
    error([str(text), "column 'v'", "row 3 (line 4)", "'x' is not a number"], data=str(text), lookback=2)
    with pytest.raises(NeuralzooError, match="test_fraction"):
        DataConfig(val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(NeuralzooError, match="lookback"):
        DataConfig(lookback=0)


def test_ar_least_squares_recovers_a_known_process():
    rng = np.random.default_rng(0)
    c, a1, a2 = 0.5, 0.6, -0.3
    y = np.zeros(5000)
    for t in range(2, len(y)):
        y[t] = c + a1 * y[t - 1] + a2 * y[t - 2] + rng.standard_normal()
    coef = fit_ar(y[100:], 2)
    assert coef == pytest.approx([c, a1, a2], abs=0.05)
    history = np.array([[1.0, 2.0]])
    step1 = c + a1 * 2.0 + a2 * 1.0
    assert ar_forecast(history, np.array([c, a1, a2]), 2)[0] == pytest.approx(
        [step1, c + a1 * step1 + a2 * 2.0])


def test_baselines_and_metrics_by_hand():
    history = np.arange(12, dtype=float).reshape(1, 12, 1)        # 0..11
    spec = SeriesInfo(columns=["v"], lookback=12, horizon=6, mean=[0.0], std=[1.0], period=4, ar_order=2)
    out = baselines(history, 6, spec, [np.array([1.0, 1.0, 0.0])])
    assert out["naive"][0, :, 0].tolist() == [11] * 6
    assert out["seasonal_naive_4"][0, :, 0].tolist() == [8, 9, 10, 11, 8, 9]
    assert out["ar_2"][0, :, 0].tolist() == [12, 13, 14, 15, 16, 17]   # y = 1 + y[t-1]
    m = metrics(np.array([[[2.0], [0.0]]]), np.array([[[1.0], [0.0]]]), np.array([0.5]))
    assert m["mae"] == 0.5 and m["rmse"] == pytest.approx(np.sqrt(0.5)) and m["mase"] == 1.0
    assert m["smape"] == pytest.approx(200 * 1 / 3 / 2)           # 0/0 counts as 0


def test_text_vocabulary_from_training_part_and_held_out_windows(tmp_path):
    text = "abcabcabc" * 10 + "xyz" * 10            # 'x', 'y', 'z' appear only in the held-out tail
    (tmp_path / "t.txt").write_text(text)
    data = load_dataset(DataConfig(data=str(tmp_path / "t.txt"), seq_len=8, val_fraction=0.1,
                                   test_fraction=0.2))
    vocabulary = data.info.text.vocabulary
    assert vocabulary == "abc\ufffd" and data.info.task == "text"
    assert torch.equal(data.train.x[:, 1:], data.train.y[:, :-1])       # y is x shifted by one
    test_start = len(text) - 24
    assert len(data.test) * 8 == 24 and int(data.test.y.max()) == 3     # unseen -> U+FFFD
    decoded = "".join(vocabulary[i] for i in data.test.y.flatten().tolist())
    assert decoded == text[test_start:].replace("x", "\ufffd").replace("y", "\ufffd").replace("z", "\ufffd")
    (tmp_path / "bad.txt").write_bytes(b"caf\xe9 " * 50)
    error([str(tmp_path / "bad.txt"), "not UTF-8"], data=str(tmp_path / "bad.txt"))
    error(["seq_len"], data=str(tmp_path / "t.txt"), seq_len=500)


@pytest.mark.parametrize("name", ["sqrt", "log1p"])
def test_transform_round_trip_and_training_only_scaling(tmp_path, name):
    """The windows hold (transform(v) - mean) / std with mean and std of the transformed training
    part only; the inverse gives the values back; a later part never changes the statistics."""
    from neuralzoo.data.series import apply_transform, inverse_transform

    values = np.random.default_rng(0).gamma(2.0, 30.0, 120).round(1)
    path = write_series(tmp_path / "s.csv", {"v": list(values)})
    config = dict(lookback=6, val_fraction=0.0, test_fraction=0.25, transform=name)
    data = load_dataset(DataConfig(data=str(path), **config))
    spec = data.info.series
    forward = {"sqrt": np.sqrt, "log1p": np.log1p}[name]
    assert spec.transform == name and f"{name} transform" in data.info.description
    assert spec.mean == [pytest.approx(forward(values[:90]).mean())]
    assert spec.std == [pytest.approx(forward(values[:90]).std())]
    train_values = training_values(data.train, spec)   # the evaluation reads them back in raw units
    assert np.allclose(train_values[:, 0], values[:90], rtol=1e-5)
    (ar,), _ = fit_baselines(train_values, spec)
    assert ar.tolist() == pytest.approx(fit_ar(values[:90], 6).tolist(), rel=1e-4)   # AR on raw values
    restored = inverse_transform(data.test.y[:, 0, 0].double().numpy() * spec.std[0] + spec.mean[0], name)
    assert np.allclose(restored, values[90:], rtol=1e-5, atol=1e-4)
    exact = np.array([0.0, 0.5, 3.0, 154.4, 1e4])
    assert np.allclose(inverse_transform(apply_transform(exact, name), name), exact, rtol=1e-12)
    assert torch.allclose(inverse_transform(torch.from_numpy(apply_transform(exact, name)), name),
                          torch.from_numpy(exact), rtol=1e-12)
    later = write_series(tmp_path / "later.csv", {"v": list(values[:90]) + [1e5] * 30})
    other = load_dataset(DataConfig(data=str(later), **config))
    assert other.info.series.mean == spec.mean and torch.equal(other.train.x, data.train.x)


def test_transform_domain_and_choice_errors(tmp_path):
    path = write_series(tmp_path / "neg.csv", {"v": [1.0, 2.0, -3.0] * 20})
    error([str(path), "transform 'sqrt'", ">= 0", "-3"], data=str(path), lookback=3, transform="sqrt")
    error([str(path), "transform 'log1p'", "> -1"], data=str(path), lookback=3, transform="log1p")
    with pytest.raises(NeuralzooError, match="transform"):
        DataConfig(transform="boxcox")
    from neuralzoo.data.series import inverse_transform

    assert inverse_transform(np.array([-2.0, 3.0]), "sqrt").tolist() == [0.0, 9.0]   # a count is >= 0
