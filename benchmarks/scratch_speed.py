"""Speed of the from-scratch NumPy CNN against the same network in PyTorch, measured in one run.

Protocol: scikit-learn digits (x = pixels / 16, float32, images 1x8x8), fixed stratified split
train_test_split(test_size=0.2, stratify=y, random_state=0) -> 1437 train / 360 test. Network
``neuralzoo.scratch.train.digits_cnn`` (conv3x3x16-ReLU-pool2-conv3x3x32-ReLU-pool2-dense 10) and its
torch twin, started from identical weights (copied from the scratch model), trained one epoch with
Adam (lr 0.003) on the same shuffled batch order. Timed: the training loop only (data already in
memory, no evaluation). Both sides run with the same thread count (BLAS via threadpoolctl, torch via
set_num_threads); each repeat times both, alternating which goes first, and the median is reported.
Writes benchmarks/results/scratch_speed.json.

    python benchmarks/scratch_speed.py [--repeats 5] [--threads 1] [--batch-size 32] [--epochs 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits

from common import environment, write_json
from neuralzoo import scratch
from neuralzoo.scratch.train import digits_cnn, load_digits_split

RESULTS = Path(__file__).parent / "results" / "scratch_speed.json"
LEARNING_RATE = 0.003


def torch_twin(model: scratch.Sequential) -> torch.nn.Sequential:
    """The same architecture in torch, with the scratch model's weights copied in."""
    twin = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(128, 10))
    params = dict(twin.named_parameters())
    with torch.no_grad():
        for name, value, _ in model.named_parameters():
            params[name].copy_(torch.from_numpy(value.copy()))
    return twin


def batch_orders(seed: int, samples: int, epochs: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.permutation(samples) for _ in range(epochs)]


def run_scratch(data: tuple, seed: int, epochs: int, batch_size: int) -> tuple[float, float]:
    x_train, x_test, y_train, y_test = data
    model = digits_cnn(np.random.default_rng(seed), np.float32)
    loss, optimizer = scratch.SoftmaxCrossEntropy(), scratch.Adam(model, lr=LEARNING_RATE)
    orders = batch_orders(seed, len(x_train), epochs)
    started = time.perf_counter()
    for order in orders:
        for start in range(0, len(order), batch_size):
            index = order[start:start + batch_size]
            loss.forward(model.forward(x_train[index]), y_train[index])
            model.backward(loss.backward())
            optimizer.step()
    seconds = time.perf_counter() - started
    return seconds, scratch.accuracy(scratch.predict(model, x_test), y_test)


def run_torch(data: tuple, seed: int, epochs: int, batch_size: int) -> tuple[float, float]:
    x_train, x_test, y_train, y_test = (torch.from_numpy(array) for array in data)
    model = torch_twin(digits_cnn(np.random.default_rng(seed), np.float32))
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    orders = [torch.from_numpy(order) for order in batch_orders(seed, len(x_train), epochs)]
    started = time.perf_counter()
    for order in orders:
        for start in range(0, len(order), batch_size):
            index = order[start:start + batch_size]
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(x_train[index]), y_train[index]).backward()
            optimizer.step()
    seconds = time.perf_counter() - started
    with torch.no_grad():
        accuracy = (model(x_test).argmax(1) == y_test).double().mean().item()
    return seconds, accuracy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="BLAS and torch threads (default 1)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-ratio", type=float, default=10.0,
                        help="exit 1 if scratch is slower than torch by more than this factor")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    data = load_digits_split(images=True, dtype=np.float32)
    samples = len(data[0]) * args.epochs
    runners = {"scratch": run_scratch, "torch": run_torch}
    times: dict[str, list[float]] = {name: [] for name in runners}
    accuracies: dict[str, list[float]] = {name: [] for name in runners}
    with threadpool_limits(limits=args.threads):
        for name, runner in runners.items():         # warm-up: first-call allocations, imports
            runner(data, args.seed, 1, args.batch_size)
        for repeat in range(args.repeats):
            names = list(runners) if repeat % 2 == 0 else list(runners)[::-1]
            for name in names:
                seconds, accuracy = runners[name](data, args.seed, args.epochs, args.batch_size)
                times[name].append(seconds)
                accuracies[name].append(accuracy)

    median = {name: statistics.median(values) for name, values in times.items()}
    ratio = median["scratch"] / median["torch"]
    result = {
        "benchmark": "digits CNN, scratch NumPy vs the same network in PyTorch, same run",
        "data": "sklearn load_digits, x = pixels/16, float32, images (N, 1, 8, 8)",
        "split": "train_test_split(test_size=0.2, stratify=y, random_state=0): "
                 f"{len(data[0])} train / {len(data[1])} test",
        "network": "conv3x3x16-relu-maxpool2-conv3x3x32-relu-maxpool2-flatten-dense10, "
                   "softmax cross-entropy, Adam lr 0.003, identical initial weights and batch order",
        "batch_size": args.batch_size, "epochs": args.epochs, "threads": args.threads,
        "seed": args.seed, "repeats": args.repeats, "timed": "training loop only, after one warm-up epoch",
        "seconds": {name: [round(t, 4) for t in values] for name, values in times.items()},
        "median_seconds": {name: round(value, 4) for name, value in median.items()},
        "samples_per_second": {name: round(samples / value, 1) for name, value in median.items()},
        "test_accuracy_after_training": {name: [round(a, 4) for a in values]
                                         for name, values in accuracies.items()},
        "ratio_scratch_over_torch": round(ratio, 3),
        "max_ratio": args.max_ratio,
        "environment": {**environment(), "numpy": np.__version__},
    }
    for name in runners:
        print(f"{name:8s} median {median[name]:.3f} s/epoch ({samples / median[name]:8.0f} samples/s), "
              f"runs {result['seconds'][name]}, test accuracy {accuracies[name][-1]:.2%}")
    print(f"ratio scratch / torch = {ratio:.2f} (limit {args.max_ratio:g}x) "
          f"[{args.threads} thread(s), batch {args.batch_size}, {args.epochs} epoch(s)]")
    write_json(args.output, result)
    print(f"wrote {args.output}")
    return 0 if ratio <= args.max_ratio else 1


if __name__ == "__main__":
    sys.exit(main())
