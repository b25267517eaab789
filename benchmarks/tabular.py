"""Small tables from a CSV: neuralzoo's default MLP beside scikit-learn's scaler + logistic regression
on the same held-out test rows (issue 33: within 1 point of it).

Tables (scikit-learn's, written as CSV files with a header and a ``target`` column, as a user would
hand them over): wine (178 rows, 13 columns on scales 0.1 .. 1,700, 3 classes), breast_cancer (569,
30 columns, 2 classes), iris (150, 4, 3) and digits (1,797, 64 pixel columns 0..16, 10 classes).

Protocol, per table and split seed s in 0..4: ``neuralzoo.train("mlp", data=CSV,
label_column="target", split_seed=s, seed=s)`` with every other setting at its default (no epochs
given: whatever the default budget is on this branch), evaluated with ``evaluate_run`` on the test
rows the run held out of the file (20%, stratified, split_seed s); the same run with ``epochs=200``
(a longer budget) and with ``standardise="off"`` (the raw columns, as before issue 33). Beside
them, on the very same test rows, scikit-learn's ``make_pipeline(StandardScaler(),
LogisticRegression(max_iter=1000))`` fitted on all the other rows (neuralzoo's training and
validation parts together). Test accuracy per seed (``accuracy``: the run's best checkpoint by
validation accuracy, what ``neuralzoo evaluate`` scores; ``accuracy_last``: its last checkpoint),
the mean over seeds, seconds (training only, wall, checkpoint writes included), the run's stop
reason, epochs and steps. Threads: 1 (``OMP_NUM_THREADS=1``).

    OMP_NUM_THREADS=1 python benchmarks/tabular.py [--tables wine,iris] [--seeds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import environment, write_json  # noqa: E402
import neuralzoo  # noqa: E402
from neuralzoo.data import DataConfig, load_dataset  # noqa: E402
from neuralzoo.evaluation import evaluate_run  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "tabular.json"
TABLES = ("wine", "breast_cancer", "iris", "digits")
RUNS = {"neuralzoo mlp, defaults": {}, "neuralzoo mlp, epochs=200": {"epochs": 200},
        "neuralzoo mlp, standardise=off": {"standardise": "off"}}


def write_table(name: str, folder: Path) -> Path:
    """One of scikit-learn's tables as a CSV with a header and a ``target`` column."""
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")(as_frame=True)
    path = folder / f"{name}.csv"
    bunch.frame.to_csv(path, index=False)
    return path


def logistic_regression(path: Path, seed: int) -> tuple[float, float]:
    """Scaler + logistic regression on every row but the run's held-out test rows; accuracy there."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = load_dataset(DataConfig(data=str(path), label_column="target", split_seed=seed,
                                   standardise="off"))
    x = np.concatenate([data.train.x.numpy(), data.val.x.numpy()])
    y = np.concatenate([data.train.y.numpy(), data.val.y.numpy()])
    start = time.perf_counter()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)
    seconds = time.perf_counter() - start
    return float(model.score(data.test.x.numpy(), data.test.y.numpy())), seconds


def neuralzoo_run(path: Path, seed: int, settings: dict, folder: Path) -> dict:
    out = folder / f"{path.stem}-{seed}-{len(list(folder.iterdir()))}"
    start = time.perf_counter()
    summary = neuralzoo.train("mlp", data=str(path), label_column="target", split_seed=seed, seed=seed,
                              out=out, progress=False, verbose=False, **settings)
    seconds = time.perf_counter() - start
    result = evaluate_run(out, out=out / "eval")
    last = evaluate_run(out, which="last", out=out / "eval-last")
    return {"accuracy": float(result["accuracy"]), "accuracy_last": float(last["accuracy"]),
            "seconds": round(seconds, 2),
            "epochs": summary["epochs"], "steps": summary["steps"], "stop": summary["reason"],
            "protocol": result["protocol"]["description"], "test_samples": result["protocol"]["samples"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default=",".join(TABLES))
    parser.add_argument("--seeds", type=int, default=5, help="split (and training) seeds 0..N-1")
    args = parser.parse_args()
    tables = {}
    with tempfile.TemporaryDirectory(prefix="neuralzoo-tabular-") as tmp:
        folder = Path(tmp)
        (folder / "runs").mkdir()
        for name in args.tables.split(","):
            path = write_table(name, folder)
            rows: dict[str, dict] = {"scaler + logistic regression": {"accuracy": [], "seconds": []}}
            for label in RUNS:
                rows[label] = {"accuracy": [], "accuracy_last": [], "seconds": [], "epochs": [],
                               "steps": [], "stop": []}
            protocol = ""
            for seed in range(args.seeds):
                accuracy, seconds = logistic_regression(path, seed)
                rows["scaler + logistic regression"]["accuracy"].append(round(accuracy, 4))
                rows["scaler + logistic regression"]["seconds"].append(round(seconds, 3))
                for label, settings in RUNS.items():
                    run = neuralzoo_run(path, seed, settings, folder / "runs")
                    for key in ("epochs", "steps", "stop", "seconds"):
                        rows[label][key].append(run[key])
                    rows[label]["accuracy"].append(round(run["accuracy"], 4))
                    rows[label]["accuracy_last"].append(round(run["accuracy_last"], 4))
                    if label == "neuralzoo mlp, defaults" and seed == 0:
                        protocol = run["protocol"]
                    test_samples = run["test_samples"]
                print(f"{name} seed {seed}: " + ", ".join(f"{k} {v['accuracy'][-1]:.4f}"
                                                         for k, v in rows.items()), flush=True)
            for row in rows.values():
                row["mean_accuracy"] = round(statistics.mean(row["accuracy"]), 4)
                if "accuracy_last" in row:
                    row["mean_accuracy_last"] = round(statistics.mean(row["accuracy_last"]), 4)
                row["mean_seconds"] = round(statistics.mean(row["seconds"]), 3)
            gap = rows["neuralzoo mlp, defaults"]["mean_accuracy"] - rows["scaler + logistic regression"][
                "mean_accuracy"]
            tables[name] = {"rows": len(load_dataset(DataConfig(data=str(path), label_column="target",
                                                                test_fraction=0, val_fraction=0)).train),
                            "test_samples": test_samples, "protocol_seed_0": protocol,
                            "default_minus_logistic_points": round(100 * gap, 2), "results": rows}
            means = ", ".join(f"{k} {v['mean_accuracy']:.4f} ({v['mean_seconds']:.2f} s)"
                              for k, v in rows.items())
            print(f"{name}: {means}; default - LR {100 * gap:+.2f} points")
    write_json(RESULTS, {
        "protocol": __doc__.split("\n\n")[1] + " " + __doc__.split("\n\n")[2],
        "seeds": args.seeds, "environment": environment(), "tables": tables})
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
