"""What a study leaves behind: ``trials.csv`` (a row per trial), ``best.json``, Optuna's pictures
(optimisation history, parameter importances, parallel coordinates) and, with ``--final``, the best
settings retrained on training + validation data and scored once on the test part."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path
from typing import Any

from ..training.checkpoint import atomic_write


def trial_rows(study: Any) -> list[dict[str, Any]]:
    names = sorted({name for trial in study.trials for name in trial.params})
    rows = []
    for trial in study.trials:
        seconds = (trial.datetime_complete - trial.datetime_start).total_seconds() if (
            trial.datetime_complete and trial.datetime_start) else None
        rows.append({"number": trial.number, "state": trial.state.name.lower(), "value": trial.value,
                     "epochs_reported": len(trial.intermediate_values), "seconds": seconds,
                     **{name: trial.params.get(name) for name in names},
                     "run_dir": trial.user_attrs.get("run_dir"), "worker": trial.user_attrs.get("worker")})
    return rows


def best_trial(study: Any) -> Any | None:
    try:
        return study.best_trial
    except ValueError:   # no trial completed
        return None


def write_report(study: Any, study_dir: Path, plan: dict[str, Any]) -> None:
    rows = trial_rows(study)
    if rows:
        with open(study_dir / "trials.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    best = best_trial(study)
    summary = {"model": plan["model"], "monitor": f"val_{plan['monitor']}", "direction": plan["direction"],
               "trials": len(rows), "states": {s: sum(r["state"] == s for r in rows)
                                               for s in sorted({r["state"] for r in rows})},
               "best": None if best is None else {"number": best.number, "value": best.value,
                                                  "params": best.params,
                                                  "run_dir": best.user_attrs.get("run_dir")},
               "protocol": "each trial trains on the training part and is scored by the best "
                           f"validation {plan['monitor']} over its epochs; the test part is not read"}
    atomic_write(study_dir / "best.json", (json.dumps(summary, indent=2) + "\n").encode())
    pictures = draw(study, study_dir, f"val_{plan['monitor']}")
    print(table(rows, plan))
    if best is None:
        print(f"no trial completed; see {study_dir / 'trials.csv'}")
    else:
        params = ", ".join(f"{k}={v}" for k, v in best.params.items())
        print(f"best: trial {best.number}, val_{plan['monitor']} {best.value:.4f}, {params}; "
              f"run {best.user_attrs.get('run_dir')}")
    print(f"study: {study_dir} (trials.csv, best.json{''.join(', ' + p for p in pictures)})")


def table(rows: list[dict[str, Any]], plan: dict[str, Any], most: int = 10) -> str:
    """The best ``most`` finished trials as a Markdown table."""
    done = [r for r in rows if r["value"] is not None]
    done.sort(key=lambda r: r["value"], reverse=plan["direction"] == "maximize")
    params = [k for k in (rows[0] if rows else {}) if k not in
              ("number", "state", "value", "epochs_reported", "seconds", "run_dir", "worker")]
    lines = [f"| trial | val_{plan['monitor']} | {' | '.join(params)} | seconds |",
             "|---" * (len(params) + 3) + "|"]
    for r in done[:most]:
        shown = " | ".join(f"{r[p]:.3g}" if isinstance(r[p], float) else str(r[p]) for p in params)
        lines.append(f"| {r['number']} | {r['value']:.4f} | {shown} | {r['seconds'] or 0:.1f} |")
    others = len(rows) - len(done)
    return "\n".join(lines) + (f"\n({others} trials pruned, failed or running)" if others else "")


def draw(study: Any, study_dir: Path, target: str) -> list[str]:
    """Optuna's matplotlib pictures that the study has enough trials for; the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as plots

    complete = [t for t in study.trials if t.value is not None]
    wanted = {"history.png": plots.plot_optimization_history}
    if len(complete) >= 2 and len({k for t in complete for k in t.params}) >= 1:
        wanted["parallel.png"] = plots.plot_parallel_coordinate
        wanted["importances.png"] = plots.plot_param_importances
    written = []
    for name, plot in wanted.items():
        with warnings.catch_warnings():   # Optuna marks its matplotlib backend experimental
            warnings.simplefilter("ignore")
            try:
                axes = plot(study, target_name=target)
            except (ValueError, RuntimeError):   # e.g. importances of parameters that never varied
                continue
        figure = (axes.flat[0] if hasattr(axes, "flat") else axes).figure
        figure.set_size_inches(8, 5)
        figure.tight_layout()
        figure.savefig(study_dir / name, dpi=100)
        plt.close(figure)
        written.append(name)
    return written


def retrain_best(study: Any, study_dir: Path, model: str, preset: str | None, config: str | None,
                 settings: dict[str, Any]) -> dict[str, Any] | None:
    """``--final``: the best trial's settings trained on training + validation data (val_fraction 0,
    the same epochs), then evaluated once on the test part -> STUDY/final, final.json."""
    from ..api import train
    from ..evaluation import evaluate_run

    best = best_trial(study)
    if best is None:
        print("--final: no completed trial to retrain")
        return None
    out = study_dir / "final"
    summary = train(model, out=out, preset=preset, config=config,
                    **{"progress": False, "verbose": False, **settings, **best.params, "val_fraction": 0.0})
    result = evaluate_run(out, split="test")
    headline = result.get("headline") or {}
    record = {"trial": best.number, "params": best.params, "run_dir": str(out),
              "train_seconds": summary["train_seconds"], "test": headline,
              "protocol": result.get("protocol")}
    atomic_write(study_dir / "final.json", (json.dumps(record, indent=2, default=str) + "\n").encode())
    print(f"final: trial {best.number}'s settings on training + validation data -> {out}; test "
          f"{headline.get('metric')} {headline.get('value')}")
    return record
