"""Row-by-row MNIST (each image as 28 steps of 28 pixels) with LSTM and GRU, and the training
throughput of our LSTM against a plain per-step Python loop over ``nn.LSTMCell``. One process.

Protocol (also in the JSON): MNIST IDX files, the official 60,000 / 10,000 split, pixels / 255,
``--data mnist-rows``; ``val_fraction 0.05`` (3,000 training images, stratified, split seed 0) for
choosing the best checkpoint, so the test set is used once per run, for the final evaluation
(``evaluate_run(run, "test")``, float32, all 10,000 images). Compared with the LSTM's commonly
reported test accuracy on this task, about 98.6%.

Throughput: samples/s of training steps (forward, backward, Adam) at batch 128, hidden 128, one
layer, float32, on MNIST rows; ours = the registered ``lstm`` model's ``train_step`` (``nn.LSTM``:
one fused kernel over the sequence), the loop = the same sizes written as 28 Python-level
``nn.LSTMCell`` calls; interleaved repeats, medians.

    python benchmarks/mnist_rows.py [--models lstm,gru] [--epochs 20] [--limit N] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import neuralzoo
from neuralzoo.config import TrainConfig
from neuralzoo.data import DataConfig, load_dataset
from neuralzoo.evaluation import evaluate_run
from neuralzoo.registry import get_model_class
from neuralzoo.training.context import StepContext

from common import environment, load_average, summary, write_json

RESULTS = Path(__file__).parent / "results" / "mnist_rows.json"
DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
RECIPE = {"hidden_size": 128, "num_layers": 2, "dropout": 0.1, "epochs": 20, "batch_size": 128,
          "lr": 2e-3, "schedule": "one-cycle", "grad_clip": 1.0}


class CellLoop(nn.Module):
    """The tutorial way: one ``nn.LSTMCell`` call per time step in Python, then a linear head."""

    def __init__(self, features: int, hidden: int, classes: int) -> None:
        super().__init__()
        self.cell, self.head = nn.LSTMCell(features, hidden), nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:   # (B, T, F)
        h = c = x.new_zeros(len(x), self.cell.hidden_size)
        for t in range(x.shape[1]):
            h, c = self.cell(x[:, t], (h, c))
        return self.head(h)


def samples_per_second(step, x: torch.Tensor, y: torch.Tensor, batch: int, steps: int) -> float:
    step(x[:batch], y[:batch])   # warm-up
    start = time.perf_counter()
    for i in range(steps):
        index = torch.randint(0, len(x), (batch,))
        step(x[index], y[index])
    return steps * batch / (time.perf_counter() - start)


def throughput(data, repeats: int, steps: int, batch: int = 128, hidden: int = 128) -> dict:
    torch.manual_seed(0)
    cls = get_model_class("lstm")
    ours = cls(cls.Config(hidden_size=hidden), data.info)
    opt_ours = ours.optimizers(TrainConfig(lr=1e-3))
    ctx = StepContext(loss=ours.loss, device=torch.device("cpu"), use_bf16=False)
    loop = CellLoop(data.info.input_shape[1], hidden, 10)
    opt_loop = torch.optim.Adam(loop.parameters(), lr=1e-3)

    def step_ours(x, y):
        ours.train_step({"x": x, "y": y}, opt_ours, ctx)

    def step_loop(x, y):
        loss = F.cross_entropy(loop(x), y)
        loss.backward()
        opt_loop.step()
        opt_loop.zero_grad(set_to_none=True)

    rates = {"neuralzoo_lstm": [], "lstmcell_python_loop": []}
    for _ in range(repeats):   # interleaved, so machine load hits both alike
        rates["neuralzoo_lstm"].append(samples_per_second(step_ours, data.train.x, data.train.y, batch,
                                                          steps))
        rates["lstmcell_python_loop"].append(samples_per_second(step_loop, data.train.x, data.train.y,
                                                                batch, steps))
    out = {k: summary(v) for k, v in rates.items()}
    out["speedup_median"] = round(out["neuralzoo_lstm"]["median"] / out["lstmcell_python_loop"]["median"], 2)
    out["setting"] = {"batch": batch, "hidden": hidden, "layers": 1, "steps_per_repeat": steps,
                      "repeats": repeats, "precision": "float32", "threads": torch.get_num_threads()}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--models", default="lstm,gru")
    parser.add_argument("--epochs", type=int, default=RECIPE["epochs"])
    parser.add_argument("--limit", type=int, default=None, help="training images (smoke runs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--throughput-steps", type=int, default=50)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    recipe = {**RECIPE, "epochs": args.epochs}
    data_settings = {"data": "mnist-rows", "data_dir": str(args.data_dir), "val_fraction": 0.05,
                     "limit": args.limit}
    result: dict = {"benchmark": "row-by-row MNIST: LSTM and GRU accuracy; LSTM vs LSTMCell loop throughput",
                    "command": " ".join([Path(sys.executable).name, *sys.argv]),
                    "started": time.strftime("%Y-%m-%d %H:%M:%S"), "environment": environment(),
                    "recipe": recipe, "seed": args.seed}
    data = load_dataset(DataConfig(**data_settings))
    result["protocol"] = {"description": data.info.description, "limit": args.limit,
                          "evaluation": "evaluate_run(run, 'test') on the best-validation checkpoint"}
    print("1. throughput: our LSTM vs a Python loop over nn.LSTMCell", flush=True)
    result["throughput"] = throughput(data, args.repeats, args.throughput_steps)
    tp = result["throughput"]
    print(f"   ours {tp['neuralzoo_lstm']['median']:.0f} samples/s, loop "
          f"{tp['lstmcell_python_loop']['median']:.0f} samples/s: {tp['speedup_median']}x", flush=True)
    result["accuracy"] = {}
    with tempfile.TemporaryDirectory(prefix="nz-rows-") as tmp:
        for name in [m.strip() for m in args.models.split(",") if m.strip()]:
            print(f"2. {name} on mnist-rows, {recipe}", flush=True)
            run = neuralzoo.train(name, out=Path(tmp) / name, seed=args.seed, progress=False,
                                  **data_settings, **recipe)
            report = evaluate_run(Path(tmp) / name, split="test")
            result["accuracy"][name] = {"test_accuracy": report["accuracy"], "test_samples":
                                        report["protocol"]["samples"], "parameters": run["parameters"],
                                        "train_seconds": round(run["train_seconds"], 1),
                                        "epochs": run["epochs"]}
            print(f"   {name}: {report['accuracy']:.2%} test accuracy ({run['train_seconds']:.0f} s "
                  f"training)", flush=True)
    result["load_average_1_5_15min_at_end"] = load_average()
    write_json(args.output, result)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
