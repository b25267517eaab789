"""``neuralzoo report``: one self-contained HTML page over one or more run directories.

Per run: the model and its configuration, the evaluation protocol, the metrics, the training curves,
and every picture the run holds (confusion matrix, samples, reconstructions, latent map, ROC,
forecast, attributions, traversals), inlined as base64 PNG so the page opens with no network and no
files beside it. Several runs get a comparison table first. Everything read from the runs is escaped.
"""

from __future__ import annotations

import base64
import html
import json
import tempfile
from pathlib import Path
from typing import Any

from ..errors import NeuralzooError
from ..runs import read_run_config, run_dir_of
from ..training.checkpoint import atomic_write
from ..training.logger import read_metrics
from .report_figures import figure_rows

STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.5em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .6em;
text-align:left;font-size:.9em}th{background:#f4f4f4}figure{display:inline-block;margin:.5em;
vertical-align:top}figure img{max-width:520px;border:1px solid #eee;image-rendering:pixelated}
figure.wide img{max-width:100%}
figcaption{font-size:.8em;color:#555}pre{background:#f8f8f8;padding:.6em;font-size:.8em;overflow:auto}
.protocol{font-size:.85em;color:#444}.warning{background:#fff4e5;border-left:4px solid #e8a33d;
padding:.4em .8em}"""

MEMBERS = {"metrics": "model or baseline", "per_class": "class",   # what a table's rows are
           "confusion_matrix": "true \\ predicted"}


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.name)}" src="data:image/png;base64,{data}">'


def _curves(events: list[dict], title: str) -> str:
    from ..plots import save_curves

    with tempfile.TemporaryDirectory() as tmp:
        return _image(save_curves(events, Path(tmp) / "curves.png", title))


def _table(rows: list[list[Any]], header: list[str]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    return "" if value is None else str(value)


def _summary(run_dir: Path) -> dict[str, Any]:
    config = read_run_config(run_dir).to_dict()
    evaluation = json.loads((run_dir / "eval.json").read_text()) if (run_dir / "eval.json").is_file() else {}
    events = read_metrics(run_dir) if (run_dir / "metrics.jsonl").is_file() else []
    headline = evaluation.get("headline") or {}
    last = next((e for e in reversed(events) if e.get("event") == "train"), {})
    return {"dir": run_dir, "config": config, "eval": evaluation, "headline": headline,
            "events": events, "epochs": last.get("epoch"), "step": last.get("step")}


def _section(run: dict[str, Any], index: int) -> str:
    run_dir, config, evaluation = run["dir"], run["config"], run["eval"]
    name = f"{config['model']} — {run_dir.name}"
    parts = [f'<h2 id="run{index}">{html.escape(name)}</h2>',
             f"<p>{html.escape(str(run_dir.resolve()))}</p>"]
    protocol = evaluation.get("protocol")
    if protocol:
        parts.append('<p class="protocol"><b>Protocol.</b> ' + html.escape(
            "; ".join(f"{k}: {_fmt(v)}" for k, v in protocol.items())) + "</p>")
    else:
        parts.append('<p class="protocol">Not evaluated yet: <code>neuralzoo evaluate RUN</code> '
                     "writes the metrics and their protocol.</p>")
    parts += _figures(evaluation)
    parts += _baselines(evaluation)
    if run["events"]:
        parts.append('<h3>Curves</h3><figure class="wide">' + _curves(run["events"], name) + "</figure>")
    pictures = sorted(p for p in run_dir.rglob("*.png") if "checkpoints" not in p.parts
                      and p.name != "curves.png")
    if pictures:
        parts.append("<h3>Pictures</h3>" + "".join(
            f"<figure>{_image(p)}<figcaption>{html.escape(str(p.relative_to(run_dir)))}</figcaption></figure>"
            for p in pictures))
    settings = ([[f"model.{k}", v] for k, v in config.get("model_config", {}).items()]
                + [[f"train.{k}", v] for k, v in config.get("train", {}).items()]
                + [[f"data.{k}", v] for k, v in config.get("data", {}).items()])
    parts.append(f"<details><summary><b>Configuration</b> ({len(settings)} settings)</summary>"
                 + _table(settings, ["setting", "value"]) + "</details>")
    return "\n".join(parts)


def _figures(evaluation: dict[str, Any]) -> list[str]:
    """Every figure of eval.json with its unit; blocks of like members (model and baselines, classes)
    as one table each."""
    rows, tables = figure_rows(evaluation)
    if not rows and not tables:
        return []
    parts = ["<h3>Metrics</h3>" + _table(rows, ["figure", "value", "unit"])]
    for name, members, units in tables:
        figures = list(next(iter(members.values())))
        parts.append(f"<h4>{html.escape(name)}</h4>" + _table(
            [[member, *(values[f] for f in figures)] for member, values in members.items()],
            [MEMBERS.get(name.rsplit(".", 1)[-1], ""), *figures])
            + f'<p class="protocol">Units: {html.escape(units)}.</p>')
    return parts


def _baselines(evaluation: dict[str, Any]) -> list[str]:
    """The model beside its baselines on each split evaluation/baselines.py scored, and its warnings."""
    block = evaluation.get("baselines")
    if not block:
        return []
    rows = [[split, metric, who, value] for split, figures in block["splits"].items()
            for metric, values in figures.items() for who, value in values.items()]
    parts = ["<h3>Baselines</h3>" + _table(rows, ["split", "metric", "model or baseline", "value"])
             + f'<p class="protocol">Fitted on {html.escape(block.get("fitted_on", ""))}.</p>']
    parts += [f'<p class="warning">{html.escape(w)}</p>' for w in evaluation.get("warnings", [])]
    return parts


def _best_baseline(evaluation: dict[str, Any]) -> str:
    compared = (evaluation.get("baselines") or {}).get("comparison")
    if not compared:
        return ""
    flag = " (model behind)" if compared["behind"] else ""
    return f"{compared['baseline']} {_fmt(compared['baseline_value'])} ({compared['split']}){flag}"


def write_report(runs: list[str | Path], output: str | Path, title: str = "neuralzoo report") -> Path:
    """The HTML page over ``runs`` (run directories or checkpoints) at ``output``; returns its path."""
    if not runs:
        raise NeuralzooError("report needs at least one run directory")
    summaries = [_summary(run_dir_of(r)) for r in runs]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    rows = [[f"{s['config']['model']} ({s['dir'].name})", s["headline"].get("metric"),
             s["headline"].get("value"), s["eval"].get("protocol", {}).get("split"),
             s["eval"].get("protocol", {}).get("samples"), _best_baseline(s["eval"]), s["epochs"],
             s["step"]] for s in summaries]
    parts.append("<h2>Runs</h2>" + _table(rows, ["run", "headline metric", "value", "split", "samples",
                                                 "best baseline", "epochs", "steps"]))
    parts += [_section(s, i) for i, s in enumerate(summaries)]
    parts.append("</body></html>\n")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(output, "\n".join(parts).encode())
    return output
