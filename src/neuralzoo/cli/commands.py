"""``list``, ``evaluate``, ``predict``, ``plot`` and ``scratch``."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from ..fields import add_flags
from ..data.config import DataConfig
from ..errors import NeuralzooError
from .base import IMAGE_SUFFIXES, add_run_flags, command, output_paths


@command("list", "show the registered models")
def list_command(argv: list[str]) -> int:
    from ..registry import model_cards   # the cards alone: no model, so no torch, is imported

    argparse.ArgumentParser(prog="neuralzoo list", description="Show the registered models.").parse_args(argv)
    for card in model_cards():
        shown = f"  [presets: {', '.join(card.presets)}]" if card.presets else ""
        print(f"{card.name:12s} {card.summary}{shown}")
    return 0


def _run_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_run_flags(parser)
    return parser


@command("evaluate", "metrics of a trained run on a data split -> eval.json")
def evaluate_command(argv: list[str]) -> int:
    parser = _run_parser("neuralzoo evaluate", "Evaluate a run; writes eval.json (+ confusion.png).")
    parser.add_argument("--split", choices=("train", "val", "test"), default="test")
    parser.add_argument("--out", metavar="DIR", help="where to write eval.json (default: RUN_DIR)")
    parser.add_argument("--iw-samples", type=int, default=5000, metavar="K",
                        help="VAE: importance samples per example for log p(x) (default: 5000, "
                             "as in Burda et al. 2016)")
    parser.add_argument("--quality-samples", type=int, default=10000, metavar="N",
                        help="generative models: samples (and as many real ones) for the Fréchet "
                             "distance, precision/recall and class histogram (default: 10000; 0: skip)")
    parser.add_argument("--inception", metavar="WEIGHTS", default=None,
                        help="generative models: also the standard FID with these local Inception "
                             "weights (pt_inception-2015-12-05-6726825d.pth or a .safetensors copy)")
    parser.add_argument("--temperature", type=float, default=1.0, metavar="T",
                        help="generative models: standard deviation of the latent draws behind the "
                             "sample-quality figures (default: 1, the prior)")
    parser.add_argument("--no-baselines", dest="baselines", action="store_false",
                        help="skip the baselines beside the model (majority class and logistic "
                             "regression, PCA, unigram, naive / seasonal naive / AR(p)) and the "
                             "warning when the model is behind them on validation; they need the "
                             "training part and the validation split, which the test split alone "
                             "does not (on MNIST: a few seconds less)")
    parser.add_argument("--robustness", action="store_true", help="classifiers: also robust accuracy "
                        "under an L-infinity attack (the --robustness-* flags, as neuralzoo attack's) "
                        "-> eval.json's robustness block, robustness_curve.png, robustness_examples.png")
    from .robustness_commands import add_attack_flags, attack_settings

    add_attack_flags(parser.add_argument_group("--robustness"), prefix="robustness-")
    names = add_flags(parser, DataConfig, "data (default: the run's own data set)")
    args = vars(parser.parse_args(argv))
    overrides = {k: args[k] for k in names if k in args}
    robustness = attack_settings(args, "robustness-") if args["robustness"] else None
    if args["quality_samples"] < 0:
        raise NeuralzooError(f"--quality-samples must be >= 0, got {args['quality_samples']}")
    from ..evaluation import evaluate_run   # after parsing: --help needs no torch
    result = evaluate_run(args["run"], args["split"], args["checkpoint"], args["device"], overrides,
                          args.get("out"), args["iw_samples"], args["quality_samples"],
                          args["inception"], args["temperature"], args["precision"], args["baselines"],
                          robustness)
    shown = {k: result[k] for k in ("accuracy", "balanced_accuracy", "macro_f1", "pr_auc", "errors",
                                    "headline", "quality", "quality_inception", "robustness")
             if k in result}
    if result.get("baselines"):   # the model beside its baselines on the evaluated split
        shown["baselines"] = result["baselines"]["splits"][args["split"]]
    print(json.dumps({"protocol": result["protocol"], "metrics": result["metrics"], **shown}, indent=2))
    if (result.get("headline") or {}).get("note"):   # e.g. balanced accuracy on skewed classes
        print(result["headline"]["note"], file=sys.stderr)
    return 0


@command("predict", "predict classes of images / an .npz array -> CSV with class probabilities")
def predict_command(argv: list[str]) -> int:
    from ..runs import load, run_dir_of
    from ..data import read_inputs
    from ..training.context import resolve_device

    parser = _run_parser("neuralzoo predict", "Predict with a trained classifier.")
    parser.add_argument("--input", required=True, help="an image file, a folder of images, an .npz or a "
                        ".csv table (a training table's label column is dropped)")
    parser.add_argument("--output", help="CSV path (default: RUN_DIR/predictions.csv)")
    args = parser.parse_args(argv)
    model = load(args.run, args.checkpoint, resolve_device(args.device), args.precision)
    if not hasattr(model, "predict_proba"):
        raise NeuralzooError(f"model {model.name!r} does not predict classes")
    x, names, lengths = read_inputs(args.input, model.info, model.run_config.data.label_column)
    if lengths is not None:
        model.refuse_padding(args.input)   # before predict_proba's own check, to name the file
    probs = model.predict_proba(x, lengths=lengths).numpy()
    classes = model.info.class_names or [str(i) for i in range(probs.shape[1])]
    out = output_paths(args.output, run_dir_of(args.run) / "predictions.csv", table=(".csv",))["table"]
    with out.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["input", "predicted", *[f"prob_{c}" for c in classes]])
        for name, p in zip(names, probs):
            writer.writerow([name, classes[int(p.argmax())], *[f"{v:.6f}" for v in p]])
    print(f"wrote {len(names)} predictions to {out}")
    return 0


@command("plot", "draw the loss and metric curves of a run -> curves.png")
def plot_command(argv: list[str]) -> int:
    from ..plots import save_curves
    from ..training.logger import read_metrics

    parser = argparse.ArgumentParser(prog="neuralzoo plot", description="Draw a run's curves.")
    parser.add_argument("run", metavar="RUN_DIR")
    parser.add_argument("--output", help="PNG path (default: RUN_DIR/curves.png)")
    args = parser.parse_args(argv)
    out = output_paths(args.output, Path(args.run) / "curves.png",
                       picture=(*IMAGE_SUFFIXES, ".pdf", ".svg"))["picture"]
    save_curves(read_metrics(Path(args.run)), out, Path(args.run).name)
    print(f"wrote {out}")
    return 0


@command("inspect", "what a checkpoint holds (model, config, data, step, metrics), without loading it")
def inspect_command(argv: list[str]) -> int:
    from ..runs import checkpoint_path
    from ..training.checkpoint import describe

    parser = argparse.ArgumentParser(prog="neuralzoo inspect", description="Show what a checkpoint holds, "
                                     "read from its header: nothing is built or run.")
    parser.add_argument("checkpoint", metavar="CHECKPOINT",
                        help="a .safetensors checkpoint or a run directory")
    parser.add_argument("--which", choices=("best", "last"), default="last",
                        help="for a run directory: which checkpoint (default: last)")
    parser.add_argument("--json", action="store_true", help="print everything as JSON")
    args = parser.parse_args(argv)
    info = describe(checkpoint_path(args.checkpoint, args.which))
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    state = info["state"]
    print(f"{info['file']}: {info['format']} format {info['format_version']}, {info['bytes']:,} bytes, "
          f"written by neuralzoo {info['neuralzoo_version'] or '?'}")
    print(f"model      {info['model']}" + (f" (preset {info['preset']})" if info["preset"] else "")
          + f", {info['values']:,} values in {len(info['weights'])} tensors (parameters and buffers)")
    print(f"config     {json.dumps(info['model_config'])}")
    print(f"data       {json.dumps(info['data'])}")
    print(f"data info  {json.dumps(info['data_info'])}")
    print(f"progress   epoch {state.get('epoch')}, batch {state.get('batch')}, step {state.get('step')}, "
          f"{state.get('train_seconds', 0):.1f}s training")
    print(f"metrics    best {state.get('monitor')} {state.get('best')}; last validation "
          f"{json.dumps(state.get('last_val', {}))}")
    return 0


@command("scratch", "the from-scratch NumPy reference (neuralzoo scratch --help)")
def scratch_command(argv: list[str]) -> int:
    from ..scratch.cli import main as scratch_main

    return scratch_main(argv)


@command("report", "one self-contained HTML page over runs: config, protocol, metrics, curves, pictures")
def report_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="neuralzoo report", description="Write one HTML page (images "
                                     "inlined, no network needed) over one or more run directories.")
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run directories (or checkpoints)")
    parser.add_argument("--output", default="report.html", help="the page (default: report.html)")
    parser.add_argument("--title", default="neuralzoo report")
    args = parser.parse_args(argv)
    from ..evaluation.report import write_report

    print(f"wrote {write_report(args.runs, args.output, args.title)}")
    return 0
