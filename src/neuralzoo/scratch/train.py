"""A minimal mini-batch fit loop, the data sets and the tutorial networks (XOR, digits MLP and CNN).

Data: XOR's four points, and scikit-learn's embedded 8x8 digits (1797 images) with x = pixels / 16 and
the fixed stratified split ``train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)`` used
across neuralzoo (1437 train / 360 test). Everything random draws from ``numpy.random.default_rng``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .conv import Conv2d, MaxPool2d
from .layers import Array, Dense, Flatten, Layer, ReLU, Sequential, Tanh
from .losses import Loss, MeanSquaredError, SoftmaxCrossEntropy
from .optim import SGD, Adam, Optimizer


@dataclass
class History:
    """Per-epoch record of a run; ``test_accuracy`` is empty when no test data was given."""

    train_loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    seconds: float = 0.0
    final_train_accuracy: float = float("nan")
    final_test_accuracy: float = float("nan")


def predict(model: Layer, x: Array, batch_size: int = 512) -> Array:
    """Forward pass in batches (bounded memory); returns the raw outputs."""
    return np.concatenate([model.forward(x[start:start + batch_size])
                           for start in range(0, len(x), batch_size)])


def accuracy(outputs: Array, targets: Array, threshold: float = 0.5) -> float:
    """Fraction correct: arg-max for several outputs, ``output > threshold`` for a single one."""
    if outputs.ndim == 2 and outputs.shape[1] > 1:
        predicted = outputs.argmax(axis=1)
    else:
        predicted = (outputs.reshape(-1) > threshold).astype(np.int64)
    return float(np.mean(predicted == np.asarray(targets).reshape(-1)))


def fit(model: Layer, loss: Loss, optimizer: Optimizer, x: Array, y: Array, epochs: int,
        batch_size: int, rng: np.random.Generator, test_data: tuple[Array, Array] | None = None,
        on_epoch: Callable[[int, History], None] | None = None) -> History:
    """Train with shuffled mini-batches: forward, loss, backward, optimizer step, per batch.

    The recorded train loss of an epoch is the sample-weighted mean of its batch losses (measured
    while the weights still change, as every training log does).
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError("epochs and batch_size must be >= 1")
    history = History()
    started = time.perf_counter()
    for epoch in range(epochs):
        order = rng.permutation(len(x))    # reshuffle every epoch so batches differ between epochs
        total = 0.0
        for start in range(0, len(x), batch_size):
            index = order[start:start + batch_size]
            value = loss.forward(model.forward(x[index]), y[index])
            model.backward(loss.backward())
            optimizer.step()
            total += value * len(index)
        history.train_loss.append(total / len(x))
        if test_data is not None:
            history.test_accuracy.append(accuracy(predict(model, test_data[0]), test_data[1]))
        if on_epoch is not None:
            on_epoch(epoch, history)
    history.seconds = time.perf_counter() - started
    history.final_train_accuracy = accuracy(predict(model, x), y)
    if test_data is not None:
        history.final_test_accuracy = history.test_accuracy[-1]
    return history


def xor_data(dtype: np.dtype | type = np.float64) -> tuple[Array, Array]:
    """The four XOR points and their 0/1 targets, shaped (4, 2) and (4, 1)."""
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=dtype)
    return x, np.array([[0], [1], [1], [0]], dtype=dtype)


def load_digits_split(images: bool, dtype: np.dtype | type = np.float32
                      ) -> tuple[Array, Array, Array, Array]:
    """(x_train, x_test, y_train, y_test): x as (N, 1, 8, 8) images or (N, 64) vectors in [0, 1]."""
    # Imported here so that importing neuralzoo.scratch stays fast (scikit-learn is only data here).
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype(dtype)
    x_train, x_test, y_train, y_test = train_test_split(
        x, digits.target.astype(np.int64), test_size=0.2, stratify=digits.target, random_state=0)
    if images:
        x_train, x_test = x_train.reshape(-1, 1, 8, 8), x_test.reshape(-1, 1, 8, 8)
    return x_train, x_test, y_train, y_test


