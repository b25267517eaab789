"""What every peer of benchmarks/peers.py shares: the recipe's sizes, the quality figures, MNIST as
plain arrays, and the two measurements (steady samples/s; seconds until a test figure is reached)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

WARMUP, STEPS, BATCH = 20, 220, 128   # throughput: the steps after the first 20 of 220, batch 128
TARGETS = {"cnn": ("test accuracy", 0.99, "max"), "mlp_vae": ("test -ELBO (nats)", 110.0, "min"),
           "lstm": ("test accuracy", 0.985, "max")}


def mnist(data_dir: Path):
    """(x_train, y_train, x_test, y_test): float32 images in [0, 1] (N, 28, 28) and int64 labels, read
    from the IDX files with NumPy alone, as a hand-written script would."""
    import gzip

    import numpy as np

    def idx(name: str) -> np.ndarray:
        raw = gzip.open(data_dir / f"{name}.gz").read()
        dims = raw[3]
        shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
        return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)

    return (idx("train-images-idx3-ubyte").astype(np.float32) / 255,
            idx("train-labels-idx1-ubyte").astype(np.int64),
            idx("t10k-images-idx3-ubyte").astype(np.float32) / 255,
            idx("t10k-labels-idx1-ubyte").astype(np.int64))


def steady_rate(marks: list[float]) -> dict:
    """Samples/s between the end of step WARMUP and the end of step STEPS (``marks``: step end times)."""
    return {"samples_per_s": BATCH * (STEPS - WARMUP) / (marks[STEPS - 1] - marks[WARMUP - 1])}


def reached(job: str, value: float) -> bool:
    _, target, direction = TARGETS[job]
    return value >= target if direction == "max" else value <= target


def until_reached(job: str, max_epochs: int, run: Callable[[int], tuple[float, float]]) -> dict:
    """``run(epochs)`` -> (training seconds so far, test figure) after that many epochs, called for
    1, 2, ... until the figure reaches the job's target or ``max_epochs``."""
    name, target, _ = TARGETS[job]
    history = []
    for epochs in range(1, max_epochs + 1):
        seconds, value = run(epochs)
        history.append({"epoch": epochs, "train_seconds": round(seconds, 2), "value": value})
        if reached(job, value):
            break
    hit = history[-1] if reached(job, history[-1]["value"]) else None
    return {"measure": name, "target": target, "history": history,
            "seconds_to_target": hit["train_seconds"] if hit else None,
            "epochs_to_target": hit["epoch"] if hit else None}
