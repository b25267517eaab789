"""Shared fixtures. Tests run on tiny data (the embedded digits, or a few MNIST files) on the CPU."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

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
