"""Semi-supervised MNIST: test error with 100 / 600 / 1,000 / 3,000 labels, 5 label draws each.

Target: **at most 1.0% test error at 100 labels** (mean of 5 label draws, with the spread), each model
within 60 minutes of training on 2 cores. Anchors, MNIST test error at 100 labels: Kingma et al. 2014
M1+M2 3.33%, Rasmus et al. 2015 Ladder networks 1.06%, Miyato et al. 2018 VAT 1.36%, Salimans et al.
2016 Improved GAN 0.93%; this project's SimCLR linear probe 5.22% (frozen features,
benchmarks/probe_mnist.py). The floor: the same CNN trained on the labels alone.

Protocol (in the JSON beside every figure): MNIST IDX files (the official 60,000 training and 10,000
test images), pixels / 255; ``val_fraction=0`` as Oliver et al. 2018's realistic evaluation asks (a
validation set larger than the labelled set would be labels the method does not have): nothing is
chosen on held-out data, the last checkpoint is scored once on the full test set. ``--labels N``
keeps N class-balanced labels of the 60,000 (data/labels.py), draw d with ``label_seed=d`` and the
training ``seed=d`` (d = 0..draws-1); the recorded draw's sha256 is in the JSON. Models that use
unlabelled data (``uses_unlabelled``) see all 60,000 images as unlabelled; any other model (the CNN
floor) trains on the N labelled images alone. Each training run stops at ``--max-minutes`` (60) of
training steps; its seconds (the loop's training time) and the wall clock of the call are reported.

    nice -n 10 env OMP_NUM_THREADS=1 python benchmarks/semi_mnist.py --models fixmatch,cnn
    python benchmarks/semi_mnist.py --pilot --models fixmatch   # minutes: 100 labels, 1 draw, capped
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

import neuralzoo
from neuralzoo.evaluation import evaluate_run
from neuralzoo.registry import MODELS, get_model_class

from common import environment, machine, max_rss_mib, write_json

RESULTS = Path(__file__).parent / "results"
DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
ANCHORS_100 = {"M1+M2 (Kingma et al. 2014)": 3.33, "Ladder (Rasmus et al. 2015)": 1.06,
               "VAT (Miyato et al. 2018)": 1.36, "Improved GAN (Salimans et al. 2016)": 0.93,
               "neuralzoo SimCLR linear probe (benchmarks/probe_mnist.py)": 5.22}
TARGET_100 = 1.0
NETWORK = {"batch_norm": True}   # the classic Conv32-Pool-Conv64-Pool-Conv64-Dense64 stack, with batch norm
# FixMatch (Sohn et al. 2020): B_l 64, mu 7, threshold 0.95, lambda_u 1; Adam one-cycle (the CNN's
# recipe) in place of the paper's SGD + cosine; the epochs sized to end inside the time cap
RECIPES = {
    "fixmatch": {**NETWORK, "batch_size": 448, "labelled_batch_size": 64, "lr": 3e-3, "schedule": "one-cycle",
                 "threshold": 0.95, "unlabelled_weight": 1.0, "epochs": 30},
    # the floor: the CNN on the labels alone, with augmentation, for CNN_STEPS steps of 64
    "cnn": {**NETWORK, "batch_size": 64, "lr": 1e-2, "schedule": "one-cycle", "augment": "affine"},
}
CNN_STEPS = 3000


def recipe_of(model: str, labels: int, args: argparse.Namespace) -> dict:
    recipe = dict(RECIPES.get(model, {}))   # other models: their card's defaults
    if model == "cnn":
        recipe["epochs"] = math.ceil(CNN_STEPS * recipe["batch_size"] / labels)
    if args.epochs is not None:
        recipe["epochs"] = args.epochs
    return recipe


def run_one(model: str, labels: int, draw: int, args: argparse.Namespace, root: Path) -> dict:
    recipe = recipe_of(model, labels, args)
    start = time.perf_counter()
    run = neuralzoo.train(model, out=root / f"{model}_{labels}_{draw}", data="mnist",
                          data_dir=str(args.data_dir), labels=labels, label_seed=draw, seed=draw,
                          val_fraction=0, threads=args.threads, max_minutes=args.max_minutes,
                          progress=False, verbose=args.verbose, baselines=False, **recipe)
    wall = time.perf_counter() - start
    test = evaluate_run(run["run_dir"], "test", which="last", baselines=False)
    info = neuralzoo.load(run["run_dir"], "last").info
    return {"draw": draw, "test_error_percent": round(100 * (1 - test["metrics"]["accuracy"]), 3),
            "train_seconds": round(run["train_seconds"], 1), "wall_seconds": round(wall, 1),
            "steps": run["steps"], "stopped": run["reason"], "label_sha256": info.label_draw.sha256,
            "per_class": info.label_draw.per_class, "test_samples": test["protocol"]["samples"],
            "recipe": {k: list(v) if isinstance(v, tuple) else v for k, v in recipe.items()}}


def spread(values: list[float]) -> dict:
    return {"values": values, "mean": round(statistics.fmean(values), 3),
            "std": round(statistics.stdev(values), 3) if len(values) > 1 else None,
            "min": min(values), "max": max(values)}


def default_models() -> list[str]:
    """fixmatch and every other registered model that learns from unlabelled data, then the floor."""
    get_model_class("cnn")   # registers every model
    semi = [name for name, cls in sorted(MODELS.items()) if getattr(cls, "uses_unlabelled", False)]
    return [*semi, "cnn"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=None, help="comma-separated registry names (default: every "
                        "model with uses_unlabelled, then cnn)")
    parser.add_argument("--labels", default="100,600,1000,3000")
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--first-draw", type=int, default=0, help="draws first-draw .. first-draw + draws - 1")
    parser.add_argument("--max-minutes", type=float, default=60.0, help="training time cap per run")
    parser.add_argument("--epochs", type=int, default=None, help="override every recipe's epochs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--runs", type=Path, default=None, help="keep the run folders here (default: a "
                        "temporary folder)")
    parser.add_argument("--verbose", action="store_true", help="the loop's line per epoch")
    parser.add_argument("--output", type=Path, default=None, help="default: results/semi_mnist.json "
                        "(results/semi_mnist_pilot.json with --pilot)")
    parser.add_argument("--pilot", action="store_true", help="100 labels, 1 draw, --max-minutes 5 unless "
                        "given, 2 epochs unless given: the recipe's speed and first figures in minutes")
    args = parser.parse_args()
    if args.pilot:
        args.labels, args.draws = "100", 1
        args.max_minutes = 5.0 if args.max_minutes == 60.0 else args.max_minutes
        args.epochs = 2 if args.epochs is None else args.epochs
    models = args.models.split(",") if args.models else default_models()
    root = args.runs or Path(tempfile.mkdtemp(prefix="semi_mnist_"))
    env, results = environment(), {}
    for model in models:
        results[model] = {}
        for labels in (int(n) for n in args.labels.split(",")):
            draws = range(args.first_draw, args.first_draw + args.draws)
            runs = [run_one(model, labels, draw, args, root) for draw in draws]
            errors = spread([r["test_error_percent"] for r in runs])
            results[model][str(labels)] = {"test_error_percent": errors,
                                           "train_seconds": spread([r["train_seconds"] for r in runs]),
                                           "runs": runs}
            target = f" (target {TARGET_100}%)" if labels == 100 else ""
            print(f"{model} with {labels} labels: test error {errors['mean']:.2f}% +- {errors['std'] or 0:.2f} "
                  f"over {len(runs)} draw(s){target}; {statistics.fmean(r['train_seconds'] for r in runs):.0f} s "
                  f"training per run, {runs[0]['steps']} steps", flush=True)
    protocol = {"data": "MNIST IDX, official split", "training_samples": 60000, "test_samples": 10000,
                "validation": "none (val_fraction 0; Oliver et al. 2018)", "pixels": "/ 255 in [0, 1]",
                "labels": "class-balanced draw (data/labels.py), label_seed = seed = draw index",
                "draws": list(range(args.first_draw, args.first_draw + args.draws)), "scored": "last checkpoint, once, on the 10,000 test images",
                "threads": args.threads, "max_minutes_per_run": args.max_minutes, "epochs_override": args.epochs,
                "target_test_error_percent_at_100": TARGET_100, "anchors_test_error_percent_at_100": ANCHORS_100,
                "pilot": "100 labels, 1 draw, few epochs: the speed and a first figure, not the recipe's"
                         if args.pilot else None,
                "machine": machine(env)}
    output = args.output or RESULTS / ("semi_mnist_pilot.json" if args.pilot else "semi_mnist.json")
    write_json(output, {"protocol": protocol, "environment": env, "results": results,
                        "peak_rss_mib": max_rss_mib()})


if __name__ == "__main__":
    main()
