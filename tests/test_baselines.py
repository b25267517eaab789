"""Baselines beside every result (evaluation/baselines.py, baseline_figures.py): each baseline
against a closed form, the comparison's tolerance, and the BaselineWarning an undertrained model
earns on validation (eval.json, the Python API, the command line, the report page) and a trained one
does not."""

from __future__ import annotations

import json
import math
import re
import warnings

import numpy as np
import pytest

import neuralzoo
from neuralzoo.errors import BaselineWarning
from neuralzoo.evaluation import baseline_check, evaluate_run
from neuralzoo.evaluation.baselines import (accuracy_tolerance, capped, compare, fit_pca,
                                            independent_nll, logistic_regression, majority_accuracy,
                                            pca_squared_error, sample_cap, unigram_bits_per_char)


def test_majority_accuracy_is_the_share_of_the_training_majority_class():
    train_y = np.array([2, 2, 2, 0, 1])                       # class 2 is the majority
    assert majority_accuracy(train_y, np.array([2, 0, 2, 1, 1, 2, 0, 0])) == 3 / 8
    assert majority_accuracy(train_y, np.array([0, 1])) == 0.0


def test_logistic_regression_beats_the_majority_class_on_separable_data():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]])
    y = rng.choice(3, size=600, p=[0.5, 0.3, 0.2])
    x = centres[y] * 100 + rng.normal(size=(600, 2)) * 50   # scales the scaler has to undo
    fitted = logistic_regression(x[:400], y[:400], seed=0)
    accuracy = fitted.score(x[400:], y[400:])
    assert accuracy > 0.97 and accuracy > majority_accuracy(y[:400], y[400:]) + 0.4
    assert logistic_regression(x[:10], np.zeros(10, dtype=int), seed=0) is None   # one class: none


def test_the_training_draw_is_capped_and_stratified():
    assert sample_cap(784) == 5000 and sample_cap(3 * 224 * 224) == 166   # 25 million values at most
    y = np.repeat([0, 1, 2], [3000, 2000, 1000])
    x = np.arange(len(y), dtype=float)[:, None]
    drawn_x, drawn_y = capped(x, y, seed=0)
    assert len(drawn_x) == 5000 and np.array_equal(y[drawn_x[:, 0].astype(int)], drawn_y)
    assert np.abs(np.bincount(drawn_y) - np.array([3000, 2000, 1000]) * 5 / 6).max() <= 1   # stratified
    assert len(capped(x[:100], y[:100], seed=0)[0]) == 100   # under the cap: all of it


def test_pca_error_is_the_sum_of_the_discarded_squared_singular_values():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 3)) @ rng.normal(size=(3, 12)) + rng.normal(size=12)   # rank 3 + a mean
    assert pca_squared_error(fit_pca(x, 3, seed=0), x) < 1e-9                         # exact
    noisy = x + 0.1 * rng.normal(size=x.shape)
    singular = np.linalg.svd(noisy - noisy.mean(0), compute_uv=False)
    for k in (1, 3, 5):
        expected = float((singular[k:] ** 2).sum() / len(noisy))
        assert pca_squared_error(fit_pca(noisy, k, seed=0), noisy) == pytest.approx(expected, rel=1e-6)


def test_independent_features_likelihood_closed_forms():
    # Bernoulli, add-one smoothed: one 1 and one 0 in training -> p = 2/4; -log p(x) = log 2 per feature
    train = np.array([[1.0, 1.0], [0.0, 0.0]])
    assert independent_nll(train, np.array([[1.0, 0.0]]), "bernoulli") == pytest.approx(2 * math.log(2))
    # Gaussian fitted on {0, 2}: mean 1, variance 1; at x = 1: log sqrt(2 pi)
    train = np.array([[0.0], [2.0]])
    assert independent_nll(train, np.array([[1.0]]), "gaussian") == pytest.approx(0.5 * math.log(2 * math.pi))
    assert independent_nll(train, np.array([[3.0]]), "gaussian") == pytest.approx(
        0.5 * math.log(2 * math.pi) + 2.0)


def test_unigram_bits_per_char_closed_forms():
    abab = np.array([0, 1, 0, 1])
    assert unigram_bits_per_char(abab, abab, 2) == pytest.approx(1.0)           # "abab": one bit
    # "aaa" then an unseen "b": add-one gives p(b) = 1 / (3 + 2)
    assert unigram_bits_per_char(np.zeros(3, int), np.array([1]), 2) == pytest.approx(math.log2(5))


def test_comparison_picks_the_best_baseline_and_tolerates_noise():
    figures = {"accuracy": {"model": 0.90, "majority_class": 0.10, "logistic_regression": 0.95}}
    behind = compare("mlp", "val", figures, samples=1000)
    assert behind.baseline == "logistic_regression" and behind.behind
    message = behind.message("classify")
    assert "mlp's validation accuracy 90.0% is behind logistic regression's 95.0%" in message
    assert "--epochs" in message
    one_sample = compare("mlp", "val", {"accuracy": {"model": 0.949, "logistic_regression": 0.95}}, 1000)
    assert not one_sample.behind                           # one sample in 1,000 is noise
    assert accuracy_tolerance(0.5, 0.5, 100) == pytest.approx(math.sqrt(0.5 / 100))
    lower = {"mase": {"model": 1.005, "naive": 1.3, "ar_12": 1.0}}
    assert not compare("gru", "val", lower, 50).behind     # within 1% of AR(12)
    lower["mase"]["model"] = 1.2
    assert compare("gru", "val", lower, 50).message("forecast").startswith(
        "gru's validation MASE 1.2 is behind AR(12)'s 1")
    assert compare("x", "val", {"accuracy": {"model": 0.5}}, 10) is None   # no baseline: nothing said


