"""VAE test negative log-likelihood on dynamically binarized MNIST (the IWAE paper's protocol).

Protocol (also in the JSON): MNIST IDX files, official split, all 60,000 training images for training
(``val_fraction=0``), pixel intensities as Bernoulli probabilities with a fresh draw for every training
batch (dynamic binarization); the 10,000 test images binarized once with ``binarize_seed`` 0. The test
NLL is the importance-sampled estimate with k = 5000 samples from q(z|x) per image (Burda et al. 2016,
Sec. 5), in nats, float32, evaluation seed = training seed. Reference: Burda et al. 2016, Table 1, one
stochastic layer (784-200-200-50, tanh): VAE 86.76, IWAE k=5 85.54, IWAE k=50 84.78 after 3,280
epochs. Budget: under one hour of training on 2 CPU cores (``--minutes``).

The training budget is wall clock: a short calibration run measures seconds per epoch on this machine
(reported, not counted), then the real run gets as many epochs as fit in ``--minutes`` (the cosine
schedule needs its length up front).

    python benchmarks/vae_nll.py [--minutes 48] [--hidden 400,400] [--iw-samples 5]
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

import neuralzoo  # noqa: E402
from common import environment, max_rss_mib, write_json  # noqa: E402
from neuralzoo.evaluation import evaluate_run  # noqa: E402
from neuralzoo.training.logger import read_metrics  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT.parent / "shared" / "data" / "mnist"
RESULTS = ROOT / "benchmarks" / "results" / "vae_nll.json"


def settings(args: argparse.Namespace, epochs: int) -> dict:
    return {"preset": "iwae", "data": "mnist", "data_dir": str(args.data_dir), "val_fraction": 0.0,
            "binarize": "dynamic", "hidden_sizes": args.hidden, "iw_samples": args.iw_samples,
            "epochs": epochs, "batch_size": args.batch_size, "lr": args.lr, "schedule": "cosine",
            "warmup_fraction": 0.01, "compile": True, "seed": args.seed, "progress": False,
            "log_every": 500}


def seconds_per_epoch(run_dir: Path) -> float:
    marks = [e["train_seconds"] for e in read_metrics(run_dir) if e["event"] == "val"]
    return (marks[-1] - marks[0]) / (len(marks) - 1)   # the first epoch includes compilation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--minutes", type=float, default=48.0, help="training budget (wall clock)")
    parser.add_argument("--hidden", default="400,400", help="MLP hidden widths (paper: 200,200)")
    parser.add_argument("--iw-samples", type=int, default=5, help="k of the training bound")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--lr", type=float, default=1.5e-3)
    parser.add_argument("--eval-samples", type=int, default=5000, help="k of the test estimate")
    parser.add_argument("--calibration-epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs-dir", type=Path, default=None)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    runs = args.runs_dir or Path(tempfile.mkdtemp(prefix="vae_nll_"))
    result = {"benchmark": "vae_nll", "command": "python benchmarks/vae_nll.py " + " ".join(sys.argv[1:]),
              "environment": environment()}

    calibration = neuralzoo.train("vae", out=runs / "calibration",
                                  **settings(args, args.calibration_epochs))
    per_epoch = seconds_per_epoch(runs / "calibration")
    epochs = max(1, math.floor(args.minutes * 60 / per_epoch))
    print(f"calibration: {per_epoch:.2f} s per epoch -> {epochs} epochs in {args.minutes} minutes",
          flush=True)
    summary = neuralzoo.train("vae", out=runs / "main", **settings(args, epochs))
    start = time.perf_counter()
    evaluation = evaluate_run(runs / "main", "test", "last", "cpu", iw_samples=args.eval_samples)
    likelihood = evaluation["likelihood"]
    result.update({
        "protocol": {**evaluation["protocol"], "train_samples": 60000,
                     "binarization": "dynamic (fresh Bernoulli draw per training batch); test drawn "
                                     "once with binarize_seed 0",
                     "test_estimate": f"importance sampling, k={args.eval_samples}, float32",
                     "model": evaluation["model"], "settings": settings(args, epochs),
                     "parameters": summary["parameters"]},
        "calibration": {"epochs": args.calibration_epochs, "seconds_per_epoch": round(per_epoch, 3),
                        "train_seconds": round(calibration["train_seconds"], 1)},
        "epochs": summary["epochs"], "steps": summary["steps"],
        "train_seconds": round(summary["train_seconds"], 1),
        "train_minutes": round(summary["train_seconds"] / 60, 2),
        "test_nelbo": round(likelihood["nelbo"], 3), "test_nll": round(likelihood["nll"], 3),
        "test_nll_standard_error": round(likelihood["nll_standard_error"], 3),
        "active_units": likelihood["active_units"], "latent_dim": likelihood["latent_dim"],
        "evaluation_seconds": round(time.perf_counter() - start, 1),
        "reference": {"burda2016_table1_vae_k1": 86.76, "burda2016_iwae_k5": 85.54,
                      "burda2016_iwae_k50": 84.78},
        "peak_rss_mib": max_rss_mib(), "run_dir": str(runs / "main"),
    })
    write_json(args.output, result)
    print(json.dumps({k: v for k, v in result.items() if k not in ("environment",)}, indent=2))


if __name__ == "__main__":
    main()
