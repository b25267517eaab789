"""neuralzoo.scratch end to end: the documented training targets of the CLI defaults (XOR, 8x8
digits with the MLP and the CNN), float32 kept through the network, the CLI and its bad flags, and
the package's independence from torch. The layer-by-layer checks are in test_scratch.py."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from neuralzoo import scratch
from neuralzoo.scratch import cli
from neuralzoo.scratch.train import RunSettings, train_digits, train_xor

SCRATCH_DIR = Path(scratch.__file__).parent


@pytest.fixture
def one_blas_thread():
    """Small matrices gain nothing from BLAS threads, and on a busy machine (other jobs on the same
    cores) OpenBLAS threads waiting on each other made the CNN run ~8x slower."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield

def test_xor_reaches_full_accuracy(one_blas_thread):
    _, history = train_xor(RunSettings())
    assert history.final_train_accuracy == 1.0


@pytest.mark.slow
@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_digits_reaches_95_percent(model, one_blas_thread):
    _, history = train_digits(model, RunSettings(dtype="float32"))
    assert history.final_test_accuracy >= 0.95
    assert history.train_loss[-1] < history.train_loss[0] / 10


def test_float32_is_kept_through_the_network():
    rng = np.random.default_rng(0)
    model = scratch.train.digits_cnn(rng, np.float32)
    out = model.forward(rng.uniform(size=(2, 1, 8, 8)).astype(np.float32))
    assert out.dtype == np.float32
    assert model.backward(np.ones_like(out)).dtype == np.float32
    assert all(grad.dtype == np.float32 for _, _, grad in model.named_parameters())


def test_cli_xor_and_plot(tmp_path, capsys):
    plot = tmp_path / "xor.png"
    assert cli.main(["xor", "--plot", str(plot)]) == 0
    output = capsys.readouterr().out
    assert "final accuracy 100.00%" in output
    assert plot.stat().st_size > 1000


@pytest.mark.parametrize("argv", [["xor", "--bogus"], ["digits", "--model", "rnn"],
                                  ["xor", "--epochs", "0"], []])
def test_cli_bad_flags_exit_2(argv):
    with pytest.raises(SystemExit) as error:
        cli.main(argv)
    assert error.value.code == 2


def test_scratch_never_imports_torch():
    """Statically: no module mentions a torch import. At run time: importing and running needs none."""
    for path in SCRATCH_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(name.split(".")[0] == "torch" for name in names), path
    code = ("import sys, neuralzoo\n"
            "preloaded = 'torch' in sys.modules\n"
            "import neuralzoo.scratch, neuralzoo.scratch.cli\n"
            "assert neuralzoo.scratch.cli.main(['xor', '--epochs', '5']) == 0\n"
            "print('RESULT', preloaded, 'torch' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    preloaded, loaded = result.stdout.split("RESULT")[1].split()
    if preloaded == "False":   # the parent package may import torch itself; that is not scratch's doing
        assert loaded == "False"
