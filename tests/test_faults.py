"""Faults a run survives: stop signals, a second writer, failed writes, non-finite steps, newer formats."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import neuralzoo
from neuralzoo.errors import NeuralzooError
from neuralzoo.evaluation import evaluate_run
from neuralzoo.models.mlp import MLP
from neuralzoo.training import checkpoint as checkpoint_module
from neuralzoo.training.checkpoint import read_checkpoint
from neuralzoo.training.logger import read_metrics

from run_helpers import crash_at_step_call

RUN = dict(data="digits", epochs=3, batch_size=64, dropout=0.3, schedule="one-cycle", lr=3e-3,
           progress=False, log_every=1)   # 21 steps per epoch (1,293 training images)


def weights(run_dir, which="last"):
    tensors, _, state = read_checkpoint(Path(run_dir) / "checkpoints" / f"{which}.safetensors")
    return {k: v for k, v in tensors.items() if k.startswith("model.")}, state


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def no_temporary_files(run_dir):
    return not [p.name for p in Path(run_dir).rglob(".*tmp*")]


def signal_at(monkeypatch, steps: dict[int, list[int]]):
    """Send this process the signals ``steps[n]`` at the start of its n-th training step."""
    original, calls = MLP.train_step, {"n": 0}

    def step(self, *args, **kwargs):
        calls["n"] += 1
        for signum in steps.get(calls["n"], []):
            os.kill(os.getpid(), signum)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MLP, "train_step", step)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_saves_where_it_stopped_and_resume_matches(tmp_path, monkeypatch, capsys, signum):
    reference = neuralzoo.train("mlp", out=tmp_path / "ref", **RUN)
    signal_at(monkeypatch, {30: [signum]})
    stopped = neuralzoo.train("mlp", out=tmp_path / "run", **RUN)
    assert stopped["reason"] == "signal" and stopped["exit_code"] == 128 + signum
    assert stopped["steps"] == 30   # the step in flight finished, then the loop stopped
    out = capsys.readouterr().out
    assert f"stopped by {signal.Signals(signum).name} at step 30" in out
    assert f"neuralzoo train --resume {tmp_path / 'run'}" in out
    assert weights(tmp_path / "run")[1]["step"] == 30
    monkeypatch.undo()
    resumed = neuralzoo.train(resume=tmp_path / "run")
    assert resumed["final"] == reference["final"]
    assert same_weights(weights(tmp_path / "run")[0], weights(tmp_path / "ref")[0])
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL   # the handlers were put back


@pytest.mark.parametrize("during", ["a step", "the checkpoint write"])
def test_a_second_signal_stops_at_once_and_leaves_the_checkpoint_whole(tmp_path, monkeypatch, during):
    neuralzoo.train("mlp", out=tmp_path / "run", **{**RUN, "epochs": 1})
    before = weights(tmp_path / "run")
    if during == "a step":
        signal_at(monkeypatch, {3: [signal.SIGTERM, signal.SIGTERM]})
    else:   # the first signal stops the loop, the second arrives while it saves
        signal_at(monkeypatch, {3: [signal.SIGTERM]})
        real_fsync = os.fsync

        def fsync(fd):   # once the loop's handler is in place: the save after the first signal
            if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
                os.kill(os.getpid(), signal.SIGTERM)
            return real_fsync(fd)

        monkeypatch.setattr(checkpoint_module.os, "fsync", fsync)
    with pytest.raises(SystemExit) as stop:
        neuralzoo.train(resume=tmp_path / "run", epochs=3)
    assert stop.value.code == 128 + signal.SIGTERM
    assert same_weights(weights(tmp_path / "run")[0], before[0])   # nothing half-written
    assert no_temporary_files(tmp_path / "run")


@pytest.mark.slow
def test_sigterm_to_the_command_exits_143_and_resume_matches(tmp_path):
    args = ["--data", "digits", "--epochs", "4", "--batch-size", "64", "--dropout", "0.3", "--schedule",
            "one-cycle", "--lr", "3e-3", "--log-every", "1", "--no-progress", "--threads", "1"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "neuralzoo", "train", "mlp", *args]
    subprocess.run([*command, "--out", str(tmp_path / "ref")], check=True, env=env, capture_output=True)
    run = tmp_path / "run"
    proc = subprocess.Popen([*command, "--out", str(run)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if (run / "metrics.jsonl").exists() and len((run / "metrics.jsonl").read_text().splitlines()) > 10:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "stopped by SIGTERM" in out and "Traceback" not in err
    done = subprocess.run([sys.executable, "-m", "neuralzoo", "train", "--resume", str(run)],
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert same_weights(weights(run)[0], weights(tmp_path / "ref")[0])


def test_one_writer_per_run_directory(tmp_path, monkeypatch):
    run = tmp_path / "run"
    neuralzoo.train("mlp", out=run, **{**RUN, "epochs": 1})
    original = MLP.train_step
    seen = []

    def step(self, *args, **kwargs):   # while this run trains, others try to write into it
        if not seen:
            for attempt in (lambda: neuralzoo.train(resume=run),
                            lambda: neuralzoo.train("mlp", out=run, **RUN),
                            lambda: evaluate_run(run)):
                with pytest.raises(NeuralzooError, match=rf"{re.escape(str(run))}: in use by pid "
                                                         rf"{os.getpid()} .*training"):
                    attempt()
                seen.append(True)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MLP, "train_step", step)
    neuralzoo.train(resume=run, epochs=2)
    assert len(seen) == 3
    evaluate_run(run)   # free again once training ended


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    run = tmp_path / "run"
    hold = ("import sys, time; from neuralzoo.training.faults import RunLock; "
            "lock = RunLock(sys.argv[1], 'training').acquire(); print(1, flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", hold, str(run)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "1"
    with pytest.raises(NeuralzooError, match=f"in use by pid {holder.pid}"):
        neuralzoo.train("mlp", out=run, **{**RUN, "epochs": 1})
    holder.kill()
    holder.wait()
    assert f"pid {holder.pid}" in (run / ".lock").read_text()   # its record stays; its lock died with it
    assert neuralzoo.train("mlp", out=run, **{**RUN, "epochs": 1})["steps"] == 21


def failing_at(monkeypatch, write: int, how: str):
    """The ``write``-th atomic write fails: ENOSPC half-way through its data, or EIO at the rename."""
    real_open, real_replace, calls = open, os.replace, {"open": 0, "replace": 0}

    class HalfWritten:
        def __init__(self, file):
            self.file = file

        def write(self, data):
            self.file.write(data[:len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

    def opening(path, mode="r", *args, **kwargs):
        file = real_open(path, mode, *args, **kwargs)
        calls["open"] += "w" in mode
        return HalfWritten(file) if how == "disk full" and calls["open"] == write else file

    def replacing(source, target):
        calls["replace"] += 1
        if how == "rename fails" and calls["replace"] == write:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real_replace(source, target)

    monkeypatch.setattr(checkpoint_module, "open", opening, raising=False)
    monkeypatch.setattr(checkpoint_module.os, "replace", replacing)


@pytest.mark.parametrize("write", [1, 2, 3, 4])
@pytest.mark.parametrize("how", ["disk full", "rename fails"])
def test_a_failed_checkpoint_or_config_write_stops_with_the_file_named(tmp_path, monkeypatch, write, how):
    """Atomic writes in order: config.json, best and last after epoch 1, then epoch 2's."""
    run = tmp_path / "run"
    failing_at(monkeypatch, write, how)
    problem = "No space left on device" if how == "disk full" else "Input/output error"
    with pytest.raises(NeuralzooError, match=rf"could not write \({problem}\)") as error:
        neuralzoo.train("mlp", out=run, **{**RUN, "lr": 1e-3, "schedule": "constant"})
    named = ["config.json", "best.safetensors", "last.safetensors", "best.safetensors"][write - 1]
    assert str(error.value).startswith(str(run)) and named in str(error.value).split(":")[0]
    assert no_temporary_files(run)
    if write == 4:   # the epoch-1 checkpoints are intact and load
        assert "previous version is intact" in str(error.value)
        assert weights(run)[1]["step"] == 21
        neuralzoo.load(run, "last")


