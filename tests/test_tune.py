"""``neuralzoo tune``: Optuna studies whose trials are run directories; continuing, several workers on
one journal, pruning, the grid sampler, --final, space-file errors, and the estimators in an Optuna
objective."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

optuna = pytest.importorskip("optuna")

import neuralzoo  # noqa: E402
from neuralzoo.cli import main  # noqa: E402
from neuralzoo.errors import NeuralzooError  # noqa: E402

FAST = ["--data", "digits", "--epochs", "2", "--sampler", "random"]


def trials_of(study_dir):
    with open(study_dir / "trials.csv") as f:
        return list(csv.DictReader(f))


def test_tune_runs_trials_as_run_directories_and_continues(tmp_path, capsys):
    study = tmp_path / "study"
    assert main(["tune", "mlp", *FAST, "--trials", "3", "--study", str(study)]) == 0
    rows = trials_of(study)
    assert [r["number"] for r in rows] == ["0", "1", "2"]
    assert {r["state"] for r in rows} <= {"complete", "pruned"}
    for row in rows:   # each trial is an ordinary run with the values the sampler chose
        config = json.loads((study / f"trial_{int(row['number']):04d}" / "config.json").read_text())
        assert config["train"]["lr"] == pytest.approx(float(row["lr"]))
        assert config["train"]["batch_size"] == int(row["batch_size"]) and config["train"]["epochs"] == 2
        assert ",".join(map(str, config["model_config"]["hidden_sizes"])) == row["hidden_sizes"]
        assert neuralzoo.load(study / f"trial_{int(row['number']):04d}").info.name == "digits"
    # trial 0 is the recipe a user gets without searching (the space holds it)
    default = neuralzoo.api.resolve("mlp", overrides={"epochs": 2})
    assert float(rows[0]["lr"]) == pytest.approx(default.train.lr)
    assert int(rows[0]["batch_size"]) == default.train.batch_size
    assert rows[0]["hidden_sizes"] == ",".join(map(str, default.model_config.hidden_sizes))
    best = json.loads((study / "best.json").read_text())
    finished = [float(r["value"]) for r in rows if r["value"]]
    assert best["monitor"] == "val_accuracy" and best["best"]["value"] == max(finished)
    assert {"history.png", "parallel.png", "importances.png"} <= {p.name for p in study.iterdir()}
    out = capsys.readouterr().out
    assert "| trial | val_accuracy |" in out and "best: trial" in out
    # --trials is the study's total: continuing to 5 runs two more, numbered on
    assert main(["tune", "mlp", *FAST, "--trials", "5", "--study", str(study)]) == 0
    assert [r["number"] for r in trials_of(study)] == ["0", "1", "2", "3", "4"]
    # a continued study keeps its question
    with pytest.raises(NeuralzooError, match="a continued study keeps them"):
        neuralzoo.tune("mlp", data="digits", epochs=3, trials=6, study=study, sampler="random")


def test_rerunning_a_finished_study_runs_no_more_trials(tmp_path, capsys):
    study = tmp_path / "study"
    command = ["tune", "mlp", "--data", "digits", "--epochs", "1", "--sampler", "random", "--pruner",
               "none", "--trials", "2", "--study", str(study)]
    assert main(command) == 0
    assert [r["number"] for r in trials_of(study)] == ["0", "1"]
    capsys.readouterr()
    assert main(command) == 0   # the same command again: the study already holds its 2 trials
    assert [r["number"] for r in trials_of(study)] == ["0", "1"] and not (study / "trial_0002").exists()
    assert "none to run" in capsys.readouterr().out


def test_two_workers_share_one_journal(tmp_path):
    study = tmp_path / "shared"
    command = [sys.executable, "-m", "neuralzoo", "tune", "mlp", *FAST, "--trials", "6", "--study",
               str(study)]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    second = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    outputs = [first.communicate(timeout=300)[0], second.communicate(timeout=300)[0]]
    assert first.returncode == 0 and second.returncode == 0, outputs
    study_ = optuna.load_study(study_name="mlp", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(study / "journal.log"))))
    numbers = [t.number for t in study_.trials]
    run_dirs = [t.user_attrs["run_dir"] for t in study_.trials]
    assert len(numbers) == len(set(numbers)) >= 6 and len(run_dirs) == len(set(run_dirs))
    assert len({t.user_attrs["worker"] for t in study_.trials}) == 2   # both workers' trials are in it
    assert len(numbers) <= 7   # the count is shared: at most one trial started past it by the other worker


def test_pruned_trials_stop_after_their_first_epoch(tmp_path):
    never = optuna.pruners.ThresholdPruner(lower=1.5)   # validation accuracy never reaches it
    study = neuralzoo.tune("mlp", data="digits", epochs=4, trials=2, study=tmp_path / "s", sampler="random",
                           pruner=never)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.PRUNED] * 2
    for trial in study.trials:
        lines = [json.loads(line) for line in open(f"{trial.user_attrs['run_dir']}/metrics.jsonl")]
        end = [line for line in lines if line["event"] == "end"]
        assert end and end[0]["reason"] == "pruned" and list(trial.intermediate_values) == [1]


def test_grid_sampler_and_final_retraining(tmp_path):
    space = tmp_path / "space.toml"
    space.write_text('[lr]\ntype = "categorical"\nchoices = [0.003, 0.01]\n'
                     '[hidden_sizes]\nchoices = [[64], [128, 64]]\n')
    study_dir = tmp_path / "grid"
    assert main(["tune", "mlp", "--data", "digits", "--epochs", "2", "--sampler", "grid", "--space",
                 str(space), "--trials", "10", "--study", str(study_dir), "--final"]) == 0
    rows = trials_of(study_dir)
    assert sorted((r["lr"], r["hidden_sizes"]) for r in rows) == sorted(
        (lr, h) for lr in ("0.003", "0.01") for h in ("64", "128,64"))   # the grid, each point once
    final = json.loads((study_dir / "final.json").read_text())
    config = json.loads((study_dir / "final" / "config.json").read_text())
    assert config["data"]["val_fraction"] == 0.0 and final["test"]["metric"] == "accuracy"
    assert final["protocol"]["split"] == "test" and 0.5 < final["test"]["value"] <= 1


@pytest.mark.parametrize("text, message", [
    ('[nope]\ntype = "float"\nlow = 0.1\nhigh = 1.0\n', "unknown setting 'nope'.*--help lists the"),
    ('[lr]\ntype = "float"\nlow = 0.1\nhigh = 0.01\n', r"\[lr\]: needs float low < high"),
    ('[lr]\ntype = "gaussian"\n', r"\[lr\]: type must be one of float, int, categorical"),
    ('[lr]\ntype = "float"\nlow = 0.0\nhigh = 0.1\nlog = true\n', "log = true needs low > 0"),
    ('[hidden_sizes]\nchoices = []\n', "non-empty list of choices"),
])
def test_space_file_errors_name_the_file(tmp_path, text, message):
    space = tmp_path / "space.toml"
    space.write_text(text)
    with pytest.raises(NeuralzooError, match=message) as error:
        neuralzoo.tune("mlp", data="digits", trials=1, space=str(space), study=tmp_path / "s")
    assert str(space) in str(error.value)


def test_tune_refuses_what_it_cannot_search(tmp_path, monkeypatch):
    with pytest.raises(NeuralzooError, match="val-fraction must be > 0"):
        neuralzoo.tune("mlp", data="digits", val_fraction=0.0, trials=1, study=tmp_path / "a")
    with pytest.raises(NeuralzooError, match="--sampler grid needs a finite set of values for 'lr'"):
        neuralzoo.tune("mlp", data="digits", trials=1, sampler="grid", study=tmp_path / "b")
    assert main(["tune", "mlp", "--data", "digits", "--trials", "0", "--study", str(tmp_path / "c")]) == 2
    monkeypatch.setitem(sys.modules, "optuna", None)   # not installed
    with pytest.raises(NeuralzooError, match=r"pip install 'neuralzoo\[tune\]'"):
        neuralzoo.tune("mlp", data="digits", trials=1)


def test_estimators_inside_an_optuna_objective():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import cross_val_score

    from neuralzoo.sklearn import NeuralZooClassifier

    x, y = load_digits(return_X_y=True)
    x = x[:600] / 16

    def objective(trial):
        width = trial.suggest_categorical("width", [32, 128])
        clf = NeuralZooClassifier("mlp", epochs=10, batch_size=32, random_state=0,
                                  lr=trial.suggest_float("lr", 1e-3, 1e-2, log=True),
                                  model_params={"hidden_sizes": (width,)})
        return cross_val_score(clf, x, y[:600], cv=2).mean()

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=3)
    assert len(study.trials) == 3 and study.best_value > 0.7
    assert np.isfinite([t.value for t in study.trials]).all()


def test_a_database_storage_url_holds_the_study(tmp_path):
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    assert main(["tune", "mlp", *FAST, "--trials", "2", "--study", str(tmp_path / "s"),
                 "--storage", url]) == 0
    study = optuna.load_study(study_name="mlp", storage=url)
    assert len(study.trials) == 2 and not (tmp_path / "s" / "journal.log").exists()