@pytest.fixture(scope="module")
def untrained(tmp_path_factory):
    """Models trained two steps: far behind their baselines (the forecaster without its linear part:
    the default hybrid starts as that linear model, and is kept so when training does not beat it)."""
    folder = tmp_path_factory.mktemp("untrained")
    for name, data, extra in (("mlp", "digits", {}), ("autoencoder", "digits", {}),
                              ("gru", "sunspots", {"linear_skip": False}), ("lstm", "fable", {})):
        neuralzoo.train(name, out=folder / name, data=data, epochs=1, max_steps=2, progress=False,
                        verbose=False, device="cpu", baselines=False, **extra)
    return folder


@pytest.mark.parametrize("name, metric, baseline", [
    ("mlp", "accuracy", "logistic regression"), ("autoencoder", "squared error", "PCA (32 components)"),
    ("gru", "MASE", "AR("), ("lstm", "bits/char", "unigram frequencies")])
def test_an_untrained_model_is_behind_its_baseline_on_validation(untrained, tmp_path, name, metric,
                                                                 baseline):
    with pytest.warns(BaselineWarning, match=f"{name}'s validation {re.escape(metric)}.* is behind "
                                             f"{re.escape(baseline)}") as caught:
        result = evaluate_run(untrained / name, out=tmp_path)
    assert len([w for w in caught if w.category is BaselineWarning]) == 1
    recorded = json.loads((tmp_path / "eval.json").read_text())
    assert recorded["warnings"] == [str(caught[0].message)] and recorded["baselines"]["comparison"]["behind"]
    comparison = recorded["baselines"]["comparison"]
    assert comparison["split"] == "val" and set(recorded["baselines"]["splits"]) == {"test", "val"}
    # the model's test figure beside the baselines is the headline the reporters give
    test = recorded["baselines"]["splits"]["test"][comparison["metric"]]
    assert test["model"] == pytest.approx(result["headline"]["value"])
    assert baseline_check(untrained / name) == recorded["warnings"]


def test_no_baselines_means_no_warning(untrained, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", BaselineWarning)
        result = evaluate_run(untrained / "mlp", out=tmp_path, baselines=False)
    assert "baselines" not in result and "warnings" not in result


def test_a_trained_model_holds_its_own(tmp_path, digits):
    neuralzoo.train("mlp", out=tmp_path / "mlp", data="digits", epochs=6, lr=1e-2, batch_size=64,
                    schedule="one-cycle", batch_norm=True, progress=False, verbose=False, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error", BaselineWarning)
        result = evaluate_run(tmp_path / "mlp")
    assert result["warnings"] == [] and not result["baselines"]["comparison"]["behind"]
    val = result["baselines"]["splits"]["val"]["accuracy"]
    assert val["model"] > val["majority_class"] + 0.5 and val["logistic_regression"] > 0.9
    model = neuralzoo.load(tmp_path / "mlp")   # in memory, with its data: nothing loaded
    assert baseline_check(model, digits) == []


def test_cli_prints_the_baselines_and_one_warning_line_and_the_report_shows_them(untrained, cli, tmp_path):
    code, out, err = cli(["evaluate", untrained / "mlp", "--out", tmp_path])
    assert code == 0, err
    shown = json.loads(out)["baselines"]["accuracy"]
    assert set(shown) == {"model", "majority_class", "logistic_regression"}
    lines = [line for line in err.splitlines() if "is behind" in line]
    assert len(lines) == 1 and "logistic regression" in lines[0]
    code, out, err = cli(["evaluate", untrained / "mlp", "--out", tmp_path, "--no-baselines"])
    assert code == 0 and "is behind" not in err and "baselines" not in json.loads(out)
    assert cli(["evaluate", untrained / "mlp"])[0] == 0   # eval.json in the run, for the page
    page = tmp_path / "r.html"
    assert cli(["report", untrained / "mlp", "--output", page])[0] == 0
    text = page.read_text()
    assert "<h3>Baselines</h3>" in text and "logistic_regression" in text
    assert "is behind logistic regression" in text and "(model behind)" in text


def test_baseline_check_takes_a_model_in_memory_as_the_training_loop_holds_it(digits):
    from neuralzoo.api import build_model, resolve

    fresh = build_model(resolve("mlp", None, None, {}), digits.info, seed=0)   # never saved: no run config
    messages = baseline_check(fresh, digits)
    assert len(messages) == 1 and messages[0].startswith("mlp's validation accuracy")
    with pytest.raises(ValueError, match="give the model's data"):
        baseline_check(fresh)


def test_baselines_leave_the_reporters_data_as_it_was(untrained, tmp_path):
    # the test split alone: the reporters see the whole training part (no validation split drawn),
    # the baselines load theirs with the validation split
    with pytest.warns(BaselineWarning):
        with_baselines = evaluate_run(untrained / "autoencoder", out=tmp_path)
    without = evaluate_run(untrained / "autoencoder", out=tmp_path, baselines=False)
    assert with_baselines["knn_protocol"] == without["knn_protocol"]
    assert "all 1437 training labels" in without["knn_protocol"]
    assert with_baselines["knn_accuracy"] == without["knn_accuracy"]
    assert with_baselines["baselines"]["comparison"]["split"] == "val"
