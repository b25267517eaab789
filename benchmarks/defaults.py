"""Defaults that work: what a user gets from ``neuralzoo train MODEL --data DATA --epochs E`` with no
other flag, before and after each family's defaults became the recipe its benchmark validated.

"before" passes the old defaults explicitly (they are no longer the defaults), "after" passes nothing,
both through ``neuralzoo.train`` as the CLI does, in one run on one machine. Each row reports the
validation split (what the choice is made on) and the test split (scored once, never used to choose):
  cnn          mnist, 3 epochs, seeds 0, 1, 2 (before: seed 0): Adam lr 1e-3 constant, no smoothing ->
               lr 0.02 one-cycle, label smoothing 0.1 (benchmarks/mnist_cnn.py's recipe)
  mlp          mnist, 3 epochs: lr 1e-3 constant -> lr 3e-3 one-cycle (the demo's schedule)
  lstm         mnist-rows, 3 epochs: lr 1e-3 constant -> lr 2e-3 one-cycle, gradient clip 1
               (benchmarks/mnist_rows.py's recipe; the same defaults for rnn and gru)
  autoencoder  mnist, 5 epochs: lr 1e-3 constant -> lr 2e-3 one-cycle (ae_vs_pca.py, oneclass_mnist.py)
  vae          mnist, 5 epochs: lr 1e-3 constant -> lr 2e-3 one-cycle (as the autoencoder)
  dcgan        --max-minutes M (default 5) of training: unconditional, non-saturating loss, no spectral
               norm -> benchmarks/gan_mnist.py's recipe (class-conditional, hinge, spectral norm,
               conditional batch norm; batch 128 in both)
Protocol: MNIST IDX files, official 60,000/10,000 split, pixels / 255 (not binarized), the default
validation split (10% of the training images, stratified, split seed 0; none for the GANs), seed 0
unless stated, each split scored by ``neuralzoo.evaluation.evaluate_run`` (best-validation
checkpoint; GANs: the last one, 10,000 samples at t = 1 against the 10,000 test images in the
shipped MNIST feature network's space; VAE: importance-sampled NLL with k = 100).

    python benchmarks/defaults.py [--models cnn,mlp,lstm,autoencoder,vae,dcgan] [--minutes 5]

``--experiment budget`` measures the automatic training budget (issue 33): each family on data sets
from 100 to 54,000 training samples, the default run (no --epochs: planned, stopped early) beside the
same model and seed planned ``--factor`` (default 10) times as many steps as the default planned
(--auto-min-steps, validated as often, never stopped early: --patience 10^9); both scored on the test split from the best-validation
checkpoint. Target: within 1 point of accuracy, 5% of the error.

    python benchmarks/defaults.py --experiment budget [--cases mlp-digits-100,...] [--factor 10]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import environment, max_rss_mib, write_json  # noqa: E402

import neuralzoo  # noqa: E402
from neuralzoo.evaluation import evaluate_run  # noqa: E402

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
FAMILIES = {   # model: (data, epochs, the old defaults passed explicitly)
    "cnn": ("mnist", 3, {"lr": 1e-3, "schedule": "constant", "label_smoothing": 0.0}),
    "mlp": ("mnist", 3, {"lr": 1e-3, "schedule": "constant"}),
    "lstm": ("mnist-rows", 3, {"lr": 1e-3, "schedule": "constant", "grad_clip": None}),
    "autoencoder": ("mnist", 5, {"lr": 1e-3, "schedule": "constant"}),
    "vae": ("mnist", 5, {"lr": 1e-3, "schedule": "constant"}),
    "dcgan": ("mnist", None, {"conditional": False, "loss": "non-saturating", "spectral_norm": False,
                              "conditional_batch_norm": False}),
}


def one_run(model: str, settings: dict, root: Path, name: str, args) -> dict:
    run_dir = root / name
    start = time.perf_counter()
    data = FAMILIES[model][0]
    summary = neuralzoo.train(model, out=run_dir, data=data, data_dir=str(args.data_dir), progress=False,
                              **settings)
    seconds = time.perf_counter() - start
    row = {"settings": settings, "train_seconds": round(summary["train_seconds"], 1),
           "wall_seconds": round(seconds, 1), "epochs": summary["epochs"], "steps": summary["steps"]}
    for split in ("val", "test") if summary["final"] else ("test",):
        result = evaluate_run(run_dir, split, iw_samples=100, out=run_dir / split)
        row[split] = result["headline"]
        if "quality" in result:
            row[f"{split}_quality"] = {k: result["quality"][k] for k in ("frechet_distance", "precision",
                                                                         "recall")}
    shown = "  ".join(f"{split} {row[split]['metric']} {row[split]['value']:.4f}" for split in ("val", "test")
                      if split in row)
    print(f"{model} {name}: {shown} ({row['train_seconds']} s of training)", flush=True)
    return row


BUDGET_CASES = {   # name: (model, data, training-sample limit or None, settings beside the defaults)
    "mlp-digits-100": ("mlp", "digits", 100, {}),
    "mlp-digits-500": ("mlp", "digits", 500, {}),
    "mlp-digits": ("mlp", "digits", None, {}),
    "mlp-mnist-6000": ("mlp", "mnist", 6000, {}),
    "mlp-mnist": ("mlp", "mnist", None, {}),
    "cnn-digits-500": ("cnn", "digits", 500, {}),
    "cnn-digits": ("cnn", "digits", None, {}),
    "cnn-mnist-6000": ("cnn", "mnist", 6000, {}),
    "gru-digits-rows": ("gru", "digits-rows", None, {}),
    "lstm-digits-rows": ("lstm", "digits-rows", None, {}),
    "gru-mnist-rows-6000": ("gru", "mnist-rows", 6000, {}),
    "autoencoder-digits": ("autoencoder", "digits", None, {}),
    "autoencoder-mnist-6000": ("autoencoder", "mnist", 6000, {}),
    "vae-digits": ("vae", "digits", None, {}),
    "gru-sunspots": ("gru", "sunspots", None, {}),
    "lstm-fable": ("lstm", "fable", None, {}),
}


def budget_case(name: str, root: Path, args) -> dict:
    """The default run and the ``factor`` times longer one of one case; the gap between their test
    figures in points (accuracy) or percent of the longer run's error (everything else)."""
    model, data, limit, extra = BUDGET_CASES[name]
    base = {"data": data, "data_dir": str(args.data_dir), "limit": limit, "progress": False,
            "verbose": False, **extra}
    rows = {}
    for label, length in (("default", {}), ("longer", None)):
        if length is None:   # factor x the default's plan, validated as often, never stopped early
            per_epoch = math.ceil(rows["default"]["steps"] / max(rows["default"]["epochs"], 1))
            length = {"auto_min_steps": args.factor * rows["default"]["planned_epochs"] * per_epoch,
                      "patience": 10**9}
        start = time.perf_counter()
        summary = neuralzoo.train(model, out=root / f"{name}-{label}", **base, **length)
        result = evaluate_run(root / f"{name}-{label}", "test", iw_samples=100, out=root / f"{name}-{label}-test")
        rows[label] = {"epochs": summary["epochs"], "planned_epochs": summary["planned_epochs"], "steps": summary["steps"], "reason": summary["reason"],
                       "seconds": round(time.perf_counter() - start, 1), "warnings": summary["warnings"],
                       "test": result["headline"]}
    metric = rows["default"]["test"]["metric"]
    default, longer = rows["default"]["test"]["value"], rows["longer"]["test"]["value"]
    higher_better = rows["default"]["test"]["higher_is_better"]
    if "acc" in metric:
        gap, within = round(100 * (longer - default), 2), 100 * (longer - default) <= 1.0
    else:
        change = (default - longer) / abs(longer) if not higher_better else (longer - default) / abs(longer)
        gap, within = round(100 * change, 2), change <= 0.05
    rows.update(model=model, data=data, limit=limit, metric=metric, gap=gap, within_target=bool(within))
    unit = "points" if "acc" in metric else "% of the error"
    print(f"{name}: default {default:.4f} ({rows['default']['steps']} steps, {rows['default']['reason']}, "
          f"{rows['default']['seconds']} s)  x{args.factor} {longer:.4f} ({rows['longer']['seconds']} s)  "
          f"gap {gap} {unit} {'ok' if within else 'MISSED'}", flush=True)
    return rows


