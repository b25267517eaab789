"""A fixed-time Optuna search over the CNN on MNIST, then its best settings against the default recipe.

Protocol (also in the JSON): ``neuralzoo.tune("cnn", data="mnist", epochs=3, ...)`` for ``--minutes``
(default 15) of wall time on the default search space (learning rate 1e-4..3e-2 log, batch size
32..256, channels, kernel size, dense width, dropout, label smoothing; trial 0 is the default recipe),
TPE sampler, median pruner, each trial trained on 54,000 of the official training images and scored
by its best validation accuracy on the other 6,000 (stratified, split_seed 0); the test images are
not read during the search. Then both recipes
are trained once more on all 60,000 training images (val_fraction 0, 3 epochs, seed 0) and scored
once on the 10,000 test images: the best trial's settings (``--final``) and the default recipe
(``neuralzoo train cnn --data mnist --epochs 3``). Single runs (one seed each).

    python benchmarks/tune_cnn.py [--minutes 15] [--epochs 3] [--data-dir ../shared/data/mnist]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import neuralzoo  # noqa: E402
from common import environment, max_rss_mib, write_json  # noqa: E402
from neuralzoo.evaluation import evaluate_run  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT.parent / "shared" / "data" / "mnist"
RESULTS = ROOT / "benchmarks" / "results" / "tune_cnn.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--study", type=Path, default=None, help="study folder (default: a temporary one)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    study_dir = args.study or Path(tempfile.mkdtemp(prefix="tune_cnn_"))
    fixed = {"data": "mnist", "data_dir": str(args.data_dir), "epochs": args.epochs, "seed": 0}
    start = time.perf_counter()
    study = neuralzoo.tune("cnn", trials=10_000, timeout=args.minutes, study=study_dir, final=True, **fixed)
    search_seconds = time.perf_counter() - start
    final = json.loads((study_dir / "final.json").read_text())
    default_dir = study_dir / "default"
    summary = neuralzoo.train("cnn", out=default_dir, progress=False, verbose=False, val_fraction=0.0,
                              **fixed)
    default = evaluate_run(default_dir, split="test")
    states = [t.state.name.lower() for t in study.trials]
    result = {
        "benchmark": "tune_cnn", "command": "python benchmarks/tune_cnn.py " + " ".join(sys.argv[1:]),
        "protocol": __doc__, "environment": environment(),
        "search": {"minutes": args.minutes, "wall_seconds": round(search_seconds, 1),
                   "trials": len(states), "complete": states.count("complete"),
                   "pruned": states.count("pruned"), "failed": states.count("fail"),
                   "best_trial": study.best_trial.number, "best_val_accuracy": study.best_value,
                   "best_params": study.best_params,
                   "space": json.loads((study_dir / "study.json").read_text())["space"],
                   "trial_0_default_recipe": study.trials[0].params | {"value": study.trials[0].value}},
        "tuned": {"test_accuracy": final["test"]["value"], "train_seconds": round(final["train_seconds"], 1),
                  "settings": final["params"]},
        "default": {"test_accuracy": default["headline"]["value"],
                    "train_seconds": round(summary["train_seconds"], 1),
                    "settings": "neuralzoo train cnn --data mnist --epochs 3 (val_fraction 0)"},
        "peak_rss_mib": max_rss_mib(),
    }
    for picture in ("history.png", "importances.png", "parallel.png"):
        if (study_dir / picture).exists():
            shutil.copy(study_dir / picture, args.output.with_name(f"tune_cnn_{picture}"))
    write_json(args.output, result)
    print(json.dumps({k: result[k] for k in ("search", "tuned", "default")}, indent=2))
    print(f"wrote {args.output}; study in {study_dir}")


if __name__ == "__main__":
    main()
