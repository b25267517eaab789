"""``neuralzoo scratch xor|digits``: train the from-scratch NumPy networks and summarise the run.

The main CLI dispatches ``neuralzoo scratch ARGS...`` to :func:`main`; it also runs standalone as
``python -m neuralzoo.scratch.cli xor``. Bad flags exit with argparse's code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from .train import DIGITS_DEFAULTS, XOR_DEFAULTS, History, RunSettings, train_digits, train_xor, xor_data


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def add_common(parser: argparse.ArgumentParser, defaults: dict[str, float], dtype: str) -> None:
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help=f"passes over the training data (default {defaults['epochs']})")
    parser.add_argument("--batch-size", type=positive_int, default=None,
                        help=f"samples per optimizer step (default {defaults['batch_size']})")
    parser.add_argument("--lr", type=positive_float, default=None,
                        help=f"learning rate (default {defaults['lr']})")
    parser.add_argument("--seed", type=int, default=0, help="seed of initialisation and shuffling")
    parser.add_argument("--dtype", choices=["float32", "float64"], default=dtype,
                        help=f"floating-point precision (default {dtype})")
    parser.add_argument("--plot", metavar="PATH.png", default=None,
                        help="save the loss curve (and test accuracy) as a PNG")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neuralzoo scratch",
        description="Train the from-scratch NumPy networks (hand-written backprop, no torch).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{xor,digits}")
    xor = commands.add_parser("xor", help="the tutorial's 2-3-1 tanh network on XOR (SGD, momentum)",
                              description="2-3-1 tanh network, MSE loss, full-batch SGD with momentum.")
    add_common(xor, XOR_DEFAULTS, "float64")
    digits = commands.add_parser("digits", help="MLP or CNN on the embedded 8x8 digits (Adam)",
                                 description="Softmax cross-entropy and Adam on scikit-learn's 8x8 "
                                 "digits, fixed stratified 80/20 split (random_state=0).")
    digits.add_argument("--model", choices=sorted(DIGITS_DEFAULTS), default="mlp",
                        help="network (default mlp)")
    add_common(digits, DIGITS_DEFAULTS["mlp"], "float32")
    return parser


def summarise(history: History, points: int = 5, evaluated_on: str = "test") -> list[str]:
    """Loss at a few evenly spaced epochs (always the first and last), then final accuracies.

    ``evaluated_on`` names the data behind ``history.test_accuracy`` (XOR has no held-out set).
    """
    epochs = len(history.train_loss)
    shown = sorted(set(np.linspace(0, epochs - 1, min(points, epochs)).round().astype(int)))
    lines = ["epoch  train-loss" + (f"  {evaluated_on}-acc" if history.test_accuracy else "")]
    for epoch in shown:
        line = f"{epoch + 1:5d}  {history.train_loss[epoch]:10.4f}"
        if history.test_accuracy:
            line += f"  {history.test_accuracy[epoch]:8.2%}"
        lines.append(line)
    if evaluated_on == "test":
        lines.append(f"final train accuracy {history.final_train_accuracy:.2%}, "
                     f"test accuracy {history.final_test_accuracy:.2%} ({history.seconds:.1f} s)")
    else:
        lines.append(f"final accuracy {history.final_train_accuracy:.2%} on {evaluated_on} "
                     f"({history.seconds:.1f} s)")
    return lines


def save_plot(history: History, path: str, title: str) -> None:
    """Loss curve (log scale) with test accuracy on a second axis, written with the Agg backend."""
    import matplotlib
    matplotlib.use("Agg")    # no display needed; must precede pyplot's import
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figure, axis = plt.subplots(figsize=(6, 4))
    epochs = np.arange(1, len(history.train_loss) + 1)
    axis.plot(epochs, history.train_loss, color="tab:blue", label="train loss")
    axis.set_yscale("log")
    axis.set_xlabel("epoch")
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_ylabel("train loss", color="tab:blue")
    if history.test_accuracy:
        other = axis.twinx()
        other.plot(epochs, history.test_accuracy, color="tab:orange", label="accuracy")
        other.set_ylabel("accuracy", color="tab:orange")
        other.set_ylim(0, 1.02)
    axis.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """These matrices are too small to gain from BLAS threads, and when other jobs share the cores,
    OpenBLAS threads waiting on each other made the digits CNN about 8x slower (measured: 16 s vs
    2 s). threadpoolctl ships with scikit-learn; without it, run as is."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.plot and not Path(args.plot).resolve().parent.is_dir():
        parser.error(f"--plot: folder of {args.plot} does not exist")   # fail before training
    settings = RunSettings(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                           seed=args.seed, dtype=args.dtype)
    with one_blas_thread():
        return run(args, settings)


def run(args: argparse.Namespace, settings: RunSettings) -> int:
    """Train the chosen network, print the summary, save the plot if asked."""
    if args.command == "xor":
        model, history = train_xor(settings)
        title = "scratch xor: 2-3-1 tanh, SGD momentum"
        print(f"{title} ({args.dtype}, seed {args.seed})")
        print("\n".join(summarise(history, evaluated_on="all-4")))
        x, y = xor_data(np.dtype(args.dtype))
        for inputs, target, output in zip(x, y, model.forward(x)):
            print(f"  {inputs.astype(int).tolist()} -> {output[0]:.3f} (target {int(target[0])})")
    else:
        model, history = train_digits(args.model, settings)
        title = f"scratch digits: {args.model}, Adam"
        print(f"{title} ({args.dtype}, seed {args.seed}, {model.parameter_count()} parameters)")
        print("\n".join(summarise(history)))
    if args.plot:
        try:
            save_plot(history, args.plot, title)
        except (OSError, ValueError) as error:
            print(f"neuralzoo scratch: error: cannot save plot {args.plot}: {error}", file=sys.stderr)
            return 2
        print(f"loss curve saved to {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
