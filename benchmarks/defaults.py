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
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(FAMILIES))
    parser.add_argument("--minutes", type=float, default=5.0, help="GAN training budget (default 5)")
    parser.add_argument("--seeds", default="0,1,2", help="CNN seeds (default 0,1,2)")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/defaults.json"))
    args = parser.parse_args()
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
