"""Tabular data (issue 33): feature vectors standardised with the training part's statistics, which
travel with the model to every reader of raw inputs, and a held-out test part for a single file."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

import neuralzoo
from neuralzoo.cli import main
from neuralzoo.data import DataConfig, load_dataset, read_inputs
from neuralzoo.data.standardise import apply_standardise, invert_standardise
from neuralzoo.errors import NeuralzooError
from neuralzoo.evaluation import evaluate_run


def _table(path: Path, rows: int = 90, classes: int = 3, seed: int = 0) -> np.ndarray:
    """Columns on scales 1e-2 .. 1e3 (a row id first, a constant column last); label column last."""
    rng = np.random.default_rng(seed)
    y = np.arange(rows) % classes
    x = np.column_stack([np.arange(rows), 1000 + 300 * rng.standard_normal(rows) + 200 * y,
                         0.01 * rng.random(rows), np.full(rows, 7.0)])
    lines = ["id,big,small,constant,label"] + [",".join(f"{v:.6g}" for v in row) + f",{c}"
                                                for row, c in zip(x, y)]
    path.write_text("\n".join(lines) + "\n")
    return np.genfromtxt(path, delimiter=",", skip_header=1)[:, :-1]   # as written (6 digits)


def test_standardisation_is_fitted_on_the_training_part_only(tmp_path):
    raw = _table(tmp_path / "t.csv")
    data = load_dataset(DataConfig(data=str(tmp_path / "t.csv")))
    spec = data.info.standardise
    assert spec is not None and "standardised" in data.info.description
    ids = invert_standardise(data.train.x, spec)[:, 0].round().long()   # which rows training holds
    train_rows = torch.from_numpy(raw[ids.numpy()])
    torch.testing.assert_close(torch.tensor(spec.mean, dtype=torch.float64), train_rows.mean(0),
                               rtol=1e-6, atol=1e-6)   # float32 cells: ~7 digits
    torch.testing.assert_close(torch.tensor(spec.std[:3], dtype=torch.float64),
                               train_rows.std(0, correction=0)[:3], rtol=1e-5, atol=1e-7)
    assert spec.std[3] == 1.0 and (data.train.x[:, 3] == 0).all()   # a constant column: no 0 / 0
    assert abs(spec.mean[1] - raw[:, 1].mean()) > 1e-3   # the whole file's mean differs: can fail
    for part in (data.val, data.test):   # the other parts: the training constants, not their own
        rows = torch.from_numpy(raw[invert_standardise(part.x, spec)[:, 0].round().long().numpy()])
        torch.testing.assert_close(part.x, apply_standardise(rows.float(), spec), atol=1e-4, rtol=0)
    torch.testing.assert_close(data.train.x[:, :3].mean(0), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(data.train.x[:, :3].std(0, correction=0), torch.ones(3), atol=1e-4, rtol=0)


def test_off_keeps_raw_values_and_auto_leaves_unit_values_and_images(tmp_path):
    raw = _table(tmp_path / "t.csv")
    off = load_dataset(DataConfig(data=str(tmp_path / "t.csv"), standardise="off"))
    assert off.info.standardise is None and "standardised" not in off.info.description
    torch.testing.assert_close(off.train.x, torch.from_numpy(raw[off.train.x[:, 0].long()]).float())
    np.savez(tmp_path / "unit.npz", x=np.random.default_rng(0).random((40, 5)), y=np.arange(40) % 2)
    unit = load_dataset(DataConfig(data=str(tmp_path / "unit.npz")))
    assert unit.info.standardise is None and unit.info.value_range[1] <= 1   # pixels, probabilities
    forced = load_dataset(DataConfig(data=str(tmp_path / "unit.npz"), standardise="on"))
    assert forced.info.standardise is not None and forced.train.x.min() < 0
    digits = load_dataset(DataConfig(data="digits"))
    assert digits.info.standardise is None   # images: only on request (test_image_standardisation.py)
    with pytest.raises(NeuralzooError, match="not to time series"):
        load_dataset(DataConfig(data="sunspots", standardise="on"))
    with pytest.raises(NeuralzooError, match="standardise must be one of"):
        DataConfig(standardise="yes")


def test_a_single_file_gets_a_stratified_seeded_test_part(tmp_path):
    _table(tmp_path / "t.csv", rows=90)
    first, again = (load_dataset(DataConfig(data=str(tmp_path / "t.csv"), standardise="off"))
                    for _ in range(2))
    ids = {name: set(getattr(first, name).x[:, 0].long().tolist()) for name in ("train", "val", "test")}
    assert len(first.test) == math.ceil(0.2 * 90) and sum(map(len, ids.values())) == 90
    assert not (ids["test"] & (ids["train"] | ids["val"]))   # disjoint
    assert torch.bincount(first.test.y).tolist() == [6, 6, 6]   # stratified: each class's share
    assert torch.equal(again.test.x, first.test.x)   # deterministic
    assert "held out from the file: 0.2 of its 90 samples, stratified, split_seed 0" in first.info.description
    other = load_dataset(DataConfig(data=str(tmp_path / "t.csv"), standardise="off", split_seed=1))
    assert set(other.test.x[:, 0].long().tolist()) != ids["test"]
    none = load_dataset(DataConfig(data=str(tmp_path / "t.csv"), test_fraction=0))
    assert none.test is None and len(none.train) + len(none.val) == 90
    x = np.random.default_rng(0).standard_normal((50, 3))
    np.savez(tmp_path / "given.npz", x=x, y=np.arange(50) % 2, x_test=x[:5], y_test=np.arange(5) % 2)
    assert len(load_dataset(DataConfig(data=str(tmp_path / "given.npz"))).test) == 5   # the file's own
    np.savez(tmp_path / "plain.npz", x=x)   # unlabelled: a random draw
    assert len(load_dataset(DataConfig(data=str(tmp_path / "plain.npz"))).test) == 10


def test_files_too_small_to_hold_out_a_test_part_say_what_they_need(tmp_path):
    (tmp_path / "lonely.csv").write_text("a,label\n" + "".join(f"{i},{'x' if i < 6 else 'y'}\n"
                                                             for i in range(7)))
    with pytest.raises(NeuralzooError, match=r"lonely.csv: .*class 'y' has 1 sample; each class needs "
                                             r"at least 2.*--test-fraction 0"):
        load_dataset(DataConfig(data=str(tmp_path / "lonely.csv")))
    (tmp_path / "six.csv").write_text("a,label\n" + "".join(f"{i},{i % 3}\n" for i in range(6)))
    with pytest.raises(NeuralzooError, match=r"from 6 samples of 3 classes: .*at least 15 samples"):
        load_dataset(DataConfig(data=str(tmp_path / "six.csv")))
    assert load_dataset(DataConfig(data=str(tmp_path / "six.csv"), test_fraction=0,
                                   val_fraction=0)).test is None
    # 12 rows of 2 classes: 9 to train on, and 10% of them is 1 validation sample for 2 classes
    (tmp_path / "twelve.csv").write_text("a,label\n" + "".join(f"{i},{i % 2}\n" for i in range(12)))
    with pytest.raises(NeuralzooError, match=r"twelve.csv: val_fraction 0.1 of 9 training samples is 1, "
                                             r"fewer than the 2 classes: .*at least 20 training samples"):
        load_dataset(DataConfig(data=str(tmp_path / "twelve.csv")))
    assert len(load_dataset(DataConfig(data=str(tmp_path / "twelve.csv"), val_fraction=0.3)).val) == 3


@pytest.fixture(scope="module")
def wine(tmp_path_factory) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """scikit-learn's wine table as a CSV (178 rows, 13 columns on scales 0.1 .. 1,700) and a run
    of the default MLP on it, trained briefly."""
    from sklearn.datasets import load_wine

    folder = tmp_path_factory.mktemp("wine")
    frame = load_wine(as_frame=True).frame
    path = folder / "wine.csv"
    frame.to_csv(path, index=False)
    neuralzoo.train("mlp", data=str(path), label_column="target", out=folder / "run", epochs=30,
                    batch_size=32, progress=False)
    return path, folder / "run", frame.drop(columns="target").to_numpy(), frame["target"].to_numpy()


def test_a_wide_scaled_table_learns_and_evaluates(wine):
    path, run, _, _ = wine
    result = evaluate_run(run, out=run / "eval")   # the held-out test part of a single CSV
    assert result["protocol"]["samples"] == 36 and result["accuracy"] > 0.9


def test_accuracy_ties_on_a_small_validation_part_go_to_the_lower_loss(wine):
    """15 validation samples: accuracy moves in steps of 7 points and ties for many epochs; the best
    checkpoint is the tied epoch with the lowest validation loss, not the first one."""
    import json

    _, run, _, _ = wine
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    val = [r for r in records if r["event"] == "val"]
    top = max(r["val_accuracy"] for r in val)
    tied = [r for r in val if r["val_accuracy"] == top]
    assert len(tied) >= 2 and tied[0]["val_loss"] > min(r["val_loss"] for r in tied)   # so it can fail
    chosen = [r for r in val if r["best"]][-1]
    assert chosen is min(tied, key=lambda r: r["val_loss"])


def test_raw_inputs_are_predicted_as_in_training(wine, tmp_path):
    from neuralzoo.export.graphs import preprocessing
    from neuralzoo.serve.uploads import pixels_to_input

    path, run, _, _ = wine
    model = neuralzoo.load(run)
    data = load_dataset(DataConfig(data=str(path), label_column="target"))   # as training saw it
    expected = model.predict_proba(data.test.x)
    raw = invert_standardise(data.test.x, model.info.standardise).numpy()   # the file's own values
    assert raw[:, 12].min() > 200   # proline in its units: the inputs below are raw
    np.savez(tmp_path / "rows.npz", x=raw)
    header = ",".join(f"f{i}" for i in range(13))
    (tmp_path / "rows.csv").write_text(header + "\n" + "\n".join(",".join(f"{v:.9g}" for v in row)
                                                                 for row in raw) + "\n")
    for name in ("rows.npz", "rows.csv"):   # neuralzoo predict's reader
        x, _, _ = read_inputs(str(tmp_path / name), model.info)
        torch.testing.assert_close(model.predict_proba(x), expected, atol=1e-4, rtol=0)
    served = pixels_to_input(raw[0].tolist(), model.info)   # the server's JSON rows
    torch.testing.assert_close(model.predict_proba(served), expected[:1], atol=1e-4, rtol=0)
    everything = load_dataset(DataConfig(data=str(path), label_column="target", test_fraction=0,
                                         val_fraction=0), standardisation=model.info.standardise)
    assert main(["predict", str(run), "--input", str(path), "--output", str(tmp_path / "p.csv")]) == 0
    predicted = [line.split(",")[1] for line in (tmp_path / "p.csv").read_text().splitlines()[1:]]
    wanted = model.predict_proba(everything.train.x).argmax(1)   # the training CSV, label column dropped
    assert predicted == [model.info.class_names[i] for i in wanted] and len(predicted) == 178
    exported = preprocessing(model)["standardise"]   # what the ONNX metadata carries
    assert exported["mean"] == model.info.standardise.mean and len(exported["std"]) == 13


def test_the_estimators_standardise_with_the_fit_statistics(wine):
    from sklearn.model_selection import train_test_split

    from neuralzoo.sklearn import NeuralZooClassifier, NeuralZooTransformer

    _, _, x, y = wine
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, stratify=y, random_state=0)
    classifier = NeuralZooClassifier("mlp", epochs=30, batch_size=32, random_state=0).fit(x_train, y_train)
    assert classifier.model_.info.standardise is not None
    assert classifier.score(x_test, y_test) > 0.9
    raw = NeuralZooClassifier("mlp", epochs=30, batch_size=32, random_state=0, standardise="off")
    assert raw.fit(x_train, y_train).model_.info.standardise is None
    codes = NeuralZooTransformer(epochs=20, batch_size=32, random_state=0,
                                 model_params={"latent_dim": 4}).fit(x_train)
    back = codes.inverse_transform(codes.transform(x_test))   # decoded in the data's units
    scale = x_train.std(0)
    assert (np.abs(back.mean(0) - x_test.mean(0)) < scale).all()   # proline near 750, not near 0
