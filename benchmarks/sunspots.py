"""Yearly sunspots, the classic protocol: fit on 1700-1920, one-step-ahead forecasts for 1921-1987,
test MSE in the data's units; the AR(9) least-squares model in the same run; mean and spread over
seeds.

Protocol (also in the JSON): the bundled series (``neuralzoo/data/bundled/sunspots.csv``, the same
values as ../shared/data/timeseries/sunspots.csv) cut to 1700-1987 and written to a temporary CSV;
``test_fraction = 67/288`` makes the test part exactly 1921-1987 and ``val_fraction = 0`` fits on
all of 1700-1920 (no model selection: fixed recipe, the last checkpoint). Scaling: mean and std of
1700-1920. Each test window holds the ``lookback`` observed years before its target year (one step
ahead), so the test MSE averages 67 one-step forecasts. The network goes through ``neuralzoo.train``
and ``neuralzoo.evaluate.evaluate_run``; AR(9) (least squares with intercept, fitted on 1700-1920) is
computed by ``neuralzoo.forecasting`` on the same windows. Literature: AR(9) about 305 (our AR(9) is
the reference computed here), a published ARIMA/neural hybrid about 280.

    python benchmarks/sunspots.py [--seeds 0,1,2,3,4] [--model gru] [--epochs 300]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path


import neuralzoo
from neuralzoo.data.series import SERIES_DATASETS
from neuralzoo.evaluate import evaluate_run

from common import environment, load_average, write_json

RESULTS = Path(__file__).parent / "results" / "sunspots.json"
TARGET_MSE, AR9_REFERENCE, HYBRID_REFERENCE = 280.0, 305.0, 280.0
# Chosen on validation years only, never on the test years 1921-1987. First round (fit 1700-1900,
# validate 1901-1920; 21 candidates of cell, width, depth, lookback, epochs, batch, lr, dropout, pooling,
# weight decay): GRU 128, L2 1e-3. That validation span holds two small cycles, while the test span
# holds the largest cycles of the record (peak 190 in 1957 against a training maximum of 154), so the
# second round validated on the longer 1851-1920 (fit 1700-1850, 3 seeds each, MSE in sunspot units,
# AR(9) 272.2 on the same windows): GRU 128 L2 1e-3 237.8; with the linear autoregressive skip
# (LSTNet's highway) 245.2; GRU 32 + skip 208.1; GRU 128 + skip, L2 1e-2 188.0; GRU 64 + skip,
# L2 1e-2 183.6 -> the recipe below.
RECIPE = {"hidden_size": 64, "num_layers": 1, "dropout": 0.0, "epochs": 200, "batch_size": 32,
          "lr": 3e-3, "schedule": "one-cycle", "weight_decay": 1e-2, "linear_skip": True}


def classic_csv(folder: Path) -> Path:
    lines = SERIES_DATASETS["sunspots"].read_text().splitlines()
    kept = [lines[0]] + [line for line in lines[1:] if int(line.split(",")[0]) <= 1987]
    assert len(kept) == 1 + 288, len(kept)
    path = folder / "sunspots-1700-1987.csv"
    path.write_text("\n".join(kept) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=lambda s: [int(v) for v in s.split(",")], default=[0, 1, 2, 3, 4])
    parser.add_argument("--model", default="gru", choices=("rnn", "lstm", "gru"))
    parser.add_argument("--lookback", type=int, default=9)
    parser.add_argument("--epochs", type=int, default=RECIPE["epochs"])
    parser.add_argument("--hidden-size", type=int, default=RECIPE["hidden_size"])
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    recipe = {**RECIPE, "epochs": args.epochs, "hidden_size": args.hidden_size}
    result: dict = {"benchmark": "sunspots: fit 1700-1920, one-step-ahead 1921-1987, test MSE",
                    "command": " ".join([Path(sys.executable).name, *sys.argv]),
                    "started": time.strftime("%Y-%m-%d %H:%M:%S"), "environment": environment()}
    runs = []
    with tempfile.TemporaryDirectory(prefix="nz-sunspots-") as tmp:
        csv_path = classic_csv(Path(tmp))
        data = {"data": str(csv_path), "lookback": args.lookback, "horizon": 1, "val_fraction": 0.0,
                "test_fraction": 67 / 288, "ar_order": 9}
        for seed in args.seeds:
            summary = neuralzoo.train(args.model, out=Path(tmp) / f"seed{seed}", seed=seed, progress=False,
                                      device="cpu", **data, **recipe)
            report = evaluate_run(Path(tmp) / f"seed{seed}", split="test", which="last")
            scores = report["forecast"]["metrics"]
            runs.append({"seed": seed, "test_mse": scores["model"]["mse"], "ar9_mse": scores["ar_9"]["mse"],
                         "naive_mse": scores["naive"]["mse"], "train_seconds": summary["train_seconds"],
                         "test_windows": report["forecast"]["windows"]})
            print(f"seed {seed}: {args.model} test MSE {runs[-1]['test_mse']:.1f}, AR(9) "
                  f"{runs[-1]['ar9_mse']:.1f}, naive {runs[-1]['naive_mse']:.1f} "
                  f"({summary['train_seconds']:.1f} s training)", flush=True)
        description = report["protocol"]["description"]
    mses = [r["test_mse"] for r in runs]
    result["protocol"] = {"description": description, "model": args.model, "recipe": recipe,
                          "lookback": args.lookback, "seeds": args.seeds,
                          "test": "1921-1987, 67 one-step-ahead forecasts, MSE in sunspot units",
                          "model_selection": "none (val_fraction 0, last checkpoint)"}
    result["runs"] = runs
    result["test_mse"] = {"mean": round(statistics.mean(mses), 1),
                          "std": round(statistics.stdev(mses), 1) if len(mses) > 1 else 0.0,
                          "min": round(min(mses), 1), "max": round(max(mses), 1)}
    result["ar9_test_mse"] = round(runs[0]["ar9_mse"], 1)
    result["targets"] = {"network_mse_below": TARGET_MSE, "literature_ar9": AR9_REFERENCE,
                         "literature_hybrid": HYBRID_REFERENCE,
                         "met": result["test_mse"]["mean"] < TARGET_MSE}
    result["load_average_1_5_15min_at_end"] = load_average()
    write_json(args.output, result)
    print(f"\n{args.model}: test MSE {result['test_mse']['mean']} +- {result['test_mse']['std']} over "
          f"{len(mses)} seeds (min {result['test_mse']['min']}, max {result['test_mse']['max']}); AR(9) "
          f"{result['ar9_test_mse']} in the same run; target < {TARGET_MSE:g}: "
          f"{'met' if result['targets']['met'] else 'not met'}")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
