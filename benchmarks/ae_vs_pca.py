"""Autoencoder against PCA: MNIST test reconstruction error at code sizes 2 and 32, same run.

Protocol (also in the JSON): MNIST IDX files, official split; both methods fit on the 60,000 training
images (pixels / 255 in [0, 1]) and are scored on the 10,000 test images; the figure is the squared
error per image, summed over the 784 pixels, averaged over the test images. PCA: scikit-learn's
``PCA(n_components=code)`` (exact SVD of the centred training data). Autoencoder: neuralzoo's
``autoencoder``, MLP with the deep-autoencoder widths of Hinton & Salakhutdinov 2006 (1000-500-250),
trained with the Bernoulli (cross-entropy) reconstruction loss, no validation split, last checkpoint.
Reference: PCA gives about 43.6 (code 2) and 13.2 (code 32); it is computed again in the same run, and
the JSON gives the autoencoder's error beside PCA's with their ratio.

    python benchmarks/ae_vs_pca.py [--codes 2,32] [--epochs 30]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import neuralzoo  # noqa: E402
from common import environment, max_rss_mib, write_json  # noqa: E402
from neuralzoo.data import DataConfig, load_dataset  # noqa: E402
from neuralzoo.evaluation import evaluate_run  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT.parent / "shared" / "data" / "mnist"
RESULTS = ROOT / "benchmarks" / "results" / "ae_vs_pca.json"


def pca_error(train: np.ndarray, test: np.ndarray, code: int) -> tuple[float, float]:
    from sklearn.decomposition import PCA

    start = time.perf_counter()
    pca = PCA(n_components=code, svd_solver="full").fit(train)
    rebuilt = pca.inverse_transform(pca.transform(test))
    return float(((rebuilt - test) ** 2).sum(1).mean()), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--codes", default="2,32")
    parser.add_argument("--hidden", default="1000,500,250")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs-dir", type=Path, default=None)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    runs = args.runs_dir or Path(tempfile.mkdtemp(prefix="ae_vs_pca_"))
    data = load_dataset(DataConfig(data="mnist", data_dir=str(args.data_dir), val_fraction=0))
    train = data.train.x.flatten(1).numpy().astype(np.float64)
    test = data.test.x.flatten(1).numpy().astype(np.float64)
    rows = []
    for code in [int(c) for c in args.codes.split(",")]:
        pca, pca_seconds = pca_error(train, test, code)
        settings = {"data": "mnist", "data_dir": str(args.data_dir), "val_fraction": 0.0,
                    "latent_dim": code, "hidden_sizes": args.hidden, "epochs": args.epochs,
                    "batch_size": args.batch_size, "lr": args.lr, "schedule": "one-cycle",
                    "seed": args.seed, "progress": False}
        summary = neuralzoo.train("autoencoder", out=runs / f"code{code}", **settings)
        evaluation = evaluate_run(runs / f"code{code}", "test", "last", "cpu")
        row = {"code_size": code, "pca_squared_error": round(pca, 3),
               "autoencoder_squared_error": round(evaluation["squared_error"], 3),
               "ratio_autoencoder_to_pca": round(evaluation["squared_error"] / pca, 3),
               "pca_seconds": round(pca_seconds, 1), "train_seconds": round(summary["train_seconds"], 1),
               "parameters": summary["parameters"], "settings": settings}
        rows.append(row)
        print(json.dumps(row), flush=True)
    result = {"benchmark": "ae_vs_pca", "command": "python benchmarks/ae_vs_pca.py " + " ".join(sys.argv[1:]),
              "protocol": {"description": data.info.description, "train": len(train), "test": len(test),
                           "metric": "squared error per test image, sum over 784 pixels in [0, 1]",
                           "autoencoder": "neuralzoo autoencoder, MLP, Bernoulli (BCE) loss, last "
                                          "checkpoint", "pca": "sklearn PCA, full SVD, fit on train",
                           "seed": args.seed},
              "results": rows, "reference_pca": {"2": 43.6, "32": 13.2},
              "environment": environment(), "peak_rss_mib": max_rss_mib()}
    write_json(args.output, result)
    print(json.dumps({k: v for k, v in result.items() if k != "environment"}, indent=2))


if __name__ == "__main__":
    main()
