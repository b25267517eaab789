"""Shared fixtures. Tests run on tiny data (the embedded digits, or a few MNIST files) on the CPU."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
import torch
from hypothesis import settings

# fuzzing (tests/test_fuzz.py): a fixed seed and example count in CI; `--hypothesis-profile thorough`
# for a longer local search
settings.register_profile("ci", derandomize=True, max_examples=40, deadline=None, print_blob=True)
settings.register_profile("thorough", max_examples=1000, deadline=None, print_blob=True)
settings.load_profile("ci")

os.environ.setdefault("NEURALZOO_OFFLINE", "1")  # never try a download from the test suite
torch.set_num_threads(min(2, torch.get_num_threads()))

SHARED_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


@pytest.fixture(scope="session")
def digits():
    from neuralzoo.data import DataConfig, load_dataset

    return load_dataset(DataConfig(data="digits"))


@pytest.fixture
def mnist_dir() -> Path:
    if not (SHARED_MNIST / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"MNIST files not found in {SHARED_MNIST}")
    return SHARED_MNIST


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A real (tiny) run: an MLP trained 3 steps on digits."""
    import neuralzoo

    out = tmp_path_factory.mktemp("run") / "mlp"
    neuralzoo.train("mlp", out=out, data="digits", hidden_sizes=(16,), epochs=1, max_steps=3,
                    progress=False, device="cpu")
    return out


@pytest.fixture
def cli(capsys):
    """``cli(argv)`` runs ``main(argv)`` in-process: (exit code, stdout, stderr). Warnings (which a
    user would see on stderr) count as output; deprecation warnings are hidden from users by
    Python's defaults."""
    from neuralzoo.cli import main

    def run(argv: list) -> tuple[int, str, str]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                code = main([str(a) for a in argv])
            except SystemExit as exc:   # argparse (--help, usage errors)
                code = exc.code
        hidden = (DeprecationWarning, PendingDeprecationWarning)
        shown = [w for w in caught if not issubclass(w.category, hidden)]
        out, err = capsys.readouterr()
        err += "".join(f"{w.filename}:{w.lineno}: {w.category.__name__}: {w.message}\n" for w in shown)
        return code, out, err

    return run
