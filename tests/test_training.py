"""The one training loop: exact resume (also after SIGKILL), schedules, early stopping, configs, logs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch

import neuralzoo
from neuralzoo.api import resolve
from neuralzoo.config import TrainConfig
from neuralzoo.errors import NeuralzooError
from neuralzoo.models.mlp import MLP
from neuralzoo.training.augment import augment_images
from neuralzoo.training.logger import read_metrics
from neuralzoo.training.optim import lr_factor

# dropout and a one-cycle schedule make RNG state and step counters matter for exact resume
RUN = dict(data="digits", epochs=3, batch_size=64, dropout=0.3, schedule="one-cycle", lr=3e-3,
           checkpoint_every=5, progress=False, log_every=1)


def final_metrics(run_dir):
    end = [e for e in read_metrics(run_dir) if e["event"] == "end"]
    assert len(end) == 1
    return {k: v for k, v in end[0].items() if k.startswith("val_")}


def test_resume_after_crash_matches_uninterrupted_run(tmp_path, monkeypatch):
    reference = neuralzoo.train("mlp", out=tmp_path / "ref", **RUN)
    original = MLP.train_step
    calls = {"n": 0}

    def crashing(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 33:  # mid-epoch 2, three steps after the checkpoint at step 30
            raise RuntimeError("simulated crash")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MLP, "train_step", crashing)
    with pytest.raises(RuntimeError, match="simulated crash"):
        neuralzoo.train("mlp", out=tmp_path / "run", **RUN)
    monkeypatch.setattr(MLP, "train_step", original)
    resumed = neuralzoo.train(resume=tmp_path / "run")
    assert resumed["final"] == reference["final"]
    assert final_metrics(tmp_path / "run") == final_metrics(tmp_path / "ref")
    steps = [e["step"] for e in read_metrics(tmp_path / "run") if e["event"] == "train"]
    assert steps == sorted(set(steps))  # the replayed steps were not logged twice
    a, b = neuralzoo.load(tmp_path / "ref", "last"), neuralzoo.load(tmp_path / "run", "last")
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


SIGKILL_ARGS = ["--data", "digits", "--epochs", "3", "--batch-size", "64", "--dropout", "0.3", "--schedule",
                "one-cycle", "--lr", "3e-3", "--checkpoint-every", "5", "--log-every", "1", "--no-progress",
                "--threads", "1"]


@pytest.fixture(scope="module")
def uninterrupted_run(tmp_path_factory) -> Path:
    """The run every kill is compared with: the same command, never stopped (one for all kill steps)."""
    ref = tmp_path_factory.mktemp("sigkill") / "ref"
    subprocess.run([sys.executable, "-m", "neuralzoo", "train", "mlp", *SIGKILL_ARGS, "--out", str(ref)],
                   check=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}, capture_output=True)
    return ref


@pytest.mark.slow
@pytest.mark.parametrize("kill_at_step", [1, 12, 40])
def test_sigkill_then_resume_matches(tmp_path, kill_at_step, uninterrupted_run):
    args = SIGKILL_ARGS
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    ref = uninterrupted_run
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "neuralzoo", "train", "mlp", *args, "--out", str(run)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        metrics = run / "metrics.jsonl"
        # whole lines only: the last piece may be a line the run is still writing
        lines = metrics.read_text().split("\n")[:-1] if metrics.exists() else []
        if any(json.loads(line)["step"] >= kill_at_step for line in lines if line.strip()):
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = subprocess.run([sys.executable, "-m", "neuralzoo", "train", "--resume", str(run)],
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert final_metrics(run) == final_metrics(ref)


def test_one_cycle_and_cosine_schedules():
    one_cycle = TrainConfig(schedule="one-cycle")
    assert lr_factor(0, 100, one_cycle) == pytest.approx(1 / 25)
    assert lr_factor(30, 100, one_cycle) == pytest.approx(1.0)
    assert lr_factor(100, 100, one_cycle) == pytest.approx(1 / 25e4)
    cosine = TrainConfig(schedule="cosine", warmup_fraction=0.1)
    assert lr_factor(0, 100, cosine) == pytest.approx(0.1)
    assert lr_factor(10, 100, cosine) == pytest.approx(1.0)
    assert lr_factor(55, 100, cosine) == pytest.approx(0.5)
    assert lr_factor(100, 100, cosine) == pytest.approx(0.0, abs=1e-12)
    assert lr_factor(50, 100, TrainConfig()) == 1.0


def test_early_stopping(tmp_path):
    summary = neuralzoo.train("mlp", out=tmp_path / "r", data="digits", epochs=20, lr=1e-9,
                              patience=2, progress=False)
    assert summary["reason"] == "early_stopping" and summary["epochs"] == 3
    with pytest.raises(NeuralzooError, match="patience .* needs a validation split"):
        neuralzoo.train("mlp", out=tmp_path / "s", data="digits", val_fraction=0.0, patience=2)


def test_max_steps_and_logs(tmp_path):
    summary = neuralzoo.train("mlp", out=tmp_path / "r", data="digits", max_steps=7, log_every=2,
                              progress=False, tensorboard=True)
    assert summary["steps"] == 7 and summary["reason"] == "max_steps"
    events = read_metrics(tmp_path / "r")
    assert [e["step"] for e in events if e["event"] == "train"] == [2, 4, 6, 7]
    assert {"loss", "accuracy", "lr", "samples_per_s"} <= set(events[0])
    assert any(p.name.startswith("events.out.tfevents") for p in (tmp_path / "r" / "tensorboard").iterdir())
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["model"] == "mlp" and config["train"]["max_steps"] == 7
    assert config["data_info"]["input_shape"] == [1, 8, 8]


def test_max_minutes_stops_on_the_training_clock(tmp_path):
    """A budget that one step spends (60 microseconds) stops after the first step, mid-epoch, with a
    checkpoint to resume from; an ample one lets the epochs finish."""
    summary = neuralzoo.train("mlp", out=tmp_path / "r", data="digits", epochs=50, max_minutes=1e-6,
                              progress=False)
    assert summary["reason"] == "max_minutes" and summary["steps"] == 1 and summary["epochs"] == 0
    assert read_metrics(tmp_path / "r")[-1] == {**read_metrics(tmp_path / "r")[-1], "event": "end",
                                                "reason": "max_minutes"}
    resumed = neuralzoo.train(resume=tmp_path / "r", progress=False)   # the spent budget carries over
    assert resumed["reason"] == "max_minutes" and resumed["steps"] == 2
    ample = neuralzoo.train("mlp", out=tmp_path / "s", data="digits", epochs=2, max_minutes=10,
                            progress=False)
    assert ample["reason"] == "epochs" and ample["epochs"] == 2
    with pytest.raises(NeuralzooError, match="max_minutes must be positive, got 0"):
        neuralzoo.train("mlp", out=tmp_path / "t", data="digits", max_minutes=0)


def test_config_precedence_preset_file_flags(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('epochs = 3\n[model_config]\nchannels = [8, 16, 16]\n[train]\nlr = 0.01\n')
    config = resolve("cnn", "strong", str(toml), {"epochs": 5})
    assert config.train.epochs == 5              # flag beats file
    assert config.train.lr == 0.01               # file beats preset
    assert config.model_config.channels == (8, 16, 16)
    assert config.model_config.batch_norm is True  # preset beats defaults
    js = tmp_path / "c.json"
    js.write_text(json.dumps({"model": "mlp", "hidden_sizes": [7], "nonsense": 1}))
    with pytest.raises(NeuralzooError, match="unknown setting 'nonsense'"):
        resolve("", None, str(js))
    js.write_text("{not json")
    with pytest.raises(NeuralzooError, match="c.json: not valid JSON"):
        resolve("mlp", None, str(js))
    with pytest.raises(NeuralzooError, match="unknown preset 'fast'.*classic, strong"):
        resolve("cnn", "fast")


def test_resumed_run_keeps_model_settings(tmp_path):
    neuralzoo.train("mlp", out=tmp_path / "r", data="digits", max_steps=2, progress=False)
    with pytest.raises(NeuralzooError, match="keeps its model and data settings"):
        neuralzoo.train(resume=tmp_path / "r", hidden_sizes=(4,))
    summary = neuralzoo.train(resume=tmp_path / "r", max_steps=4)
    assert summary["steps"] == 4


def test_augmentation_keeps_shape_and_follows_the_seed(digits):
    x = digits.train.x[:16]
    torch.manual_seed(0)
    a = augment_images(x, "affine")
    torch.manual_seed(0)
    b = augment_images(x, "affine")
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, x)
    assert a.min() >= 0 and a.max() <= 1 + 1e-6
    shifted = augment_images(torch.eye(8).expand(4, 1, 8, 8).contiguous(), "shift")
    assert shifted.shape == (4, 1, 8, 8)


def test_bf16_on_a_cpu_without_native_bf16_is_honoured_with_a_warning(monkeypatch):
    from neuralzoo.training import context

    cpu = torch.device("cpu")
    monkeypatch.setattr(context, "native_cpu_bf16", lambda: False)
    with pytest.warns(RuntimeWarning, match="no native bf16.*--bf16 auto"):
        assert context.bf16_enabled("on", cpu) is True
    assert context.bf16_enabled("auto", cpu) is False and context.bf16_enabled("off", cpu) is False
    monkeypatch.setattr(context, "native_cpu_bf16", lambda: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert context.bf16_enabled("on", cpu) is True and context.bf16_enabled("auto", cpu) is True
