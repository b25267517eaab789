"""Imbalanced classes: the long-tailed training part (--imbalance), the three remedies of
--class-balance (class weights, class-balanced resampling, logit adjustment) and the evaluation of
classifiers on skewed classes (balanced accuracy, PR AUC, the headline's switch)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import neuralzoo
from neuralzoo.config import TrainConfig
from neuralzoo.fields import build
from neuralzoo.data import DataConfig, load_dataset
from neuralzoo.data.base import DataInfo
from neuralzoo.errors import NeuralzooError
from neuralzoo.evaluation import eval_data_config, evaluate_run, load_eval_data
from neuralzoo.models.mlp import MLP, MLPConfig
from neuralzoo.training.loop import epoch_order

from cli_helpers import one_line_error
from run_helpers import crash_at_step_call

QUIET = dict(progress=False, verbose=False, baselines=False)


# ------------------------------------------------------------------------ the long-tailed cut

def test_the_long_tail_follows_the_exponential_profile_and_leaves_val_and_test_alone(digits):
    cut = load_dataset(DataConfig(data="digits", imbalance=10))
    before = torch.bincount(digits.train.y, minlength=10)
    counts = torch.bincount(cut.train.y, minlength=10)
    n_max = int(before.max())
    # Cao et al. 2019: class c keeps int(n_max * (1/10) ** (c / 9)); the first is capped by what it has
    assert counts[0] == min(n_max, int(before[0])) and counts[9] == int(n_max / 10)
    assert counts[4] == int(n_max * 10 ** (-4 / 9))
    assert (counts[1:] <= counts[:-1]).all() and cut.info.class_counts == counts.tolist()
    # a subset of the very training part the balanced load has, the validation and test parts unchanged
    rows = {tuple(r) for r in digits.train.x.flatten(1).tolist()}
    assert all(tuple(r) in rows for r in cut.train.x.flatten(1).tolist())
    assert torch.equal(cut.val.x, digits.val.x) and torch.equal(cut.test.y, digits.test.y)
    assert f"per class {', '.join(map(str, counts.tolist()))}" in cut.info.description
    assert "imbalance 10" in cut.info.description and digits.info.class_counts == before.tolist()


def test_the_cut_is_a_seeded_draw():
    again = load_dataset(DataConfig(data="digits", imbalance=5))
    first = load_dataset(DataConfig(data="digits", imbalance=5))
    other = load_dataset(DataConfig(data="digits", imbalance=5, split_seed=1))
    assert torch.equal(first.train.x, again.train.x)
    assert first.info.class_counts == other.info.class_counts   # the same profile, other samples
    assert not torch.equal(first.train.x[first.train.y == 9], other.train.x[other.train.y == 9])


def test_bad_imbalance_is_one_line(capsys):
    with pytest.raises(NeuralzooError, match="imbalance must be a ratio >= 1"):
        DataConfig(imbalance=0.5)
    with pytest.raises(NeuralzooError, match="imbalance 1000 leaves class '.' with no training example"):
        load_dataset(DataConfig(data="digits", imbalance=1000))
    one_line_error(["train", "mlp", "--imbalance", "0.9", "--epochs", "1"], capsys, "imbalance", "0.9")
    one_line_error(["train", "mlp", "--imbalance", "1000", "--epochs", "1"], capsys,
                   "no training example")
    with pytest.raises(NeuralzooError, match="imbalance: 10 cuts classes of labelled data, not a time series"):
        load_dataset(DataConfig(data="sunspots", imbalance=10))


def test_class_counts_round_trip_and_older_infos_have_none(digits):
    info = DataInfo.from_dict(json.loads(json.dumps(digits.info.to_dict())))
    assert info.class_counts == digits.info.class_counts and sum(info.class_counts) == len(digits.train)
    older = digits.info.to_dict()
    del older["class_counts"]
    assert DataInfo.from_dict(older).class_counts is None


# ------------------------------------------------------------------------ --class-balance

def test_class_weights_balanced_is_the_older_spelling_of_weights(capsys):
    assert TrainConfig(class_weights="balanced").class_balance == "weights"
    saved = build(TrainConfig, {"class_weights": "balanced"})   # a config.json from before
    assert saved.class_balance == "weights" and saved.class_weights == "none"
    with pytest.raises(NeuralzooError, match="class_weights 'balanced' and class_balance 'resample' "
                                             "contradict each other"):
        TrainConfig(class_weights="balanced", class_balance="resample")
    one_line_error(["train", "mlp", "--class-weights", "balanced", "--class-balance", "logit-adjust",
                    "--epochs", "1"], capsys, "contradict each other")
    with pytest.raises(NeuralzooError, match="logit_adjust_tau applies to --class-balance logit-adjust"):
        TrainConfig(logit_adjust_tau=2.0)


def test_resampling_draws_classes_evenly_and_replays_by_seed_and_epoch():
    labels = torch.cat([torch.zeros(900), torch.ones(90), torch.full((10,), 2)]).long()
    order = epoch_order(len(labels), 0, 3, labels)
    assert len(order) == 1000 and torch.equal(order, epoch_order(1000, 0, 3, labels))
    assert not torch.equal(order, epoch_order(1000, 0, 4, labels))
    drawn = torch.bincount(labels[order], minlength=3)
    assert ((drawn > 270) & (drawn < 400)).all(), drawn   # 333 each expected; 900 / 90 / 10 without
    assert len(torch.unique(order[labels[order] == 2])) == 10   # with replacement: the 10 drawn again
    unlabelled = torch.cat([labels, torch.full((50,), -1)])
    assert (unlabelled[epoch_order(1050, 0, 0, unlabelled)] >= 0).all()


def test_a_resampled_run_resumes_exactly(tmp_path, monkeypatch):
    run = dict(data="digits", imbalance=5, class_balance="resample", epochs=3, batch_size=64, dropout=0.3,
               lr=3e-3, checkpoint_every=5, progress=False, verbose=False, baselines=False)
    reference = neuralzoo.train("mlp", out=tmp_path / "reference", **run)
    # mid-epoch 2, three steps after the checkpoint at step 15
    crash_at_step_call(monkeypatch, "mlp", 18, tmp_path / "run", **run)
    resumed = neuralzoo.train(resume=tmp_path / "run")
    assert resumed["final"] == reference["final"] and resumed["steps"] == reference["steps"]


def test_logit_adjusted_loss_in_closed_form(digits):
    """Zero logits: the adjusted cross-entropy of class y is -log(prior_y^tau / sum_k prior_k^tau);
    in eval mode (validation, evaluation, prediction) it is the plain log K."""
    keep = torch.cat([torch.nonzero(digits.train.y == c)[: 3 + 5 * c, 0] for c in range(10)])
    part = digits.train.subset(keep)
    model = MLP(MLPConfig(hidden_sizes=(8,)), digits.info)
    torch.nn.init.zeros_(model.net[-1].weight)
    torch.nn.init.zeros_(model.net[-1].bias)
    model.prepare(TrainConfig(class_balance="logit-adjust", logit_adjust_tau=2.0), part)
    prior = (3 + 5 * torch.arange(10.0)) / (30 + 5 * 45)
    batch = part.batch(torch.arange(len(part)))
    expected = -torch.log(prior[part.y] ** 2 / (prior ** 2).sum()).mean()
    assert model.train().loss(batch)["loss"].item() == pytest.approx(float(expected), rel=1e-5)
    assert model.eval().loss(batch)["loss"].item() == pytest.approx(math.log(10), rel=1e-5)


def test_post_hoc_adjustment_moves_predictions_and_survives_the_checkpoint(digits, skewed_runs):
    """Zero logits in training mode; in eval mode -tau * log prior, so the rarest class wins; the
    adjustment is a buffer the checkpoint keeps (a model trained without it has none)."""
    keep = torch.cat([torch.nonzero(digits.train.y == c)[: 3 + 5 * c, 0] for c in range(10)])
    model = MLP(MLPConfig(hidden_sizes=(8,)), digits.info)
    torch.nn.init.zeros_(model.net[-1].weight)
    torch.nn.init.zeros_(model.net[-1].bias)
    model.prepare(TrainConfig(class_balance="logit-adjust", logit_adjust_at="prediction"),
                  digits.train.subset(keep))
    x = digits.test.x[:5]
    assert torch.equal(model.train()(x), torch.zeros(5, 10))
    prior = (3 + 5 * torch.arange(10.0)) / (30 + 5 * 45)
    assert torch.allclose(model.eval()(x), -torch.log(prior).expand(5, 10), atol=1e-6)
    assert (model.predict(x) == 0).all()
    loaded = neuralzoo.load(Path(skewed_runs["post-hoc"]["checkpoint"]))
    plain = neuralzoo.load(Path(skewed_runs["none"]["checkpoint"]))
    assert loaded.prediction_adjustment.abs().sum() > 0 and not plain.prediction_adjustment.any()
    test = load_eval_data(loaded, eval_data_config(loaded, {}), need_validation=False).test
    raw = loaded.train()(test.x).detach()
    assert torch.allclose(loaded.predict_logits(test.x), raw - loaded.prediction_adjustment, atol=1e-5)
    with pytest.raises(NeuralzooError, match="logit_adjust_at applies to --class-balance logit-adjust"):
        TrainConfig(logit_adjust_at="prediction")


def test_remedies_apply_to_classifiers_only_and_dp_refuses_resampling(tmp_path):
    with pytest.raises(NeuralzooError, match="class_balance applies to classifiers only"):
        neuralzoo.train("autoencoder", out=tmp_path / "ae", epochs=1, class_balance="resample", **QUIET)
    with pytest.raises(NeuralzooError, match="class_balance logit-adjust needs a training sample of "
                                             "every class; class '0'"):
        neuralzoo.train("mlp", out=tmp_path / "mlp", epochs=1, train_classes=("1", "2"),
                        class_balance="logit-adjust", **QUIET)


# ------------------------------------------------------------------------ learning on skewed data

@pytest.fixture(scope="module")
def skewed(tmp_path_factory) -> Path:
    """Two overlapping Gaussians (means -1 and +1 on the first axis, unit variance), balanced 400 /
    400 before --imbalance cuts the training part; a balanced test part of 1000 each. The Bayes
    boundary of a 20:1 prior moves ln(20)/2 = 1.5 into the rare class (its recall ~0.31), the
    balanced one sits at 0 (recall 0.84 each)."""
    rng = np.random.default_rng(0)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.repeat([0, 1], n)
        x = rng.normal(size=(2 * n, 2)).astype(np.float32)
        x[:, 0] += np.where(y == 0, -1.0, 1.0)
        return x, y

    (x, y), (x_test, y_test) = draw(400), draw(1000)
    path = tmp_path_factory.mktemp("skewed") / "gaussians.npz"
    np.savez(path, x=x, y=y, x_test=x_test, y_test=y_test)
    return path


@pytest.fixture(scope="module")
def skewed_runs(skewed, tmp_path_factory) -> dict[str, dict]:
    out = tmp_path_factory.mktemp("skewed-runs")
    results = {}
    for method in ("none", "weights", "resample", "logit-adjust", "post-hoc"):
        balance = dict(class_balance="logit-adjust", logit_adjust_at="prediction") if method == "post-hoc" \
            else dict(class_balance=method)
        neuralzoo.train("mlp", out=out / method, data=str(skewed), imbalance=20, val_fraction=0,
                        hidden_sizes=(16,), epochs=25, batch_size=32, lr=1e-2, seed=0, **balance, **QUIET)
        results[method] = evaluate_run(out / method, baselines=False)
    return results


def test_each_remedy_raises_balanced_accuracy_over_plain_cross_entropy(skewed_runs):
    plain = skewed_runs["none"]
    assert plain["per_class"]["1"]["recall"] < 0.6   # the rare class lost to the prior
    for method in ("weights", "resample", "logit-adjust", "post-hoc"):
        result = skewed_runs[method]
        assert result["balanced_accuracy"] > plain["balanced_accuracy"] + 0.05, (method, result)
        assert result["balanced_accuracy"] > 0.78 and result["per_class"]["1"]["recall"] > 0.7


def test_the_headline_is_balanced_accuracy_on_skewed_classes_and_says_why(skewed_runs, digits,
                                                                          run_dir, tmp_path):
    from sklearn.metrics import average_precision_score, balanced_accuracy_score

    result = skewed_runs["logit-adjust"]
    assert result["headline"]["metric"] == "balanced_accuracy"
    assert "training classes are skewed (largest / smallest class 20 >= 1.5)" in result["headline"]["note"]
    recalls = [c["recall"] for c in result["per_class"].values()]
    assert result["balanced_accuracy"] == pytest.approx(np.mean(recalls))
    matrix = np.array(result["confusion_matrix"])
    true = np.repeat([0, 0, 1, 1], matrix.flatten())
    predicted = np.repeat([0, 1, 0, 1], matrix.flatten())
    assert result["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(true, predicted))
    # two classes: the precision-recall AUC of the second, well above its prevalence (0.5) here
    assert result["pr_auc_positive_class"] == "1" and 0.8 < result["pr_auc"] <= 1
    model = neuralzoo.load(Path(result["checkpoint"]))
    test = load_eval_data(model, eval_data_config(model, {}), need_validation=False).test
    scores = model.predict_proba(test.x)[:, 1].numpy()
    assert result["pr_auc"] == pytest.approx(average_precision_score(test.y.numpy() == 1, scores))
    # balanced digits: accuracy stays the headline, with no note
    balanced = evaluate_run(run_dir, out=tmp_path, baselines=False)
    assert balanced["headline"]["metric"] == "accuracy" and "note" not in balanced["headline"]
    assert "pr_auc" not in balanced and 0 <= balanced["balanced_accuracy"] <= 1


def test_evaluate_prints_the_headline_note(skewed_runs, cli, tmp_path):
    code, out, err = cli(["evaluate", Path(skewed_runs["weights"]["checkpoint"]).parents[1],
                          "--no-baselines", "--out", tmp_path])
    shown = json.loads(out)
    assert code == 0 and shown["headline"]["metric"] == "balanced_accuracy" and "pr_auc" in shown
    assert err.strip().splitlines() == [shown["headline"]["note"]]


def test_on_skewed_classes_the_baselines_are_compared_on_balanced_accuracy(skewed_runs, tmp_path):
    result = evaluate_run(Path(skewed_runs["logit-adjust"]["checkpoint"]).parents[1], out=tmp_path)
    test = result["baselines"]["splits"]["test"]
    assert test["balanced_accuracy"]["model"] == pytest.approx(result["balanced_accuracy"])
    # the majority class recalls one class of two; the baselines are fitted on the same long tail
    assert test["balanced_accuracy"]["majority_class"] == pytest.approx(0.5)
    assert result["baselines"]["comparison"]["metric"] == "balanced_accuracy"
