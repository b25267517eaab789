"""Data parallelism: torchrun with 2 CPU processes (gloo) matches 1 process with the same global batch."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import neuralzoo
from neuralzoo.training.logger import read_metrics

ARGS = ["--data", "digits", "--epochs", "2", "--batch-size", "50", "--bf16", "off", "--threads", "1",
        "--no-progress", "--device", "cpu", "--lr", "3e-3", "--schedule", "cosine", "--log-every", "5"]


@pytest.mark.slow
def test_two_processes_match_one_process(tmp_path):
    # batch 50 over 1293 samples leaves a last batch of 43: uneven shards (22 + 21) must still give
    # exactly the single-process gradient
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    subprocess.run([sys.executable, "-m", "neuralzoo", "train", "mlp", *ARGS, "--out", str(single)],
                   check=True, capture_output=True)
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                             "--nproc-per-node", "2", "-m", "neuralzoo", "train", "mlp", *ARGS,
                             "--out", str(ddp)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("run dir") == 1  # only rank 0 reports and writes
    a, b = neuralzoo.load(single, "last"), neuralzoo.load(ddp, "last")
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.allclose(x, y, atol=2e-5, rtol=1e-4), name
    end_single = [e for e in read_metrics(single) if e["event"] == "end"][0]
    end_ddp = [e for e in read_metrics(ddp) if e["event"] == "end"][0]
    assert abs(end_single["val_loss"] - end_ddp["val_loss"]) < 1e-4
    assert end_single["val_accuracy"] == end_ddp["val_accuracy"]
    assert end_single["step"] == end_ddp["step"] == 2 * 26


@pytest.mark.slow
def test_two_processes_stop_together_on_the_time_budget(tmp_path):
    """Under torchrun the ranks compare their clocks at log steps (an all-reduce), so a budget the
    first step spends stops both at step 5, the first log step, and the run ends cleanly."""
    run = tmp_path / "ddp"
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                             "--nproc-per-node", "2", "-m", "neuralzoo", "train", "mlp", *ARGS,
                             "--max-minutes", "1e-6", "--out", str(run)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    end = [e for e in read_metrics(run) if e["event"] == "end"][0]
    assert end["reason"] == "max_minutes" and end["step"] == 5