def test_a_failed_metrics_write_stops_with_the_file_named(tmp_path, monkeypatch):
    from neuralzoo.training.logger import RunLogger

    real_log, calls = RunLogger.log, {"n": 0}

    class Full:
        def write(self, text):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def log(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 30:
            self.file = Full()
        return real_log(self, *args, **kwargs)

    monkeypatch.setattr(RunLogger, "log", log)
    with pytest.raises(NeuralzooError, match=r"metrics.jsonl: could not write the metrics \(No space"):
        neuralzoo.train("mlp", out=tmp_path / "run", **RUN)
    neuralzoo.load(tmp_path / "run", "last")   # the epoch-1 checkpoint is intact


def nan_loss_at(monkeypatch, bad_steps):
    """The loss is NaN at the given (0-based) global steps; ``bad_steps`` may be a callable."""
    original = MLP.loss
    bad = bad_steps if callable(bad_steps) else (lambda step: step in bad_steps)

    def loss(self, batch):
        out = original(self, batch)
        if "step" in batch and bad(int(batch["step"])):
            out["loss"] = out["loss"] * float("nan")
        return out

    monkeypatch.setattr(MLP, "loss", loss)


def test_a_nonfinite_loss_stops_by_default_with_the_step_and_the_cause(tmp_path, monkeypatch):
    nan_loss_at(monkeypatch, {30})
    with pytest.raises(NeuralzooError) as error:
        neuralzoo.train("mlp", out=tmp_path / "run", **RUN)
    message = str(error.value)
    assert "training stopped at step 31: loss is nan (not finite)" in message
    assert "--lr" in message and "--on-nonfinite" in message and "is intact" in message
    saved, state = weights(tmp_path / "run")
    assert state["step"] == 21 and all(torch.isfinite(v).all() for v in saved.values())


def test_on_nonfinite_skip_drops_the_bad_updates(tmp_path, monkeypatch):
    nan_loss_at(monkeypatch, {5, 6, 40})
    summary = neuralzoo.train("mlp", out=tmp_path / "run", **RUN, on_nonfinite="skip")
    assert summary["steps"] == 63 and summary["final"]["accuracy"] > 0.8
    assert all(torch.isfinite(v).all() for v in weights(tmp_path / "run")[0].values())
    logged = [e for e in read_metrics(tmp_path / "run") if e["event"] == "train"]
    assert logged[-1]["skipped_steps"] == 3
    assert all(isinstance(e["loss"], float) for e in logged if e["step"] not in (6, 7, 41))


def test_on_nonfinite_rollback_halves_the_learning_rate_and_gives_up_after_the_limit(tmp_path, monkeypatch):
    failures = {"n": 0}

    def once(step):   # step 30 fails the first time only
        failures["n"] += step == 30
        return step == 30 and failures["n"] == 1

    nan_loss_at(monkeypatch, once)
    summary = neuralzoo.train("mlp", out=tmp_path / "run", **RUN, on_nonfinite="rollback")
    assert summary["steps"] == 63 and summary["final"]["accuracy"] > 0.8
    events = read_metrics(tmp_path / "run")
    rollback = [e for e in events if e["event"] == "rollback"]
    assert [(e["step"], e["failed_step"], e["lr_scale"]) for e in rollback] == [(21, 31, 0.5)]
    steps = [e["step"] for e in events if e["event"] == "train"]
    assert steps == sorted(set(steps))   # the rewound steps are logged once, at the lower rate
    assert weights(tmp_path / "run")[1]["lr_scale"] == 0.5

    monkeypatch.undo()
    nan_loss_at(monkeypatch, lambda step: step >= 30)
    with pytest.raises(NeuralzooError, match="training stopped at step 31 after 2 rollbacks: loss is nan"):
        neuralzoo.train("mlp", out=tmp_path / "again", **RUN, on_nonfinite="rollback", max_rollbacks=2)


def test_a_checkpoint_from_a_newer_format_is_refused(tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    neuralzoo.train("mlp", out=tmp_path / "run", **{**RUN, "epochs": 1})
    path = tmp_path / "run" / "checkpoints" / "last.safetensors"
    with safe_open(str(path), "pt") as f:
        metadata, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    for version, problem in (("2", "checkpoint format 2 is newer than this neuralzoo reads"),
                             ("x", "format version 'x' is not a number")):
        save_file(tensors, str(tmp_path / "new.safetensors"), metadata={**metadata, "version": version})
        for attempt in (neuralzoo.load, checkpoint_module.describe):
            with pytest.raises(NeuralzooError, match=problem):
                attempt(tmp_path / "new.safetensors")


def test_inspect_shows_a_checkpoint_without_building_it(tmp_path, monkeypatch):
    from neuralzoo.cli import main

    neuralzoo.train("mlp", out=tmp_path / "run", **{**RUN, "epochs": 1})
    monkeypatch.setattr(MLP, "__init__", lambda *a, **k: pytest.fail("inspect built the model"))
    info = checkpoint_module.describe(tmp_path / "run" / "checkpoints" / "last.safetensors")
    assert info["model"] == "mlp" and info["format_version"] == 1 and info["state"]["step"] == 21
    # + class weights + the prediction-time logit offset (--logit-adjust-at prediction)
    assert info["values"] == 64 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10 + 10 + 10
    assert info["weights"]["net.1.weight"] == "F32[256, 64]"
    assert main(["inspect", str(tmp_path / "run"), "--json"]) == 0
    legacy = Path(__file__).parent / "fixtures" / "checkpoints_v0_1" / "gru.safetensors"
    assert main(["inspect", str(legacy)]) == 0


@pytest.mark.parametrize("name, settings", [
    ("cnn", dict(channels=(8, 16), batch_norm=True, channels_last=True)),   # Adam's moments' layout
    ("vae", dict(hidden_sizes=(32,), latent_dim=4)),   # the monitor probe's draws vs the restored RNG
])
def test_a_crashed_run_resumes_to_every_tensor_of_the_reference(tmp_path, monkeypatch, name, settings):
    """Weights, optimizer state and RNG state of ``last`` equal bit for bit after a crash and resume."""
    run = dict(data="digits", epochs=2, batch_size=64, progress=False, checkpoint_every=5, bf16="off",
               **settings)
    neuralzoo.train(name, out=tmp_path / "ref", **run)
    crash_at_step_call(monkeypatch, name, 28, tmp_path / "run", **run)   # 3 steps after the one at 25
    neuralzoo.train(resume=tmp_path / "run")
    reference, resumed = (read_checkpoint(tmp_path / r / "checkpoints" / "last.safetensors")[0]
                          for r in ("ref", "run"))
    assert reference.keys() == resumed.keys()
    assert [k for k in reference if not torch.equal(reference[k], resumed[k])] == []
