"""Data parallelism: torchrun with 2 CPU processes (gloo) matches 1 process with the same global batch."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import fields

import pytest
import torch

import neuralzoo
from neuralzoo.registry import get_model_class, model_names
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


TRAIN = """import atexit, json, os, sys, neuralzoo
import torch.distributed as dist
# registered first, so it runs last: after neuralzoo's own exit handler; one write (atomic on a
# pipe), so the two ranks' lines never interleave
atexit.register(lambda: os.write(1, ("group at exit: " + ("alive" if dist.is_initialized() else
                                                            "destroyed") + "\\n").encode()))
for name, settings, out in json.loads(sys.argv[1]):
    neuralzoo.train(name, out=out, **settings)
"""


def settings_for(name: str) -> dict:
    """The model's demo recipe, cut to 4 steps of a global batch of 50 without dropout (whose masks
    are drawn per rank), in float32 on one thread per process."""
    cls = get_model_class(name)
    settings = {**cls.card.demo, "epochs": 4, "max_steps": 4, "batch_size": 50, "bf16": "off", "threads": 1,
                "device": "cpu", "progress": False, "log_every": 1}
    if "dropout" in {f.name for f in fields(cls.Config)}:
        settings["dropout"] = 0.0
    return settings


@pytest.fixture(scope="module")
def every_model_trained(tmp_path_factory):
    """Every model trained in one process and again in one torchrun of two: the runs one after
    another in each, so that the launcher and the four interpreters start once, not once per model
    (each run still starts from its own seed; under torchrun they share the process group)."""
    folder = tmp_path_factory.mktemp("distributed")
    script = folder / "train.py"
    script.write_text(TRAIN)

    def jobs(kind: str) -> str:
        return json.dumps([[name, settings_for(name), str(folder / kind / name)] for name in model_names()])

    subprocess.run([sys.executable, str(script), jobs("single")], check=True, capture_output=True)
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                             "--nproc-per-node", "2", str(script), jobs("ddp")],
                            capture_output=True, text=True)
    return folder, result


@pytest.mark.slow
@pytest.mark.parametrize("name", model_names())
def test_every_model_trains_the_same_on_two_processes_as_on_one(every_model_trained, name):
    """Two CPU processes (gloo) end with the weights one process gets from the same global batches:
    gradients averaged (DDP, or per optimizer for the GANs), batch norm over the global batch, the
    models' own noise drawn for the global batch, EMA and spectral-norm state identical on the ranks."""
    folder, result = every_model_trained
    single, ddp = folder / "single" / name, folder / "ddp" / name
    assert result.returncode == 0, result.stderr[-3000:]
    # a process group left to interpreter finalisation can abort a finished run (gloo's threads)
    assert result.stdout.count("group at exit: destroyed") == 2, result.stdout[-500:]
    a, b = neuralzoo.load(single, "last"), neuralzoo.load(ddp, "last")
    assert a.state_dict().keys() == b.state_dict().keys()
    for (key, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.allclose(x.double(), y.double(), atol=1e-4, rtol=1e-3), (key, (x - y).abs().max())
    steps = [e["step"] for e in read_metrics(ddp) if e["event"] == "train"]
    assert steps == [1, 2, 3, 4]


@pytest.mark.slow
def test_two_nodes_with_a_rendezvous_endpoint_match_one_process(tmp_path):
    """`torchrun --nnodes 2 --node-rank N --rdzv-endpoint HOST:PORT` on two machines, played by two
    launchers on this one with a loopback endpoint: the same command, unchanged."""
    import socket

    with socket.socket() as probe:   # a free port for the rendezvous
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    single, ddp = tmp_path / "single", tmp_path / "nodes"
    subprocess.run([sys.executable, "-m", "neuralzoo", "train", "mlp", *ARGS, "--out", str(single)],
                   check=True, capture_output=True)
    nodes = [subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node-rank",
                               str(rank), "--nproc-per-node", "1", "--rdzv-endpoint", f"127.0.0.1:{port}",
                               "-m", "neuralzoo", "train", "mlp", *ARGS,
                               "--out", str(ddp)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for rank in (0, 1)]
    outputs = [node.communicate(timeout=300) for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs[0][1][-2000:] + outputs[1][1][-2000:]
    a, b = neuralzoo.load(single, "last"), neuralzoo.load(ddp, "last")
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.allclose(x, y, atol=2e-5, rtol=1e-4), name
