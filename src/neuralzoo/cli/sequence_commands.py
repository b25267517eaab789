"""``forecast`` (time-series runs) and ``generate`` (character language-model runs)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from ..errors import NeuralzooError
from .base import IMAGE_SUFFIXES, command, output_paths
from .commands import _run_parser


def _load_capable(args, capability: str, needs: str):
    from ..runs import load
    from ..training.context import resolve_device

    model = load(args.run, args.checkpoint, resolve_device(args.device), args.precision)
    if not hasattr(model, capability):   # structural: the task variant has it or not
        raise NeuralzooError(f"{args.run}: model {model.name!r} was trained on {model.info.task} data "
                             f"({model.info.name!r}) and has no {capability!r}; {needs}")
    return model


def _future_times(times: list[str], count: int) -> list[str]:
    """Labels of ``count`` steps after the series: continued when the labels are evenly spaced
    numbers (years, indices), else ``+1``, ``+2``, ..."""
    try:
        numbers = np.array(times[-3:], dtype=float)
        steps = np.diff(numbers)
        if len(steps) and np.allclose(steps, steps[0]) and steps[0] > 0:
            return [f"{numbers[-1] + steps[0] * (k + 1):g}" for k in range(count)]
    except ValueError:
        pass
    return [f"+{k + 1}" for k in range(count)]


@command("forecast", "forecast a time-series run ahead -> forecast CSV + plot (or --backtest)")
def forecast_command(argv: list[str]) -> int:
    import torch

    from ..runs import run_dir_of
    from ..data.series import fill_missing, read_series
    from ..evaluation import eval_data_config
    from ..evaluation.forecasting import backtest
    from ..plots import save_forecast

    parser = _run_parser("neuralzoo forecast", "Forecast with a run trained on a time series.")
    parser.add_argument("--horizon", type=int, default=None, help="steps ahead (default: the trained "
                        "horizon; longer horizons feed forecasts back)")
    parser.add_argument("--origin", type=int, default=None, help="forecast after this many observed "
                        "steps (negative: counted from the end, so the truth is known; default: all)")
    parser.add_argument("--data", help="another CSV with the same columns (default: the run's data)")
    parser.add_argument("--backtest", action="store_true", help="rolling-origin backtest over the "
                        "test part instead, with baselines -> backtest.json")
    parser.add_argument("--step", type=int, default=1, help="backtest: steps between origins")
    parser.add_argument("--output", help="CSV path (default: RUN_DIR/forecast.csv; plot beside it)")
    args = parser.parse_args(argv)
    model = _load_capable(args, "forecast", "forecast needs a run trained on a time series "
                          "(a .csv with --lookback, or --data sunspots)")
    spec = model.info.series
    horizon = args.horizon or spec.horizon
    if horizon < 1 or args.step < 1:
        raise NeuralzooError(f"--horizon and --step must be positive, got {horizon} and {args.step}")
    config = eval_data_config(model, {"data": args.data} if args.data else {})
    series = read_series(config)
    if series.columns != spec.columns:
        raise NeuralzooError(f"{series.source}: columns {series.columns} but the model forecasts "
                             f"{spec.columns}")
    values, _ = fill_missing(series, (len(series.values),), config.missing)
    paths = output_paths(args.output, run_dir_of(args.run) / "forecast.csv", table=(".csv",),
                         picture=IMAGE_SUFFIXES)
    out = paths["table"]
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.backtest:
        with model.autocast():
            result = backtest(model, values, spec.split[1], horizon, args.step, spec)
        result["protocol"] = (f"{series.source}: origins from step {spec.split[1] + 1} (the test "
                              f"part) every {args.step}; horizon {horizon}; units of the data")
        path = out.with_name("backtest.json")
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result["metrics"] if "metrics" in result else result, indent=2))
        print(f"wrote {path}")
        return 0
    n = len(values)
    origin = n if args.origin is None else (args.origin if args.origin >= 0 else n + args.origin)
    if not spec.lookback <= origin <= n:
        raise NeuralzooError(f"--origin {args.origin}: the forecast needs {spec.lookback} to {n} "
                             "observed steps before it")
    with model.autocast():
        forecast = model.forecast(torch.from_numpy(values[:origin]), horizon).numpy()   # (H, F)
    truth = np.full_like(forecast, np.nan)
    known = min(n - origin, horizon)
    truth[:known] = values[origin:origin + known]
    times = series.times[origin:origin + known] + _future_times(series.times[:n], horizon - known)
    with out.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["step", series.time_column or "time", *[f"forecast_{c}" for c in spec.columns],
                         *[f"truth_{c}" for c in spec.columns]])
        for h in range(horizon):
            writer.writerow([h + 1, times[h], *[f"{v:.6g}" for v in forecast[h]],
                             *["" if np.isnan(v) else f"{v:.6g}" for v in truth[h]]])
    shown = max(5 * spec.lookback, 3 * horizon)
    try:   # numeric time labels (years, ...) on the x axis, else step numbers
        positions = np.array(series.times[:n] + _future_times(series.times[:n], horizon), dtype=float)
    except ValueError:
        positions = np.arange(1, n + horizon + 1, dtype=float)
    picture = save_forecast(positions[max(0, origin - shown):origin], values[max(0, origin - shown):origin],
                            positions[origin:origin + horizon], forecast, truth if known else None,
                            spec.columns, paths["picture"],
                            f"{model.name}: {horizon} steps after step {origin} ({series.times[origin - 1]})")
    print(f"wrote {horizon} forecasts to {out} and the plot to {picture}")
    return 0


@command("generate", "sample text from a character language-model run")
def generate_command(argv: list[str]) -> int:
    import torch

    parser = _run_parser("neuralzoo generate", "Sample text from a run trained on a text file.")
    parser.add_argument("--prompt", default="", help="text to start from (default: a new line)")
    parser.add_argument("--length", type=int, default=500, help="characters to generate")
    parser.add_argument("--temperature", type=float, default=0.8, help="sampling temperature "
                        "(0: always the most likely character)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed")
    parser.add_argument("--output", help="also write the text to this file")
    args = parser.parse_args(argv)
    model = _load_capable(args, "generate", "generate needs a run trained on a text file "
                          "(e.g. --data fable or --data book.txt)")
    with model.autocast():
        text = model.generate(args.prompt, args.length, args.temperature,
                              torch.Generator().manual_seed(args.seed))
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    print(text)
    return 0
