"""neuralzoo's default GRU and LSTM forecasters beside statsforecast's AutoARIMA, AutoETS,
AutoTheta and SeasonalNaive on identical rolling-origin cutoffs, on every series at hand offline.

Protocol (also in the JSON): each series is written to a temporary CSV and trained with
``neuralzoo.train(model, data=csv, lookback=L, horizon=h, period=m, test_fraction=T/n)`` and
nothing else (library defaults: validation part 0.1 of the steps, seed 0, its default epochs
unless ``--epochs`` is given); its test windows are the last T steps' ``T - h + 1`` forecast
origins (a window belongs to the test part when all its targets do), scored by
``neuralzoo.evaluation.forecasting.forecast_report`` (the report ``neuralzoo evaluate`` writes),
which also gives the seasonal naive and AR(p) (p = L, least squares on the training part)
baselines. Series longer than 360 steps keep their last 360. The statistical models go through
statsforecast's ``cross_validation(h, step_size=1, n_windows=T - h + 1)``: the same cutoffs, each model refitted
at every cutoff on all steps before it (the network is fitted once, on the training part only).
The seasonal naive MAE of both must agree (checked: ``cutoffs_match``). One metric function for
all: MAE, MASE (scale: in-sample seasonal naive MAE of the training part, period m) and sMAPE in
the data's units. Mean MASE over the series; seconds per model and series (1 thread).

    OMP_NUM_THREADS=1 python benchmarks/forecast_peers.py [--epochs N] [--series a,b] [--models gru,lstm]
    PYTHONPATH=/tmp/old/src python benchmarks/forecast_peers.py --tag before   # another source tree
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

import neuralzoo
from neuralzoo.data import load_dataset
from neuralzoo.evaluation.forecasting import forecast_report, mase_scale, metrics

from common import environment, write_json

RESULTS = Path(__file__).parent / "results"
PEERS = ("AutoARIMA", "AutoETS", "AutoTheta", "SeasonalNaive")
# ../shared/data from the project's root (a worktree may sit deeper: the first parent that has it)
SHARED = next((p / "shared" / "data" / "timeseries" for p in Path(__file__).resolve().parents
               if (p / "shared" / "data" / "timeseries").is_dir()), Path("../shared/data/timeseries"))


def synthetic(seed: int = 0) -> dict[str, tuple[np.ndarray, str]]:
    """Series with known structure (seed 0), and the formula of each."""
    rng = np.random.default_rng(seed)
    t = np.arange(144)
    out = {"synthetic_multiplicative_monthly": (
        (110 + 2.8 * t) * (1 + 0.22 * np.sin(2 * np.pi * t / 12) + 0.08 * np.cos(4 * np.pi * t / 12))
        * np.exp(0.03 * rng.standard_normal(144)),
        "12 years monthly: (110 + 2.8 t)(1 + 0.22 sin(2 pi t/12) + 0.08 cos(4 pi t/12)) exp(0.03 e)")}
    t = np.arange(240)
    out["synthetic_additive_monthly"] = (
        50 + 0.2 * t + 10 * np.sin(2 * np.pi * t / 12) + 2 * rng.standard_normal(240),
        "20 years monthly: 50 + 0.2 t + 10 sin(2 pi t/12) + 2 e")
    t = np.arange(160)
    out["synthetic_seasonal_quarterly"] = (
        20 + 5 * np.array([1.0, -0.5, 0.8, -1.3])[t % 4] + rng.standard_normal(160),
        "40 years quarterly: 20 + 5 s[t mod 4] + e, s = (1, -0.5, 0.8, -1.3)")
    ar = np.zeros(300)
    noise = rng.standard_normal(300)
    for i in range(2, 300):
        ar[i] = 1.3 * ar[i - 1] - 0.6 * ar[i - 2] + noise[i]
    out["synthetic_ar2"] = (10 + ar, "300 steps: AR(2) y_t = 1.3 y_t-1 - 0.6 y_t-2 + e, level 10")
    out["synthetic_random_walk_drift"] = (100 + np.cumsum(0.5 + rng.standard_normal(200)),
                                          "200 steps: random walk with drift 0.5, unit noise")
    return {k: (v, f"synthetic, seed {seed}: {d}; e ~ N(0, 1) iid") for k, (v, d) in out.items()}


def monthly_co2() -> np.ndarray:
    """The shared weekly Mauna Loa CO2 (1958-2001, with gaps) as monthly means of the weeks that
    have a value (every month has at least one)."""
    rows = np.genfromtxt(SHARED / "co2.csv", delimiter=",", skip_header=1)
    months = (rows[:, 0] // 100).astype(int)
    keep = ~np.isnan(rows[:, 1])
    labels, index = np.unique(months[keep], return_inverse=True)
    return np.bincount(index, rows[keep, 1]) / np.bincount(index)


def all_series() -> list[dict]:
    """name, values, period m, lookback L, horizon h, test steps T, source."""
    import statsmodels.api as sm

    quiet = warnings.catch_warnings()
    with quiet:
        warnings.simplefilter("ignore")
        nile = sm.datasets.nile.load_pandas().data["volume"].to_numpy(float)
        elnino = sm.datasets.elnino.load_pandas().data.iloc[:, 1:].to_numpy(float).ravel()
        macro = sm.datasets.macrodata.load_pandas().data
        inflation = sm.datasets.interest_inflation.load_pandas().data
    sunspots = np.genfromtxt(SHARED / "sunspots.csv", delimiter=",", skip_header=1)[:, 1]
    yearly = dict(period=1, lookback=12, horizon=1, test=30)
    monthly = dict(period=12, lookback=24, horizon=12, test=24)
    quarterly = dict(period=4, lookback=8, horizon=4, test=20)
    series = [
        dict(name="sunspots", values=sunspots, source="shared/data sunspots.csv, yearly 1700-2008", **yearly),
        dict(name="co2_monthly", values=monthly_co2(), source="shared/data co2.csv, weekly -> monthly "
             "means 1958-2001", **monthly),
        dict(name="nile", values=nile, source="statsmodels nile, yearly 1871-1970",
             **{**yearly, "lookback": 10, "test": 20}),
        dict(name="elnino", values=elnino, source="statsmodels elnino, monthly sea temperature "
             "1950-2010", **monthly),
        *[dict(name=f"macro_{c}", values=macro[c].to_numpy(float), source=f"statsmodels macrodata "
               f"{c}, quarterly 1959-2009", **quarterly) for c in ("realgdp", "cpi", "unemp")],
        dict(name="inflation_Dp", values=inflation["Dp"].to_numpy(float), source="statsmodels "
             "interest_inflation Dp (quarterly inflation), 1972-1998", **quarterly),
    ]
    shapes = {"synthetic_multiplicative_monthly": monthly, "synthetic_additive_monthly": monthly,
              "synthetic_seasonal_quarterly": quarterly,
              "synthetic_ar2": dict(period=1, lookback=12, horizon=5, test=30),
              "synthetic_random_walk_drift": dict(period=1, lookback=12, horizon=5, test=30)}
    for name, (values, source) in synthetic().items():
        series.append(dict(name=name, values=values, source=source, **shapes[name]))
    for spec in series:
        if len(spec["values"]) > MAX_STEPS:
            spec["source"] += f" (its last {MAX_STEPS} of {len(spec['values'])} steps)"
            spec["values"] = spec["values"][-MAX_STEPS:]
    return series


def held_out_series() -> list[dict]:
    """Series kept out of every choice of the forecasters' defaults (``--set held-out``): the
    quarterly columns of statsmodels' macrodata and danish_data that the benchmark set leaves out,
    and the interest rate beside its inflation."""
    import statsmodels.api as sm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        macro = sm.datasets.macrodata.load_pandas().data
        danish = sm.datasets.danish_data.load_pandas().data
        rates = sm.datasets.interest_inflation.load_pandas().data
    quarterly = dict(period=4, lookback=8, horizon=4, test=20)
    series = [dict(name=f"macro_{c}", values=macro[c].to_numpy(float), source=f"statsmodels "
                   f"macrodata {c}, quarterly 1959-2009", **quarterly)
              for c in ("realinv", "realcons", "realdpi", "realgovt", "m1", "tbilrate", "infl")]
    series += [dict(name=f"danish_{c}", values=danish[c].to_numpy(float), source=f"statsmodels "
                    f"danish_data {c}, quarterly 1974-1987", **{**quarterly, "test": 12})
               for c in ("lrm", "lry", "lpy", "ibo", "ide")]
    series.append(dict(name="interest_R", values=rates["R"].to_numpy(float), source="statsmodels "
                       "interest_inflation R (quarterly bond rate), 1972-1998", **quarterly))
    return series


MAX_STEPS = 360   # the last 360 steps of longer series (elnino, co2): the run stays near 15 min on 1 core


def write_csv(path: Path, values: np.ndarray) -> None:
    path.write_text("time,value\n" + "".join(f"{i},{float(v)!r}\n" for i, v in enumerate(values)))


def network(model: str, spec: dict, csv: Path, out: Path, epochs: int | None,
            auto_min_steps: int | None = None) -> dict:
    n = len(spec["values"])
    settings = dict(data=str(csv), lookback=spec["lookback"], horizon=spec["horizon"],
                    period=spec["period"], test_fraction=spec["test"] / n, seed=0)
    if epochs is not None:
        settings["epochs"] = epochs
    if auto_min_steps is not None:
        settings["auto_min_steps"] = auto_min_steps
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = neuralzoo.train(model, out=out, **settings)
        trained = neuralzoo.load(out)
        config = trained.run_config.data
        if config.transform == "auto":
            config = replace(config, transform=trained.info.series.transform)
        data = load_dataset(config)
        report = forecast_report(trained, data.test, data.train, trained.info.series)
    seconds = time.perf_counter() - start
    return {"report": report, "seconds": round(seconds, 2), "description": trained.info.description,
            "epochs_run": summary.get("epoch", summary.get("epochs")),
            "steps": summary.get("step", summary.get("steps")),
            "stop_reason": summary.get("stop_reason", summary.get("reason"))}


def peers(spec: dict, scale: np.ndarray) -> dict:
    import pandas as pd
    from statsforecast import StatsForecast
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta, SeasonalNaive

    values, m, h = spec["values"], spec["period"], spec["horizon"]
    windows = spec["test"] - h + 1
    frame = pd.DataFrame({"unique_id": "s", "ds": np.arange(len(values)), "y": values})
    out = {}
    for model in (AutoARIMA(season_length=m), AutoETS(season_length=m), AutoTheta(season_length=m),
                  SeasonalNaive(season_length=m)):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cv = StatsForecast(models=[model], freq=1, n_jobs=1).cross_validation(
                df=frame, h=h, step_size=1, n_windows=windows)
        seconds = time.perf_counter() - start
        name = str(model)
        cv = cv.sort_values(["cutoff", "ds"])
        predicted = cv[name].to_numpy().reshape(windows, h, 1)
        truth = cv["y"].to_numpy().reshape(windows, h, 1)
        out[name] = {**metrics(predicted, truth, scale), "seconds": round(seconds, 2),
                     "first_cutoff": int(cv["cutoff"].iloc[0])}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=None, help="pass epochs to neuralzoo.train "
                        "(default: none, the library decides)")
    parser.add_argument("--auto-min-steps", type=int, default=None, help="pass auto_min_steps "
                        "to neuralzoo.train (default: the library's)")
    parser.add_argument("--series", default=None, help="comma-separated names (default: all)")
    parser.add_argument("--models", default="gru,lstm")
    parser.add_argument("--peers-from", type=Path, default=None, help="take the statistical models' "
                        "rows from this earlier results file instead of running them (same series)")
    parser.add_argument("--set", choices=("benchmark", "held-out"), default="benchmark",
                        help="held-out: series never used to choose the defaults")
    parser.add_argument("--tag", default="after", help="results/forecast_peers_TAG.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    chosen = set(args.series.split(",")) if args.series else None
    models = [m for m in args.models.split(",") if m]
    rows, started = {}, time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for spec in all_series() if args.set == "benchmark" else held_out_series():
            if chosen and spec["name"] not in chosen:
                continue
            n, name = len(spec["values"]), spec["name"]
            csv = Path(tmp) / f"{name}.csv"
            write_csv(csv, spec["values"])
            row = {"source": spec["source"], "steps": n, **{k: spec[k] for k in
                   ("period", "lookback", "horizon", "test")},
                   "windows": spec["test"] - spec["horizon"] + 1, "models": {}}
            for model in models:
                result = network(model, spec, csv, Path(tmp) / f"{name}-{model}", args.epochs,
                                 args.auto_min_steps)
                report = result.pop("report")
                row["models"][f"neuralzoo_{model}"] = {**report["metrics"]["model"], **result}
                for key, value in report["metrics"].items():
                    if key != "model":
                        row["models"].setdefault(key, value)
                row["mase_scale"] = report["mase_scale"]
            scale = np.array(row.get("mase_scale") or mase_scale(
                spec["values"][:n - spec["test"] - round(n * 0.1), None], spec["period"]))
            earlier = json.loads(args.peers_from.read_text())["series"] if args.peers_from else None
            if earlier is None or name in earlier:
                row["models"].update(peers(spec, scale) if earlier is None else
                                     {k: v for k, v in earlier[name]["models"].items() if k in PEERS})
                mine = row["models"].get(f"seasonal_naive_{spec['period']}")
                theirs = row["models"]["SeasonalNaive"]["mae"]
                row["cutoffs_match"] = None if mine is None else bool(
                    abs(mine["mae"] - theirs) <= 1e-6 * max(1.0, abs(theirs)))
            rows[name] = row
            print(f"{name:34s} " + "  ".join(f"{k} {v['mase']:.3f}" for k, v in row["models"].items()
                                             if "mase" in v), flush=True)
    names = sorted({k for row in rows.values() for k in row["models"]})
    mean_mase = {k: round(float(np.mean([row["models"][k]["mase"] for row in rows.values()])), 4)
                 for k in names if all(k in row["models"] for row in rows.values())}
    print("mean MASE: " + ", ".join(f"{k} {v:.3f}" for k, v in sorted(mean_mase.items(), key=lambda kv: kv[1])))
    wins = {}   # the target: each network against seasonal naive and AR(p) on every series
    for model in (f"neuralzoo_{m}" for m in models):
        versus = {"seasonal_naive": lambda row: f"seasonal_naive_{row['period']}",
                  "ar": lambda row: f"ar_{row['lookback']}"}
        wins[model] = {f"loses_to_{label}": [name for name, row in rows.items()
                                            if row["models"][model]["mae"] >= row["models"][key(row)]["mae"]]
                       for label, key in versus.items()}
        print(f"{model}: " + "; ".join(f"{k} {v or 'none'}" for k, v in wins[model].items()))
    write_json(RESULTS / f"forecast_peers_{args.tag}.json", {
        "benchmark": "forecast_peers", "protocol": __doc__.split("\n\n")[1].replace("\n", " "),
        "neuralzoo_source": str(Path(neuralzoo.__file__).parent),
        "epochs": args.epochs if args.epochs is not None else "library default",
        "peers_from": str(args.peers_from) if args.peers_from else None,
        "set": args.set, "seed": 0, "seconds_total": round(time.perf_counter() - started, 1),
        "environment": environment(), "mean_mase": mean_mase, "targets": wins, "series": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
