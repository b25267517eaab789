"""The baseline of benchmarks/mnist_cnn.py: the classic CNN trained the way the tutorials train it
(DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True), float32, plain Adam, Conv-ReLU-Pool).

Run as a script it trains one epoch on MNIST in a fresh interpreter and prints samples/s: a user's
process, with glibc's default allocator settings (neuralzoo's training changes them for the rest of
its own process).

    python benchmarks/tutorial_loop.py SEED [--data-dir DIR] [--threads N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def tutorial_model() -> nn.Sequential:
    """The classic CNN as the tutorials write it (Conv-ReLU-Pool order), 93,322 parameters."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
        nn.MaxPool2d(2), nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(), nn.Linear(576, 64), nn.ReLU(),
        nn.Linear(64, 10))


def tutorial_epoch(x: torch.Tensor, y: torch.Tensor, seed: int) -> float:
    """Samples/s of one epoch of the tutorial loop, float32, default DataLoader and Adam."""
    torch.manual_seed(seed)
    model = tutorial_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    model.train()
    start = time.perf_counter()
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        optimizer.step()
    return len(x) / (time.perf_counter() - start)


def tutorial_subprocess(data_dir: Path, seed: int, threads: int | None = None) -> float:
    """``tutorial_epoch`` in a fresh interpreter (this file as a script)."""
    command = [sys.executable, __file__, str(seed), "--data-dir", str(data_dir)]
    if threads:
        command += ["--threads", str(threads)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def main() -> None:
    from neuralzoo.data import DataConfig, load_dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seed", type=int)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    train = load_dataset(DataConfig(data="mnist", data_dir=str(args.data_dir), val_fraction=0)).train
    print(tutorial_epoch(train.x, train.y, args.seed))


if __name__ == "__main__":
    main()
