"""Sunspots: does a fixed-weight combination of the chosen network and AR(9) beat the network alone on
the rolling-origin validation? (Forecast combination, Bates & Granger 1969: w * network + (1 - w) * AR(9).)

Protocol: the folds, seeds and recipe of benchmarks/sunspots.py (``FOLDS``, ``VALIDATION_SEEDS``, the
chosen candidate); each fold's network trained by ``held_out_run`` (fit on the years before the span,
last checkpoint), its one-step forecasts from ``Model.forecast`` on the observed years before each
target, AR(9) least squares refitted on the same years. The weight is chosen on the pooled validation
MSE; the test years are scored only when a weight below 1 wins (w = 1 is the network alone, whose
test figure is sunspots.json's).

    python benchmarks/sunspots_combination.py [--weights 0,0.25,0.5,0.75,1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

import neuralzoo

from common import environment, write_json
from sunspots import CHOSEN, COUNTS, FOLDS, RECIPE, VALIDATION_SEEDS, ar9_one_step, held_out_run

RESULTS = Path(__file__).parent / "results" / "sunspots_combination.json"


def fold_forecasts(folder: Path, seed: int, first: int, last: int) -> tuple[np.ndarray, ...]:
    """(network, AR(9), truth) one-step forecasts for the years first..last, in sunspot units."""
    run = held_out_run(folder, RECIPE, seed, first, last)
    model = neuralzoo.load(run["run_dir"], "last")
    targets, ar = ar9_one_step(first, last)
    network = np.array([float(model.forecast(torch.from_numpy(COUNTS[:i]), 1)[0, 0]) for i in targets])
    truth = COUNTS[targets]
    # the same forecasts as the benchmark's evaluation (same windows, same models)
    for name, forecast in (("mse", network), ("ar9_mse", ar)):
        assert abs(np.mean((forecast - truth) ** 2) - run[name]) < 1e-3 * run[name], (name, run[name])
    return network, ar, truth


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=lambda s: [float(v) for v in s.split(",")],
                        default=[0.0, 0.25, 0.5, 0.75, 1.0])
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    pooled: dict[float, list[float]] = {w: [] for w in args.weights}
    per_fold: dict[float, list[list[float]]] = {w: [] for w in args.weights}
    with tempfile.TemporaryDirectory(prefix="nz-sunspots-comb-") as tmp:
        for seed in VALIDATION_SEEDS:
            folds = [fold_forecasts(Path(tmp), seed, a, b) for a, b in FOLDS]
            for w in args.weights:
                errors = [(w * net + (1 - w) * ar - truth) ** 2 for net, ar, truth in folds]
                pooled[w].append(float(np.concatenate(errors).mean()))
                per_fold[w].append([float(e.mean()) for e in errors])
            print(f"seed {seed}: " + ", ".join(f"w={w:g} {pooled[w][-1]:.1f}" for w in args.weights),
                  flush=True)
    rows = {f"{w:g}": {"mse_mean": round(statistics.mean(pooled[w]), 1),
                       "mse_std": round(statistics.stdev(pooled[w]), 1),
                       "mse_per_seed": [round(v, 1) for v in pooled[w]],
                       "fold_mse": [round(statistics.mean(v), 1) for v in zip(*per_fold[w])]}
            for w in args.weights}
    best = min(args.weights, key=lambda w: statistics.mean(pooled[w]))
    result = {"benchmark": "sunspots: network / AR(9) forecast combination on the validation folds",
              "command": " ".join(["python", *sys.argv]), "candidate": CHOSEN, "recipe": RECIPE,
              "protocol": f"validation spans {FOLDS}, seeds {list(VALIDATION_SEEDS)}; pooled one-step MSE "
                          "(sunspot units) of w * network + (1 - w) * AR(9); w = 1 is the network alone, "
                          "w = 0 AR(9) alone", "by_weight": rows, "chosen_weight": best,
              "environment": environment()}
    if best < 1:   # the chosen combination on test, seeds 0-4 as the benchmark
        with tempfile.TemporaryDirectory(prefix="nz-sunspots-comb-") as tmp:
            test = [fold_forecasts(Path(tmp), seed, 1921, 1987) for seed in range(5)]
        mses = [float(np.mean((best * net + (1 - best) * ar - truth) ** 2)) for net, ar, truth in test]
        result["test_mse"] = {"mean": round(statistics.mean(mses), 1),
                              "std": round(statistics.stdev(mses), 1)}
    write_json(args.output, result)
    print(f"chosen weight on validation: {best:g} (MSE {rows[f'{best:g}']['mse_mean']}); wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
