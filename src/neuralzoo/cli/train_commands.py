"""``neuralzoo train`` (flags derived from the dataclasses) and ``neuralzoo demo``."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from ..config import TrainConfig

from ..fields import add_flags
from ..data.config import DataConfig
from .base import command

RUN_FLAGS = ("model", "out", "config", "resume", "preset")


def train_parser(model_cls: type | None = None, prog: str = "neuralzoo train") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, argument_default=argparse.SUPPRESS,
        description="Train a model. Precedence: defaults < --preset < --config file < explicit flags.",
        epilog="Model flags appear with a model name: neuralzoo train MODEL --help.")
    parser.add_argument("model", nargs="?", help="registered model name (neuralzoo list)")
    run = parser.add_argument_group("run")
    run.add_argument("--out", metavar="RUN_DIR", help="run directory (default: runs/MODEL-TIMESTAMP)")
    run.add_argument("--config", metavar="FILE", help="JSON or TOML file of settings (flat or in "
                     "sections model_config/train/data); a run's config.json works too")
    run.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last "
                     "checkpoint (training flags may be changed, e.g. --epochs)")
    presets = sorted(model_cls.card.presets) if model_cls else []
    run.add_argument("--preset", metavar="NAME", choices=presets or None,
                     help="named settings of the model "
                          f"({', '.join(presets) or ('none' if model_cls else 'see MODEL --help')})")
    add_flags(parser, DataConfig, "data")
    add_flags(parser, TrainConfig, "training")
    if model_cls is not None:
        add_flags(parser, model_cls.Config, f"model {model_cls.name}: {model_cls.card.summary}")
    return parser


def _model_name(argv: list[str]) -> str | None:
    """The model named on the command line, in the resumed run, or in the config file."""
    from ..runs import read_run_config
    from ..fields import read_config_file

    if argv and not argv[0].startswith("-"):
        return argv[0]
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--resume")
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv)
    if known.resume:
        return read_run_config(Path(known.resume)).model
    if known.config:
        return read_config_file(known.config).get("model")
    return None


@command("train", "train a model (neuralzoo train MODEL --help)")
def train_command(argv: list[str], prog: str = "neuralzoo train") -> int:
    from .. import api
    from ..registry import get_model_class

    name = _model_name(argv)
    model_cls = get_model_class(name) if name else None
    args = vars(train_parser(model_cls, prog).parse_args(argv))
    run = {k: args.pop(k) for k in RUN_FLAGS if k in args}
    summary = api.train(run.pop("model", None), **run, **args)
    if summary["reason"] == "signal":   # stopped and saved; the loop said how to resume
        return summary["exit_code"]
    if os.environ.get("RANK", "0") == "0":  # under torchrun only the first process reports
        report(summary)
    return 0


def report(summary: dict) -> None:
    final = "  ".join(f"val_{k} {v:.4f}" for k, v in summary["final"].items())
    print(f"{summary['model']}: {summary['steps']} steps, {summary['epochs']} epochs "
          f"({summary.get('stopped', summary['reason'])}), {summary['train_seconds']:.1f}s training; {final or 'no validation'}"
          f"; best {summary['monitor']} {summary['best']}; run dir {summary['run_dir']}")


def baseline_cell(result: dict) -> str:
    """The demo table's baseline: the one the model is compared with, scored on the same split."""
    block = result.get("baselines") or {}
    comparison = block.get("comparison")
    if not comparison:
        return "-"
    name = comparison["baseline"]
    # the metric it was compared by on validation, or the split's own (a VAE: -ELBO there, NLL here)
    metrics = block["splits"].get(result["protocol"]["split"], {})
    metric = next((m for m in (comparison["metric"], *metrics) if name in metrics.get(m, {})), None)
    if metric is None:
        return name.replace("_", " ")
    return f"{name.replace('_', ' ')}: {metric} {metrics[metric][name]:.4f}"


def headline(result: dict) -> tuple[str, float | None]:
    """The one figure the demo table shows for an evaluation: its reporters' headline."""
    figure = result.get("headline")
    if figure is None:
        return "no headline", None
    return f"{result['protocol']['split']} {figure['metric']}", figure["value"]


@command("demo", "train every model on its embedded demo data (digits, a bundled series and text); report")
def demo_command(argv: list[str]) -> int:
    from .. import api
    from ..evaluation import evaluate_run
    from ..plots import save_curves
    from ..registry import get_model_class, model_names
    from ..training.logger import read_metrics

    parser = argparse.ArgumentParser(prog="neuralzoo demo", description=demo_command.__doc__)
    parser.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    parser.add_argument("--models", default=",".join(model_names()),
                        help="comma-separated subset of models (default: all registered)")
    parser.add_argument("--max-steps", type=int, default=None, help="cap every model's training "
                        "(smoke runs)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    rows = []
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    classes = {name: get_model_class(name) for name in names}   # a typo fails before any training
    for name, cls in classes.items():
        print(f"== {name}: {cls.card.summary}", flush=True)
        # evaluate below puts the baselines beside the result: no second fit at the end of training
        settings = {"data": "digits", "progress": False, "baselines": False, **cls.card.demo}
        if args.max_steps is not None:   # validated by TrainConfig (0 is an error, not "no cap")
            settings["max_steps"] = args.max_steps
        summary = api.train(name, out=out / name, **settings)
        if summary["reason"] == "signal":
            return summary["exit_code"]
        result = evaluate_run(out / name, split="test")
        save_curves(read_metrics(out / name), out / name / "curves.png", f"{name} on {settings['data']}")
        metric, value = headline(result)
        protocol = result["protocol"]
        rows.append({"model": name, "parameters": summary["parameters"], "metric": metric,
                     "value": value, "train_seconds": round(summary["train_seconds"], 2),
                     "epochs": summary["epochs"], "samples": protocol["samples"],
                     "baseline": baseline_cell(result),
                     "protocol": f"{protocol['description']}; training seed "
                                 f"{protocol['training_seed']}; {protocol['split']} metrics from the "
                                 + ("best-validation checkpoint" if summary["final"] else
                                    "last checkpoint (no validation split)")})
    table = ["| model | parameters | metric | value | best baseline, same split | epochs | training s |",
             "|---|---|---|---|---|---|---|"]
    table += [f"| {r['model']} | {r['parameters']:,} | {r['metric']} | {r['value']:.4f} | {r['baseline']} | "
              f"{r['epochs']} | {r['train_seconds']:.1f} |" for r in rows]
    # each row's protocol comes from its own evaluation; models sharing one are listed once
    protocols = {r["protocol"]: [m["model"] for m in rows if m["protocol"] == r["protocol"]]
                 for r in rows}
    text = "\n".join(table) + "\n\n" + "".join(
        f"Protocol ({', '.join(models)}): {protocol}.\n" for protocol, models in protocols.items())
    print("\n" + text)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.md").write_text(text)
    (out / "summary.json").write_text(json.dumps({"models": rows}, indent=2) + "\n")
    from ..evaluation.report import write_report

    page = write_report([out / r["model"] for r in rows], out / "index.html", "neuralzoo demo")
    print(f"wrote {page} (open it in a browser: every run's metrics, curves and pictures)")
    return 0
