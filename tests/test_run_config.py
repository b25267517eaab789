"""The typed run configuration: its layers' precedence, its round trip through JSON and checkpoints,
callers' objects left as they were, and the loop's typed stop request."""

from __future__ import annotations

import copy
import json
from dataclasses import FrozenInstanceError, replace

import pytest

import neuralzoo
from neuralzoo.api import resolve, train_loaded
from neuralzoo.data import load_dataset
from neuralzoo.errors import NeuralzooError
from neuralzoo.models.mlp import MLP
from neuralzoo.run_config import RunConfig
from neuralzoo.training.checkpoint import read_checkpoint
from neuralzoo.training.faults import StopTraining

TINY = {"data": "digits", "limit": 200, "hidden_sizes": (8,), "max_steps": 2, "progress": False,
        "verbose": False, "baselines": False}


def test_precedence_defaults_card_preset_file_arguments(tmp_path, monkeypatch):
    """Each layer sets the same three settings (a training, a data and a model field); the highest
    layer present wins, and taking it away shows the one below, down to the dataclasses' defaults."""
    layer = {name: {"weight_decay": value / 10, "val_fraction": value / 10, "hidden_sizes": (value,)}
             for name, value in (("card", 1), ("preset", 2), ("file", 3), ("arguments", 4))}
    monkeypatch.setattr(MLP, "card", replace(
        MLP.card, train_defaults=layer["card"],
        presets={"p": {"model": {"hidden_sizes": layer["preset"]["hidden_sizes"]},
                       "train": {"weight_decay": layer["preset"]["weight_decay"]},
                       "data": {"val_fraction": layer["preset"]["val_fraction"]}}}))
    path = tmp_path / "settings.json"   # a file in sections and flat at once, values as JSON has them
    path.write_text(json.dumps({"train": {"weight_decay": 0.3}, "val_fraction": 0.3,
                                "model_config": {"hidden_sizes": [3]}}))

    def seen(run: RunConfig) -> tuple:
        return run.train.weight_decay, run.data.val_fraction, run.model_config.hidden_sizes

    def expect(name: str) -> tuple:
        return (layer[name]["weight_decay"], layer[name]["val_fraction"], layer[name]["hidden_sizes"])

    assert seen(resolve("mlp", "p", str(path), layer["arguments"])) == expect("arguments")
    assert seen(resolve("mlp", "p", str(path))) == expect("file")
    assert seen(resolve("mlp", "p")) == expect("preset")
    assert seen(resolve("mlp")) == expect("card")
    monkeypatch.setattr(MLP, "card", replace(MLP.card, train_defaults={}))
    assert seen(resolve("mlp")) == (0.0, 0.1, (256, 128))   # the dataclasses' own defaults
    # settings beside the ones a layer sets keep the value from below: the file's lr over the defaults
    assert resolve("mlp", None, str(path)).train.lr == 1e-3
    # a bad value is blamed on the layer that set it: the file is named, the arguments are the caller's
    path.write_text(json.dumps({"weight_decay": -1}))
    with pytest.raises(NeuralzooError, match=r"^.*settings\.json: weight_decay must be >= 0, got -1"):
        resolve("mlp", None, str(path))
    with pytest.raises(NeuralzooError, match=r"^weight_decay must be >= 0, got -2"):
        resolve("mlp", None, None, {"weight_decay": -2})


def test_resolved_config_round_trips_through_json():
    run = resolve("cnn", "strong", None, {"epochs": 3, "train_classes": "3,5", "data": "digits"})
    values = json.loads(json.dumps(run.to_dict()))
    assert list(values) == ["model", "preset", "model_config", "train", "data"]
    back = RunConfig.from_dict(values, "test")
    assert back == run and back.model_config.channels == (32, 64, 128)
    assert back.data.train_classes == ("3", "5")
    with pytest.raises(FrozenInstanceError):
        run.train.lr = 1.0   # typed and frozen: a run config is changed only by making a new one


def test_train_loaded_leaves_the_callers_config_as_it_was(tmp_path):
    run = resolve("mlp", None, None, TINY)
    data = load_dataset(run.data)
    as_dict = run.to_dict()
    kept_run, kept_dict = copy.deepcopy(run), copy.deepcopy(as_dict)
    train_loaded(data, run, tmp_path / "a")
    train_loaded(data, as_dict, tmp_path / "b")
    assert run == kept_run and run.data_info is None and as_dict == kept_dict
    # what the run saved: config.json and the checkpoint's metadata hold the same dict, and it reads
    # back as the caller's config plus the data's DataInfo and the version
    saved = json.loads((tmp_path / "a" / "config.json").read_text())
    _, in_checkpoint, _ = read_checkpoint(tmp_path / "a" / "checkpoints" / "last.safetensors")
    assert saved == in_checkpoint == json.loads((tmp_path / "b" / "config.json").read_text())
    assert list(saved) == ["model", "preset", "model_config", "train", "data", "data_info", "version"]
    loaded = neuralzoo.load(tmp_path / "a").run_config
    assert replace(loaded, data_info=None, version=None) == run
    assert loaded.data_info.input_shape == data.info.input_shape and loaded.version == neuralzoo.__version__
    assert json.loads(json.dumps(loaded.to_dict())) == saved


def test_a_saved_config_that_is_not_ours_names_its_file(tmp_path):
    good = resolve("mlp").to_dict()
    for bad, problem in (({**good, "model": "nope"}, "unknown model 'nope'"),
                         ({**good, "train": [1]}, "'train' is not an object"),
                         ({**good, "train": {"lr": -1}}, "lr must be positive"),
                         ({k: v for k, v in good.items() if k != "data"}, "KeyError: 'data'")):
        with pytest.raises(NeuralzooError, match=f"^somewhere/config.json: .*{problem}"):
            RunConfig.from_dict(bad, "somewhere/config.json")


def test_a_callback_stops_training_with_its_reason_and_every_callback_runs(tmp_path):
    seen = []

    def stop(model, run_dir, epoch, metrics):
        raise StopTraining("enough")

    def record(model, run_dir, epoch, metrics):
        seen.append(epoch)
        return {"recorded": epoch}

    summary = neuralzoo.train("mlp", out=tmp_path / "r", callbacks=[stop, record],
                              **{**TINY, "max_steps": None, "epochs": 3})
    assert summary["reason"] == "enough" and summary["epochs"] == 1 and seen == [1]
    logged = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert [e["recorded"] for e in logged if e.get("event") == "val"] == [1]
