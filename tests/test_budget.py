"""The automatic training budget (no --epochs), the best-checkpoint tie-break and the warning when a run
ends while its validation metric is still clearly improving."""

from __future__ import annotations

import io
import warnings
from contextlib import redirect_stderr

import pytest

import neuralzoo
from neuralzoo.cli import main
from neuralzoo.config import TrainConfig
from neuralzoo.errors import ConvergenceWarning, NeuralzooError
from neuralzoo.training import validation
from neuralzoo.training.budget import plan_budget, still_improving
from neuralzoo.training.logger import read_metrics

SMALL = dict(data="digits", batch_size=64, progress=False, hidden_sizes=[32])


def test_plan_of_the_automatic_budget():
    # 12 steps an epoch: 4000 steps need 334 epochs, validated every 3 (112 validations), patience 28
    budget = plan_budget(TrainConfig(), steps_per_epoch=12, has_validation=True)
    assert (budget.epochs, budget.validate_every, budget.patience) == (334, 3, 28)
    assert budget.automatic and budget.earliest_stop == 0.5
    assert "up to 334 epochs (4,008 steps)" in budget.describe(12) and "--epochs N" in budget.describe(12)
    # a large data set still gets the old 10 epochs, validated after each, patience at least 10
    large = plan_budget(TrainConfig(), steps_per_epoch=422, has_validation=True)
    assert (large.epochs, large.validate_every, large.patience) == (10, 1, 10)
    # without validation nothing can stop it early; an explicit --epochs is taken as it is
    assert plan_budget(TrainConfig(), 12, has_validation=False).patience is None
    fixed = plan_budget(TrainConfig(epochs=7, patience=2), 12, has_validation=True)
    assert (fixed.epochs, fixed.validate_every, fixed.patience, fixed.automatic) == (7, 1, 2, False)
    with pytest.raises(NeuralzooError, match="epochs must be a positive integer"):
        TrainConfig(epochs=0)
    # a family's own floor (forecasters: none beyond 10 epochs) unless --auto-min-steps is given
    assert plan_budget(TrainConfig(), 2, True, model_min_steps=0).epochs == 10
    assert plan_budget(TrainConfig(auto_min_steps=100), 2, True, model_min_steps=0).epochs == 50
    with pytest.raises(NeuralzooError, match="auto_min_steps must be 0 or more"):
        TrainConfig(auto_min_steps=-1)


def test_still_improving_looks_at_the_last_fifth():
    rising = [(step, 0.5 + step / 2000) for step in range(100, 1100, 100)]   # 0.55 .. 1.0
    assert still_improving(rising, "max") == pytest.approx((0.9, 1.0))
    flat = [(step, 0.9 + (step % 200) / 1e4) for step in range(100, 1100, 100)]
    assert still_improving(flat, "max") is None
    falling_loss = [(step, 10.0 / step) for step in range(100, 1100, 100)]
    assert still_improving(falling_loss, "min") is not None
    assert still_improving(falling_loss, "max") is None
    assert still_improving(rising[:2], "max") is None   # too few validations to tell
    # one validation sample of 46 (2.2 points) is noise; three of them are a trend
    one = [(100, 0.9565), (200, 0.9565), (300, 0.9565), (400, 0.9565), (500, 0.9783)]
    assert still_improving(one, "max") is not None and still_improving(one, "max", samples=46) is None
    three = one[:-1] + [(500, 0.9565 + 3 / 46)]
    assert still_improving(three, "max", samples=46) is not None


def test_a_run_without_epochs_plans_its_budget_and_stops_early(tmp_path, capsys):
    summary = neuralzoo.train("mlp", out=tmp_path / "auto", auto_min_steps=600, lr=3e-3, **SMALL)
    out = capsys.readouterr().out
    # 1,294 training digits at batch 64: 21 steps an epoch, 600 steps -> 29 epochs
    assert "automatic budget: up to 29 epochs (609 steps)" in out
    assert summary["automatic_budget"] and summary["planned_epochs"] == 29
    assert summary["reason"] in ("budget", "early_stopping")
    if summary["reason"] == "early_stopping":   # never before half of the plan
        assert summary["steps"] >= 609 / 2
    assert summary["best"] > 0.9   # it learned
    explicit = neuralzoo.train("mlp", out=tmp_path / "fixed", epochs=2, **SMALL)
    assert "automatic budget" not in capsys.readouterr().out
    assert (explicit["reason"], explicit["epochs"], explicit["automatic_budget"]) == ("epochs", 2, False)


def test_still_improving_at_the_end_warns_and_is_recorded(tmp_path):
    # a learning rate far too small for 4 epochs: accuracy climbs at every validation
    with pytest.warns(ConvergenceWarning, match="still improving .* train longer, e.g. --epochs 8"):
        summary = neuralzoo.train("mlp", out=tmp_path / "slow", epochs=4, lr=2e-4, schedule="constant",
                                  **SMALL)
    still = [note for note in summary["warnings"] if "still improving" in note]
    assert len(still) == 1
    end = [event for event in read_metrics(tmp_path / "slow") if event["event"] == "end"][0]
    assert end["warnings"] == still
    # a run that converged says nothing
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        done = neuralzoo.train("mlp", out=tmp_path / "done", epochs=30, lr=3e-3, **SMALL)
    assert not any("still improving" in note for note in done["warnings"])


def test_the_cli_prints_the_warning_as_one_line(tmp_path):
    stderr = io.StringIO()
    with redirect_stderr(stderr):
        code = main(["train", "mlp", "--epochs", "4", "--lr", "2e-4", "--schedule", "constant",
                     "--batch-size", "64", "--hidden-sizes", "32", "--no-progress",
                     "--out", str(tmp_path / "run")])
    assert code == 0
    lines = [line for line in stderr.getvalue().splitlines() if "still improving" in line]
    assert len(lines) == 1 and lines[0].startswith("neuralzoo: warning: val accuracy was still improving")


def test_a_tie_goes_to_the_lower_validation_loss(monkeypatch):
    # accuracy on 10 validation images moves in steps of 0.1: equal accuracy, lower loss is better
    reports = iter([{"accuracy": 0.8, "loss": 0.9}, {"accuracy": 0.8, "loss": 0.5},
                    {"accuracy": 0.8, "loss": 0.7}, {"accuracy": 0.7, "loss": 0.1}])
    monkeypatch.setattr(validation, "evaluate_metrics", lambda *args, **kw: next(reports))
    trainer = validation.Validation()
    trainer.model, trainer.val, trainer.cfg = None, object(), TrainConfig()
    trainer.ctx = trainer.world = None
    trainer.monitor, trainer.mode = "accuracy", "max"
    trainer.state, trainer.history = {"best": None, "bad_epochs": 0, "step": 0}, []
    assert [trainer.validate() for _ in range(4)] == [True, True, False, False]
    assert trainer.state["best_loss"] == 0.5 and trainer.state["bad_epochs"] == 3   # ties don't reset it


def test_a_run_behind_its_baseline_says_so(tmp_path):
    from neuralzoo.errors import BaselineWarning

    with pytest.warns(BaselineWarning, match="behind logistic regression's"):
        summary = neuralzoo.train("mlp", out=tmp_path / "bad", epochs=1, lr=1e-5, **SMALL)
    assert any("behind logistic regression" in note for note in summary["warnings"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", BaselineWarning)
        quiet = neuralzoo.train("mlp", out=tmp_path / "off", epochs=1, lr=1e-5, baselines=False, **SMALL)
    assert not any("behind" in note for note in quiet["warnings"])