def budget_experiment(args) -> None:
    out: dict = {"environment": environment(), "protocol": __doc__.split("\n\n")[3], "factor": args.factor,
                 "cases": {}}
    if args.output.exists():   # another sitting: keep the cases measured before, each with its machine
        earlier = json.loads(args.output.read_text())
        for name, case in earlier.get("cases", {}).items():
            out["cases"][name] = {"environment": earlier.get("environment"), **case}
        out.update({k: v for k, v in earlier.items() if k not in out})   # e.g. earlier sittings' notes
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.cases.split(","):
            out["cases"][name] = {"environment": out["environment"], **budget_case(name, Path(tmp), args)}
            write_json(args.output, out)   # after every case: a long run keeps what it measured
    print(f"wrote {args.output}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(FAMILIES))
    parser.add_argument("--minutes", type=float, default=5.0, help="GAN training budget (default 5)")
    parser.add_argument("--seeds", default="0,1,2", help="CNN seeds (default 0,1,2)")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--experiment", choices=("recipes", "budget"), default="recipes")
    parser.add_argument("--cases", default=",".join(BUDGET_CASES), help="budget: which cases")
    parser.add_argument("--factor", type=int, default=10, help="budget: the longer run's epochs / the default's")
    args = parser.parse_args()
    if args.experiment == "budget":
        args.output = args.output or Path("benchmarks/results/budget.json")
        return budget_experiment(args)
    args.output = args.output or Path("benchmarks/results/defaults.json")
    out: dict = {"environment": environment(), "protocol": __doc__.split("\n\n")[1:3], "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for model in args.models.split(","):
            rows = out["models"][model] = {"data": FAMILIES[model][0]}
            _, epochs, before = FAMILIES[model]
            # GANs: a fixed training budget; the epoch count only has to outlast it
            length = {"epochs": epochs} if epochs else {"epochs": 1000, "max_minutes": args.minutes}
            rows["before"] = one_run(model, {**before, **length}, root, f"{model}-before", args)
            seeds = [int(s) for s in args.seeds.split(",")] if model == "cnn" else [0]
            for seed in seeds:
                rows[f"after_seed{seed}"] = one_run(model, {**length, "seed": seed}, root,
                                                    f"{model}-after-{seed}", args)
    out["peak_rss_mib"] = round(max_rss_mib(), 1)
    write_json(args.output, out)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
