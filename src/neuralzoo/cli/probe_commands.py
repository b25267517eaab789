"""``neuralzoo pretrain`` (the self-supervised models, through the one training loop) and ``neuralzoo
probe`` (linear and k-NN probes of any model's features, or of pixels / PCA, at label budgets)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..fields import add_flags
from ..data.config import DataConfig
from ..errors import NeuralzooError
from .base import command


def pretext_models() -> list[str]:
    from ..models.pretext import PretextModel
    from ..registry import MODELS, model_names

    return [name for name in model_names() if issubclass(MODELS[name], PretextModel)]


@command("pretrain", "self-supervised pretraining of an image encoder (rotation, inpaint, contrastive)")
def pretrain_command(argv: list[str]) -> int:
    """``neuralzoo pretrain TASK ...`` is ``neuralzoo train TASK ...`` for the pretext tasks."""
    from .train_commands import train_command

    tasks = pretext_models()
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: neuralzoo pretrain TASK [--data ...] [--encoder cnn|mlp] [training flags]\n\n"
              f"Self-supervised pretraining: the same loop, run directory and checkpoints as train.\n"
              f"TASK: {', '.join(tasks)}. Every flag: neuralzoo pretrain TASK --help. The encoder's "
              f"features: neuralzoo.load(RUN).encode(x); judge them with neuralzoo probe RUN.")
        return 0
    if argv[0] not in tasks:
        raise NeuralzooError(f"pretrain task {argv[0]!r}: unknown; tasks: {', '.join(tasks)} (other "
                             "models: neuralzoo train)")
    return train_command(argv, prog="neuralzoo pretrain")


def parse_budgets(text: str) -> list[int | None]:
    budgets: list[int | None] = []
    for part in text.split(","):
        part = part.strip()
        if part == "all":
            budgets.append(None)
        elif part.isdigit() and int(part) > 0:
            budgets.append(int(part))
        else:
            raise NeuralzooError(f"--labels {text!r}: give positive counts and/or 'all', e.g. 100,1000,all")
    return budgets


@command("probe", "linear and k-NN probes of a run's features (or pixels / PCA) at label budgets")
def probe_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="neuralzoo probe", description=(
        "How good are a model's frozen features? Multinomial logistic regression (C by cross-"
        "validation on the labelled subset) and cosine k-NN (k 20, 200) on N class-balanced "
        "training labels, several draws, test error once per probe. SOURCE: a run directory, or "
        "'pixels' / 'pca' as baselines."))
    parser.add_argument("source", metavar="SOURCE", help="a run directory (or checkpoint), pixels or pca")
    parser.add_argument("--labels", default="100,600,1000,3000,all", help="label budgets "
                        "(default: 100,600,1000,3000,all)")
    parser.add_argument("--draws", type=int, default=5, help="draws per budget (seeds 0..; default 5)")
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best")
    parser.add_argument("--output", metavar="PATH", help="probe.json path (default: RUN_DIR/probe.json, "
                        "or probe-SOURCE.json here); the plot beside it")
    # --labels here is the probes' label budgets, not the semi-supervised draw of training
    data_flags = add_flags(parser, DataConfig, "data (default: the run's own data set; baselines: "
                           "digits)", exclude=("labels", "label_seed"))
    args = parser.parse_args(argv)
    if args.draws < 1:
        raise NeuralzooError(f"--draws must be positive, got {args.draws}")
    budgets = parse_budgets(args.labels)
    from ..data import load_dataset
    from ..evaluation import eval_data_config, load_eval_data
    from ..evaluation.probe import (BASELINES, C_GRID, KS, baseline_features, feature_source,
                                    model_features, probe, summarise)
    from ..plots import save_probe_curve
    from ..runs import load, run_dir_of

    overrides = {f: v for f, v in vars(args).items() if f in data_flags and v is not None}
    overrides["val_fraction"] = 0.0   # the whole training split is the label pool: none held out
    if args.source in BASELINES:
        from ..fields import build

        data = load_dataset(build(DataConfig, {"data": "digits", **overrides}, "data config"))
        describe = f"{args.source} (baseline)"
        out = Path(args.output or f"probe-{args.source}.json")
    else:
        model = load(args.source, args.checkpoint)
        data = load_eval_data(model, eval_data_config(model, overrides))
        describe = f"{model.name}: {feature_source(model)[1]}"
        out = Path(args.output) if args.output else run_dir_of(args.source) / "probe.json"
    train, test = data.split("train"), data.split("test")
    if train.y is None or test.y is None or not data.info.num_classes:
        raise NeuralzooError(f"data {data.info.name!r} has no class labels to probe with")
    if args.source in BASELINES:
        features = baseline_features(args.source, train.x, test.x)
    else:
        features = model_features(model, train.x).numpy(), model_features(model, test.x).numpy()
    results = probe(features[0], train.y.numpy(), features[1], test.y.numpy(), budgets, args.draws)
    rows = summarise(results)
    report = {"source": str(args.source), "features": describe, "feature_dim": int(features[0].shape[1]),
              "protocol": {"data": data.info.name, "train_samples": len(train.y), "test_samples": len(test.y),
                           "budgets": [b or "all" for b in budgets], "draws": args.draws,
                           "draw_seeds": list(range(args.draws)), "standardisation": "training split",
                           "linear": f"multinomial logistic regression, C in {list(C_GRID)} by CV on "
                                     "the labelled subset", "knn": f"cosine, majority of k in {list(KS)}",
                           "description": data.info.description},
              "results": rows}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    picture = save_probe_curve(rows, out.with_suffix(".png"), f"{describe} on {data.info.name}")
    def shown(block: dict | None) -> str:
        return "   n/a" if block is None else f"{block['mean']:6.2f}%"

    for row in rows:
        print(f"{row['labels']:>6} labels: linear {row['linear_error']['mean']:6.2f} +- "
              f"{row['linear_error']['std']:.2f}%  k-NN20 {shown(row['knn20_error'])}  "
              f"k-NN200 {shown(row['knn200_error'])}  test error ({row['draws']} draws)")
    print(f"wrote {out} and {picture}", file=sys.stdout)
    return 0
