"""Representations of MNIST digits, judged by probes at label budgets, in one table: raw pixels, PCA,
the autoencoder, the VAE and the three self-supervised encoders (rotation, inpaint, contrastive).

Protocol:
- data: the official 60,000 training images (no labels used for training the encoders; the default
  stratified 10% validation split for their best checkpoint, split_seed 0) and 10,000 test images,
  pixels / 255;
- each encoder is trained through ``neuralzoo.train`` (seed 0) for the epochs that fit ``--minutes``
  of training on this machine (a step timed over steps 11-40 of a trial run), with ``--max-minutes``
  as a hard stop and bf16 where the CPU has it natively; recipes in ``RECIPES``;
- probes (``neuralzoo.evaluation.probe``, the code behind ``neuralzoo probe``): features of the whole
  training and test splits once in eval mode (pixels; PCA with 50 components fitted on the training
  images; the autoencoder's code; the VAE's posterior mean; the self-supervised encoders' features),
  standardised with training statistics; N labels drawn class-balanced from the 60,000 (N / 10 per
  class; ``--draws`` draws, seeds 0..); multinomial logistic regression with C from {0.001 .. 10} by
  stratified 5-fold CV on the labelled subset (above 5,000 labels: a 10% hold-out of it); cosine
  k-NN, k 20 and 200; test error over the 10,000 test images, mean and standard deviation over draws.
Published anchors with the same budgets (semi-supervised, not linear probes): Kingma et al. 2014 M1 +
TSVM 11.82 / 5.72 / 4.24 / 3.49% and M1 + M2 3.33 / 2.59 / 2.40 / 2.18% at 100 / 600 / 1000 / 3000
labels; a linear classifier on pixels about 12% with all labels (LeCun et al. 1998).

    python benchmarks/probe_mnist.py [--minutes 30] [--draws 5] [--encoders ...] [--runs DIR]
    python benchmarks/probe_mnist.py --train-only --runs DIR --encoders NAME --minutes M  # budget per encoder
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import neuralzoo  # noqa: E402
from common import environment, load_average, write_json  # noqa: E402
from neuralzoo.cli.probe_commands import parse_budgets  # noqa: E402
from neuralzoo.data import DataConfig, load_dataset  # noqa: E402
from neuralzoo.evaluation.probe import baseline_features, model_features, probe, summarise  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT.parent / "shared" / "data" / "mnist"
RESULTS = ROOT / "benchmarks" / "results" / "probe_mnist.json"
ENCODERS = ("pixels", "pca", "autoencoder", "vae", "rotation", "inpaint", "contrastive")
RECIPES: dict[str, dict[str, Any]] = {
    "autoencoder": {"architecture": "conv", "channels": (32, 64), "latent_dim": 64},
    "vae": {"architecture": "conv", "channels": (32, 64), "latent_dim": 32},
    "rotation": {"batch_size": 128},
    "inpaint": {"batch_size": 128},
    "contrastive": {"batch_size": 256},
}
ANCHORS = {"M1+TSVM": {100: 11.82, 600: 5.72, 1000: 4.24, 3000: 3.49},
           "M1+M2": {100: 3.33, 600: 2.59, 1000: 2.40, 3000: 2.18}}


def train_encoder(name: str, out: Path, minutes: float) -> dict[str, Any]:
    """Train ``name`` for the epochs that fit ``minutes``: a trial run times a step first (steps 11 to
    40, after the first steps' warm-up)."""
    common = {"data": "mnist", "data_dir": str(DATA_DIR), "seed": 0, "progress": False, "verbose": False,
              **RECIPES[name]}
    short = neuralzoo.train(name, out=out / f"{name}-trial-10", max_steps=10, epochs=1, **common)
    trial = neuralzoo.train(name, out=out / f"{name}-trial", max_steps=40, epochs=1, **common)
    step_seconds = (trial["train_seconds"] - short["train_seconds"]) / 30
    steps_per_epoch = int(np.ceil(54000 / common.get("batch_size", 128)))   # 90% of 60,000
    epochs = max(1, int(minutes * 60 * 0.95 / (step_seconds * steps_per_epoch)))
    summary = neuralzoo.train(name, out=out / name, epochs=epochs, max_minutes=minutes, **common)
    return {"budget_minutes": minutes, "epochs": epochs, "train_seconds": round(summary["train_seconds"], 1),
            "stopped_by": summary["reason"], "epochs_done": round(summary["steps"] / steps_per_epoch, 2),
            "trial_step_seconds": round(step_seconds, 4), "recipe": {**RECIPES[name]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="training budget per encoder "
                        "(recorded as each encoder's budget_minutes)")
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--labels", default="100,600,1000,3000,all")
    parser.add_argument("--encoders", default=",".join(ENCODERS))
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--runs", type=Path, default=None, help="keep the trained encoders here (and "
                        "reuse the ones already there) instead of a temporary folder")
    parser.add_argument("--train-only", action="store_true", help="train (or find) the encoders in --runs "
                        "and stop: budgets can then differ per encoder, and the probes run later")
    args = parser.parse_args()
    if args.train_only and args.runs is None:
        parser.error("--train-only keeps the encoders for a later run: give --runs DIR")
    budgets, names = parse_budgets(args.labels), args.encoders.split(",")
    result: dict[str, Any] = {"environment": environment(), "protocol": __doc__.split("Protocol:\n", 1)[1]
                              .split("\n\n")[0], "draws": args.draws,
                              "anchors": ANCHORS, "training": {}, "rows": {}}
    data = load_dataset(DataConfig(data="mnist", data_dir=str(DATA_DIR), val_fraction=0.0))
    train_y, test_y = data.train.y.numpy(), data.test.y.numpy()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.runs or Path(scratch)
        models = {}
        for name in names:   # all training first, so the probes run on a quiet machine
            if name not in ("pixels", "pca"):
                done = folder / name / "training.json"
                if not done.is_file():   # written after the training: a finished encoder
                    trained = train_encoder(name, folder, args.minutes)
                    done.write_text(json.dumps(trained))
                result["training"][name] = json.loads(done.read_text())
                models[name] = neuralzoo.load(folder / name)
                print(f"{name}: {result['training'][name]}", flush=True)
        if args.train_only:
            return
        result["load_average_before_probing"] = load_average()
        for name in names:
            start = time.perf_counter()
            if name in ("pixels", "pca"):
                features = baseline_features(name, data.train.x, data.test.x)
            else:   # model_features runs without autograd
                features = (model_features(models[name], data.train.x).numpy(),
                            model_features(models[name], data.test.x).numpy())
            rows = summarise(probe(features[0], train_y, features[1], test_y, budgets, args.draws))
            result["rows"][name] = {"feature_dim": int(features[0].shape[1]), "results": rows,
                                    "probe_seconds": round(time.perf_counter() - start, 1)}
            cells = "  ".join(f"{r['labels']}: {r['linear_error']['mean']:.2f}"
                              f"+-{r['linear_error']['std']:.2f}" for r in rows)
            print(f"{name:12s} linear probe test error %  {cells}", flush=True)
            write_json(args.output, result)   # partial results survive an interrupted run
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
