"""Faster recipes for the time-to-quality rows of benchmarks/peers.py, searched on validation.

For the MLP VAE (784-400-20, MNIST) and the row-by-row LSTM (128 units, MNIST rows): a grid of batch
size x peak learning rate (one-cycle) x epochs, each a fresh ``neuralzoo.train`` run with 10% of the
training images held out (stratified, split_seed 0), scored on that validation part (VAE: -ELBO in
nats, one posterior sample; LSTM: accuracy) with the last checkpoint; the test split is never read.
Training seconds as the loop counts them (steps only). Precision: the default (bf16 where native).

    python benchmarks/fast_recipes.py [--jobs mlp_vae,lstm] [--output benchmarks/results/fast_recipes.json]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import environment, write_json  # noqa: E402

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
GRIDS = {   # job: (model, data, fixed settings, batch sizes, learning rates, epochs, figure)
    "mlp_vae": ("vae", "mnist", {"hidden_sizes": (400,), "latent_dim": 20}, (128, 256, 512),
                (3e-3, 6e-3, 1e-2), (1, 2, 3), "nelbo"),
    "lstm": ("lstm", "mnist-rows", {"hidden_size": 128}, (64, 128, 256), (3e-3, 6e-3), (2, 3), "accuracy"),
}


def main() -> None:
    import neuralzoo
    from neuralzoo.evaluation import evaluate_run

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", default=",".join(GRIDS))
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "fast_recipes.json"))
    args = parser.parse_args()
    rows = []
    for job in args.jobs.split(","):
        model, data, fixed, batches, rates, epoch_counts, figure = GRIDS[job]
        for batch, lr, epochs in itertools.product(batches, rates, epoch_counts):
            with tempfile.TemporaryDirectory() as out:
                summary = neuralzoo.train(model, out=out, data=data, data_dir=str(DATA_DIR), val_fraction=0.1,
                                          batch_size=batch, lr=lr, epochs=epochs, seed=0, progress=False,
                                          **fixed)
                result = evaluate_run(out, "val", which="last", quality_samples=0, iw_samples=1)
            value = result["metrics"]["nelbo"] if figure == "nelbo" else result["accuracy"]
            rows.append({"job": job, "batch_size": batch, "lr": lr, "epochs": epochs,
                         "train_seconds": round(summary["train_seconds"], 2),
                         f"val_{figure}": round(value, 4)})
            print(rows[-1], flush=True)
    write_json(Path(args.output), {"benchmark": "fast_recipes", "protocol": __doc__,
                                   "command": "python benchmarks/fast_recipes.py " + " ".join(sys.argv[1:]),
                                   "environment": environment(), "rows": rows})


if __name__ == "__main__":
    main()
