"""``sample``, ``embed``, ``reconstruct``, ``interpolate`` and ``detect``: the jobs of latent models.

Each command needs a capability of the trained model (``sample``, ``encode``, ``reconstruct``,
``interpolate``, ``anomaly_scores``) and says so in one line when the model lacks it.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

from ..fields import add_flags
from ..data.config import DataConfig
from ..errors import NeuralzooError
from .base import IMAGE_SUFFIXES, add_run_flags, command, inference, output_paths


def _parser(prog: str, description: str, data: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"neuralzoo {prog}", description=description)
    add_run_flags(parser)
    parser.add_argument("--seed", type=int, default=0, help="seed of the random draws (default: 0)")
    parser.add_argument("--output", metavar="PATH", help="output file (default: in RUN_DIR)")
    if data:
        parser.add_argument("--split", choices=("train", "val", "test"), default="test")
        add_flags(parser, DataConfig, "data (default: the run's own data set)")
    return parser


def _load(args: argparse.Namespace, capability: str | tuple[str, ...], job: str):
    import torch

    from ..runs import load
    from ..training.context import resolve_device

    model = load(args.run, args.checkpoint, resolve_device(args.device), args.precision)
    wanted = (capability,) if isinstance(capability, str) else capability
    if not any(hasattr(model, c) for c in wanted):
        able = sorted({name for c in wanted for name in _models_with(c)})
        raise NeuralzooError(f"model {model.name!r} cannot {job}: it has no {' or '.join(wanted)!r} "
                             "capability; models that can: " + ", ".join(able))
    torch.manual_seed(args.seed)
    return model


def _models_with(capability: str) -> list[str]:
    from ..registry import MODELS, model_names

    return [name for name in model_names() if hasattr(MODELS[name], capability)]


def _data(model, args: argparse.Namespace):
    """The split to work on, from the run's own data set unless data flags name another."""
    from ..evaluation import eval_data_config, load_eval_data

    overrides = {f: v for f, v in vars(args).items() if f in DataConfig.__dataclass_fields__}
    data = load_eval_data(model, eval_data_config(model, overrides))
    return data, data.split(args.split)


def _outputs(args: argparse.Namespace, default: str, **kinds: tuple[str, ...]) -> dict[str, Path]:
    """The command's files: named after ``--output`` (any of their suffixes) or ``RUN_DIR/default``."""
    from ..runs import run_dir_of

    return output_paths(args.output, run_dir_of(args.run) / default, **kinds)


@command("sample", "draw new samples from a generative model -> image grid PNG + .npz")
@inference
def sample_command(argv: list[str]) -> int:
    import numpy as np

    from ..data.standardise import invert_standardise
    from ..images import save_image_grid

    parser = _parser("sample", "Draw samples from a trained generative model.", data=False)
    parser.add_argument("--n", type=int, default=64, help="number of samples (default: 64)")
    parser.add_argument("--label", type=int, default=None,
                        help="class-conditional models: the class (index) to draw (default: classes "
                             "drawn with the training labels' frequencies)")
    parser.add_argument("--temperature", type=float, default=1.0, metavar="T",
                        help="standard deviation of the latent draws (default: 1, the prior; below "
                             "1: more typical samples, above 1: more varied ones)")
    args = parser.parse_args(argv)
    if args.n < 1:
        raise NeuralzooError(f"--n must be a positive integer, got {args.n}")
    model = _load(args, "sample", "sample (no prior to draw from)")
    labels = {} if args.label is None else {"labels": args.label}
    with model.autocast():
        x = model.sample(args.n, temperature=args.temperature, **labels).float().cpu()
    x = invert_standardise(x, model.info.standardise)   # standardised inputs: in the data's units
    out = _outputs(args, "samples.png", picture=IMAGE_SUFFIXES, arrays=(".npz",))
    np.savez_compressed(out["arrays"], samples=x.numpy())
    if model.info.is_image:
        save_image_grid(x, out["picture"])
        print(f"wrote {out['picture']} and {out['arrays']}")
    else:
        print(f"wrote {out['arrays']} (samples are not images: no picture)")
    return 0


@command("embed", "codes of a data split -> .npz/.csv and a latent-map scatter PNG")
@inference
def embed_command(argv: list[str]) -> int:
    import numpy as np

    from ..plots import save_latent_map

    parser = _parser("embed", "Encode a data split; 2-D codes (or a PCA of larger ones) are plotted.")
    args = parser.parse_args(argv)
    model = _load(args, "encode", "encode")
    data, part = _data(model, args)
    codes = model.infer(lambda rows: model.encode(rows).float(), part.x).numpy()   # (N, latent)
    out = _outputs(args, "embedding.png", picture=IMAGE_SUFFIXES, arrays=(".npz",), table=(".csv",))
    labels = None if part.y is None else part.y.numpy()
    np.savez_compressed(out["arrays"], codes=codes, **({} if labels is None else {"labels": labels}))
    with out["table"].open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*([] if labels is None else ["label"]),
                         *[f"z{i}" for i in range(codes.shape[1])]])
        for i, row in enumerate(codes):
            writer.writerow([*([] if labels is None else [int(labels[i])]), *[f"{v:.6g}" for v in row]])
    how = save_latent_map(codes, labels, data.info.class_names, out["picture"],
                          f"{model.name} codes of {data.info.name} [{args.split}]")
    print(f"wrote {len(codes)} codes of size {codes.shape[1]} to {out['arrays']} and "
          f"{out['table']}; latent map ({how}) {out['picture']}")
    return 0


