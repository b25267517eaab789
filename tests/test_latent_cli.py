"""CLI smoke of every latent-model command on tiny data, and their one-line errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from neuralzoo.cli import main
from neuralzoo.data import DataConfig, load_dataset


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("latent")
    for name in ("autoencoder", "vae"):
        assert main(["train", name, "--data", "digits", "--epochs", "2", "--batch-size", "64",
                     "--train-classes", "3", "--out", str(root / name), "--no-progress"]) == 0
    return root


def test_sample_writes_grid_and_array(runs, tmp_path):
    out = tmp_path / "s.png"
    assert main(["sample", str(runs / "vae"), "--n", "10", "--output", str(out)]) == 0
    assert out.stat().st_size > 100
    assert np.load(out.with_suffix(".npz"))["samples"].shape == (10, 1, 8, 8)


@pytest.mark.parametrize("name", ["samples.npz", "samples.png", "samples", "sub/dir/samples.jpg"])
def test_sample_output_with_either_extension_writes_both_files(runs, tmp_path, name, capsys):
    """``--output`` names the pair: whichever of the two suffixes (or none) is given, the grid and
    the array are written beside each other and the command succeeds."""
    out = tmp_path / name
    assert main(["sample", str(runs / "vae"), "--n", "9", "--output", str(out)]) == 0
    picture = out if out.suffix == ".jpg" else out.with_suffix(".png")
    assert np.load(out.with_suffix(".npz"))["samples"].shape == (9, 1, 8, 8)
    assert picture.stat().st_size > 100 and str(picture) in capsys.readouterr().out


def test_output_with_a_foreign_suffix_is_one_line_exit_2(runs, tmp_path, capsys):
    assert main(["sample", str(runs / "vae"), "--output", str(tmp_path / "samples.txt")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "samples.txt" in err and ".npz" in err and ".png" in err


def test_embed_writes_codes_and_map(runs):
    assert main(["embed", str(runs / "autoencoder"), "--split", "test"]) == 0
    codes = np.load(runs / "autoencoder" / "embedding.npz")
    assert codes["codes"].shape == (360, 32) and codes["labels"].shape == (360,)
    rows = list(csv.reader((runs / "autoencoder" / "embedding.csv").open()))
    assert rows[0][:2] == ["label", "z0"] and len(rows) == 361
    assert (runs / "autoencoder" / "embedding.png").stat().st_size > 1000


def test_reconstruct_and_interpolate(runs):
    assert main(["reconstruct", str(runs / "vae"), "--n", "8"]) == 0
    result = json.loads((runs / "vae" / "reconstructions.json").read_text())
    assert result["samples"] == 360 and result["squared_error"] > 0
    assert main(["interpolate", str(runs / "autoencoder"), "--steps", "5", "--pairs", "3"]) == 0
    assert (runs / "autoencoder" / "interpolation.png").exists()


def test_detect_with_contamination_and_labels(runs, capsys):
    assert main(["detect", str(runs / "vae"), "--iw-samples", "4", "--contamination", "0.1"]) == 0
    result = json.loads((runs / "vae" / "detect.json").read_text())
    assert result["score"] == "elbo" and "0.9 quantile" in result["threshold_rule"]
    threes = int((load_dataset(DataConfig(data="digits")).test.y == 3).sum())
    assert result["normal_classes"] == ["3"] and result["anomalies"] == 360 - threes
    assert 0 <= result["auroc"] <= 1 and (runs / "vae" / "roc.png").exists()
    rows = list(csv.DictReader((runs / "vae" / "anomaly_scores.csv").open()))
    assert len(rows) == 360 and sum(int(r["anomaly"]) for r in rows) == result["flagged"]
    assert main(["detect", str(runs / "autoencoder"), "--threshold", "1e9"]) == 0
    assert json.loads((runs / "autoencoder" / "detect.json").read_text())["flagged"] == 0


def test_evaluate_reports_likelihood_and_diagnostics(runs):
    assert main(["evaluate", str(runs / "vae"), "--iw-samples", "20"]) == 0
    result = json.loads((runs / "vae" / "eval.json").read_text())
    block = result["likelihood"]
    assert block["iw_samples"] == 20 and block["nll"] <= block["nelbo"] + 0.5
    assert len(block["kl_per_dimension"]) == 32 and 0 <= block["active_units"] <= 32
    assert (runs / "vae" / "samples.png").exists() and (runs / "vae" / "reconstructions.png").exists()
    assert main(["evaluate", str(runs / "autoencoder")]) == 0
    assert "likelihood" not in json.loads((runs / "autoencoder" / "eval.json").read_text())


@pytest.mark.parametrize("argv,message", [
    (["sample", "{ae}"], "model 'autoencoder' cannot sample"),
    (["sample", "{vae}", "--n", "0"], "--n must be a positive integer"),
    (["detect", "{ae}", "--score", "nll"], "scores by reconstruction error only"),
    (["detect", "{vae}", "--contamination", "0.7"], "contamination must be in"),
    (["detect", "{vae}", "--normal-classes", "12"], "normal classes 12 are not classes"),
    (["evaluate", "{vae}", "--iw-samples", "0"], "iw_samples must be a positive integer"),
    (["train", "vae", "--data", "digits", "--beta", "-1"], "beta must be positive"),
])
def test_errors_are_one_line(runs, capsys, argv, message):
    argv = [a.format(ae=runs / "autoencoder", vae=runs / "vae") for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