def xor_network(rng: np.random.Generator, dtype: np.dtype | type = np.float64) -> Sequential:
    """The tutorial's 2-3-1 network: Dense(2, 3), tanh, Dense(3, 1), tanh."""
    return Sequential([Dense(2, 3, rng, dtype=dtype), Tanh(), Dense(3, 1, rng, dtype=dtype), Tanh()])


def digits_mlp(rng: np.random.Generator, dtype: np.dtype | type = np.float32) -> Sequential:
    """64 -> 128 (ReLU) -> 10 logits."""
    return Sequential([Dense(64, 128, rng, init="he", dtype=dtype), ReLU(),
                       Dense(128, 10, rng, dtype=dtype)])


def digits_cnn(rng: np.random.Generator, dtype: np.dtype | type = np.float32) -> Sequential:
    """(1, 8, 8) -> conv 3x3 x16 -> ReLU -> pool 2 -> conv 3x3 x32 -> ReLU -> pool 2 -> 128 -> 10."""
    return Sequential([
        Conv2d(1, 16, 3, padding=1, rng=rng, dtype=dtype), ReLU(), MaxPool2d(2),     # 16 x 4 x 4
        Conv2d(16, 32, 3, padding=1, rng=rng, dtype=dtype), ReLU(), MaxPool2d(2),    # 32 x 2 x 2
        Flatten(), Dense(32 * 2 * 2, 10, rng, dtype=dtype),
    ])


@dataclass
class RunSettings:
    """What the CLI passes to :func:`train_xor` / :func:`train_digits`; None means the task default."""

    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    seed: int = 0
    dtype: str = "float64"


XOR_DEFAULTS = {"epochs": 1000, "batch_size": 4, "lr": 0.1}
DIGITS_DEFAULTS = {"mlp": {"epochs": 20, "batch_size": 32, "lr": 0.003},
                   "cnn": {"epochs": 20, "batch_size": 32, "lr": 0.003}}


def _resolve(settings: RunSettings, defaults: dict[str, float]) -> tuple[int, int, float]:
    epochs = settings.epochs if settings.epochs is not None else int(defaults["epochs"])
    batch_size = settings.batch_size if settings.batch_size is not None else int(defaults["batch_size"])
    lr = settings.lr if settings.lr is not None else float(defaults["lr"])
    return epochs, batch_size, lr


def train_xor(settings: RunSettings) -> tuple[Sequential, History]:
    """2-3-1 tanh net, MSE on 0/1 targets, full-batch SGD with momentum 0.9; class = output > 0.5."""
    epochs, batch_size, lr = _resolve(settings, XOR_DEFAULTS)
    rng = np.random.default_rng(settings.seed)
    x, y = xor_data(np.dtype(settings.dtype))
    model = xor_network(rng, np.dtype(settings.dtype))
    history = fit(model, MeanSquaredError(), SGD(model, lr=lr, momentum=0.9), x, y, epochs,
                  batch_size, rng, test_data=(x, y))
    return model, history


def train_digits(model_name: str, settings: RunSettings) -> tuple[Sequential, History]:
    """Digits MLP or CNN with softmax cross-entropy and Adam; test accuracy tracked every epoch."""
    if model_name not in DIGITS_DEFAULTS:
        raise ValueError(f"model must be 'mlp' or 'cnn', got {model_name!r}")
    epochs, batch_size, lr = _resolve(settings, DIGITS_DEFAULTS[model_name])
    rng = np.random.default_rng(settings.seed)
    dtype = np.dtype(settings.dtype)
    x_train, x_test, y_train, y_test = load_digits_split(images=model_name == "cnn", dtype=dtype)
    model = (digits_cnn if model_name == "cnn" else digits_mlp)(rng, dtype)
    history = fit(model, SoftmaxCrossEntropy(), Adam(model, lr=lr), x_train, y_train, epochs,
                  batch_size, rng, test_data=(x_test, y_test))
    return model, history