@command("reconstruct", "originals vs reconstructions PNG and the reconstruction error")
@inference
def reconstruct_command(argv: list[str]) -> int:
    from ..evaluation.reconstruction import reconstruction_errors, save_reconstructions

    parser = _parser("reconstruct", "Reconstruct a data split; prints and saves the error.")
    parser.add_argument("--n", type=int, default=16, help="images in the picture (default: 16)")
    args = parser.parse_args(argv)
    model = _load(args, "reconstruct", "reconstruct")
    data, part = _data(model, args)
    error = reconstruction_errors(model, part.x)
    out = _outputs(args, "reconstructions.png", picture=IMAGE_SUFFIXES, summary=(".json",))
    result = {"squared_error": float(error.mean()), "squared_error_std": float(error.std()),
              "units": "sum over features of (x - reconstruction)^2, mean over examples",
              "data": data.info.name, "split": args.split, "samples": len(part)}
    if model.info.is_image:
        save_reconstructions(model, part.x[:args.n], out["picture"])
    out["summary"].write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


@command("interpolate", "decode the straight line between two codes -> latent walk PNG")
@inference
def interpolate_command(argv: list[str]) -> int:
    import torch

    from ..images import save_image_grid

    parser = _parser("interpolate", "Walk the latent space between pairs of data samples.")
    parser.add_argument("--steps", type=int, default=10, help="images per walk (default: 10)")
    parser.add_argument("--pairs", type=int, default=8, help="walks, one per row (default: 8)")
    args = parser.parse_args(argv)
    if args.steps < 2 or args.pairs < 1:
        raise NeuralzooError("--steps must be at least 2 and --pairs at least 1")
    model = _load(args, ("interpolate", "latent_walk"), "interpolate")
    if not model.info.is_image:
        raise NeuralzooError(f"interpolate draws images; {model.info.name!r} samples are not images")
    picture = _outputs(args, "interpolation.png", picture=IMAGE_SUFFIXES)["picture"]
    if hasattr(model, "latent_walk"):   # GANs: walks between random noise vectors
        with model.autocast():
            walk = model.latent_walk(args.pairs, args.steps, torch.Generator().manual_seed(args.seed))
        out = save_image_grid(walk.float().cpu(), picture, nrow=args.steps)
        print(f"wrote {out}")
        return 0
    _, part = _data(model, args)
    pick = torch.randperm(len(part))[:2 * args.pairs]
    if len(pick) < 2:
        raise NeuralzooError(f"the {args.split!r} split has fewer than 2 samples")
    with model.autocast():
        rows = [model.interpolate(part.x[a], part.x[b], args.steps).float().cpu()
                for a, b in zip(pick[0::2], pick[1::2])]
    out = save_image_grid(torch.cat(rows), picture, nrow=args.steps)
    print(f"wrote {out}")
    return 0


@command("detect", "anomaly scores, flags and threshold (+ AUROC / AP / ROC with labels)")
@inference
def detect_command(argv: list[str]) -> int:
    from ..evaluation.anomaly import detect

    parser = _parser("detect", "Score a data split for anomalies (higher = more anomalous).")
    parser.add_argument("--score", choices=("auto", "reconstruction", "elbo", "nll"), default="auto",
                        help="autoencoder: reconstruction error; vae: -ELBO or importance-sampled "
                             "-log p(x) (auto: reconstruction / elbo)")
    parser.add_argument("--iw-samples", type=int, default=100, metavar="K",
                        help="samples per example for elbo / nll scores (default: 100)")
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--contamination", type=float, default=None,
                     help="expected fraction of anomalies: the threshold is the (1 - c) quantile of "
                          "the scores of the run's training data (default: 0.05)")
    how.add_argument("--threshold", type=float, default=None, help="flag scores above this value")
    parser.add_argument("--normal-classes", metavar="A,B", default=None,
                        help="classes that count as normal when labels are given (default: the "
                             "run's --train-classes); the others are anomalies for AUROC / AP")
    args = parser.parse_args(argv)
    model = _load(args, "anomaly_scores", "score anomalies")
    data, part = _data(model, args)
    normal = None if args.normal_classes is None else tuple(
        c.strip() for c in args.normal_classes.split(",") if c.strip())
    scores = _outputs(args, "anomaly_scores.csv", scores=(".csv",))["scores"]
    result: dict[str, Any] = detect(model, data, part, scores, method=args.score, samples=args.iw_samples,
                                    contamination=args.contamination, threshold=args.threshold,
                                    normal_classes=normal, split=args.split)
    print(json.dumps({k: v for k, v in result.items() if k != "files"}, indent=2))
    print("wrote " + ", ".join(result["files"]))
    return 0
