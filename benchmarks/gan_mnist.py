"""GAN sample quality on MNIST: the MLP GAN, the DCGAN and (for comparison) the VAE, each trained for
the same wall-clock budget on 2 CPU cores, measured the same way.

Protocol (also in the JSON): MNIST IDX files, official split, all 60,000 training images (pixels / 255,
no validation split); each model gets ``--minutes`` of training: the loop stops its steps when their
time reaches the budget (``max_minutes``; validation, sample grids and checkpoints are not counted).
A short calibration run (150 steps, the pace of the last 50; reported, not counted) sets the epochs:
as many as fit for a decaying learning rate (the VAE's cosine), so its schedule completes unless the
machine slows down, and 1.5x that for the GANs' constant one, so the clock decides (this machine's
pace drifts by up to 1.4x, and an epoch count alone once ran 35% over the budget). Recipes:
``RECIPES`` below (both GANs class-conditional with the hinge loss and spectral norm; the
DCGAN's generator with class-conditional batch norm). Quality:
10,000 generated samples (EMA generator for the GANs, decoder means for the VAE; z ~ N(0, t^2 I) with
each run's sampling temperature t chosen after its training from ``--temperature-grid`` as the lowest
Fréchet distance against 10,000 of the images it trained on (never the reference images), and every
row again at t = 1) against the 10,000 test images, in the 64-d feature space of
the MNIST feature network shipped with neuralzoo (see ``neuralzoo.evaluation.quality``): Fréchet distance,
k-NN precision and recall (k = 3, Kynkäänniemi et al. 2019), and the entropy of the feature network's
class histogram of the samples (max ln 10 = 2.303 nats). Compared with the other models of the same run
and with 10,000 real training images (the best any generator can score); the JSON also records
the ratio of the DCGAN's Fréchet distance to the best other model's.

    python benchmarks/gan_mnist.py [--minutes 20] [--models gan,dcgan,vae]
    python benchmarks/gan_mnist.py --minutes 4 --models dcgan --set dcgan.conditional=false
    python benchmarks/gan_mnist.py --models gan,dcgan --carry vae   # the VAE row from the last run
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

import neuralzoo  # noqa: E402
from common import environment, max_rss_mib, read_json, write_json  # noqa: E402
from neuralzoo.data import ArrayData, DataConfig, load_dataset  # noqa: E402
from neuralzoo.evaluation.quality import sample_quality  # noqa: E402
from neuralzoo.models.base import check_temperature  # noqa: E402
from neuralzoo.training.logger import read_metrics  # noqa: E402
from neuralzoo.evaluation.quality import feature_network, quality_report  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT.parent / "shared" / "data" / "mnist"
RESULTS = ROOT / "benchmarks" / "results" / "gan_mnist.json"
VALIDATION_RESULTS = ROOT / "benchmarks" / "results" / "gan_mnist_validation.json"
VALIDATION_FRACTION = 1 / 6   # 10,000 of the 60,000 training images
# Both GANs: the DCGAN optimiser recipe (Adam 2e-4, beta1 0.5, batch 128, constant LR), class-conditional
# (labels into both networks; unlabelled samples draw classes by the training frequencies), hinge loss
# and spectral norm on the discriminator (Miyato et al. 2018). Chosen over the non-saturating
# unconditional default because that default drops modes at this budget (results/exploratory/
# gan_mnist_dcgan*.json record each variant's run). The DCGAN's generator also takes the label in its
# batch norms (a scale and shift per class, de Vries et al. 2017), chosen on validation (results/
# exploratory/gan_mnist_validation_dcgan_cbn.json) over the one-hot input alone; the MLP GAN has no
# batch norm. The VAE is unconditional.
GAN_RECIPE = {"batch_size": 128, "schedule": "constant", "conditional": True, "loss": "hinge",
              "spectral_norm": True}
# Sampling temperatures tried per run, z ~ N(0, t^2 I) (the temperature of Kingma & Dhariwal 2018; t < 1
# is BigGAN's truncation side of the precision-recall trade-off). Chosen per run on its own training
# images, because a fixed choice did not travel: the bf16 machine's validation runs chose 1.2 (MLP GAN)
# and 1.05 (DCGAN), and both were worse than t = 1 on the AVX2 machine's shorter runs (GANS.md).
TEMPERATURE_GRID = "0.9,1,1.05,1.1,1.15,1.2"
RECIPES = {
    "gan": dict(GAN_RECIPE),
    "dcgan": {**GAN_RECIPE, "conditional_batch_norm": True},
    "vae": {"batch_size": 128, "lr": 1e-3, "schedule": "cosine", "architecture": "conv",
            "latent_dim": 32, "val_fraction": 0.0},
}


def events(run_dir: Path, kind: str) -> list[dict]:
    return [e for e in read_metrics(run_dir) if e["event"] == kind]


def seconds_per_epoch(run_dir: Path) -> float:
    """The calibration run's pace between its last two logged steps (the first ones warm up), in
    the loop's own epoch units, so it holds whatever the training part's size (60,000 images, or
    50,000 with --validation)."""
    before, last = events(run_dir, "train")[-2:]
    return (last["train_seconds"] - before["train_seconds"]) / (last["epoch"] - before["epoch"])


def scores(quality: dict) -> dict:
    """The figures a row keeps of a quality report, rounded alike everywhere in the JSON."""
    return {"frechet_distance": round(quality["frechet_distance"], 3), "precision": round(quality["precision"], 4),
            "recall": round(quality["recall"], 4), "class_entropy_nats": quality.get("class_entropy_nats")}


def by_temperature(model, part: ArrayData, grid: list[float], samples: int, seed: int) -> dict[str, dict]:
    """``model``'s quality report against ``part`` at each temperature of ``grid`` (``samples`` draws,
    sampling seed ``seed``: ``neuralzoo evaluate``'s protocol), keyed by str(t)."""
    reports = {}
    with tempfile.TemporaryDirectory() as tmp:
        for t in grid:
            reports[str(t)] = sample_quality(model, part, Path(tmp), samples, seed, temperature=t)["quality"]
            print(json.dumps({"temperature": t, **scores(reports[str(t)])}), flush=True)
    return reports


def temperature_grid(text: str) -> list[float]:
    """``--temperature-grid``: comma-separated positive numbers, checked before any training."""
    try:
        return [check_temperature(float(t)) for t in text.split(",")]
    except ValueError as error:   # float()'s, or check_temperature's NeuralzooError
        raise argparse.ArgumentTypeError(str(error)) from None


def real_reference(fit: ArrayData, reference: ArrayData, args: argparse.Namespace) -> dict:
    """The same metrics for real images: ``fit`` (``--samples`` training images, a seeded random subset)
    against the reference images (test, or the held-out validation part). This is the best any
    generator can score under this protocol (precision and recall stay below 1 because k-NN balls of a
    finite sample miss part of the true manifold)."""
    quality = quality_report(fit.x, reference.x, feature_network(tuple(fit.x.shape[1:])))
    return {**scores(quality), "images": f"{args.samples} MNIST training images (random, seed {args.seed})"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--minutes", type=float, default=20.0, help="training budget per model")
    parser.add_argument("--models", default="gan,dcgan,vae")
    parser.add_argument("--samples", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs-dir", type=Path, default=None)
    parser.add_argument("--set", action="append", default=[], metavar="MODEL.FIELD=VALUE",
                        help="change a recipe, e.g. dcgan.conditional=true (value read as JSON, else "
                             "as a string); repeatable")
    parser.add_argument("--validation", action="store_true",
                        help="for choosing recipes: train on 50,000 training images and score against the "
                             "other 10,000 (the test images are never used)")
    parser.add_argument("--carry", default="", metavar="MODELS",
                        help="copy these models' rows from the existing output file instead of "
                             "training them (recipes unchanged since that run); marked in the JSON")
    parser.add_argument("--temperature-grid", type=temperature_grid,
                        default=TEMPERATURE_GRID, help="sampling temperatures each run chooses from "
                        "on its training images (1: the prior only)")
    parser.add_argument("--output", type=Path, default=None,
                        help=f"default: {RESULTS.name}, or {VALIDATION_RESULTS.name} with --validation")
    args = parser.parse_args()
    args.output = args.output or (VALIDATION_RESULTS if args.validation else RESULTS)
    split = "val" if args.validation else "test"
    for item in args.set:
        key, _, value = item.partition("=")
        name, _, field = key.partition(".")
        if name not in RECIPES or not field or not value:
            parser.error(f"--set {item!r}: expected MODEL.FIELD=VALUE with MODEL one of {', '.join(RECIPES)}")
        try:
            RECIPES[name][field] = json.loads(value)
        except json.JSONDecodeError:
            RECIPES[name][field] = value
    runs = args.runs_dir or Path(tempfile.mkdtemp(prefix="gan_mnist_"))
    data = load_dataset(DataConfig(data="mnist", data_dir=str(args.data_dir),
                                   val_fraction=VALIDATION_FRACTION if args.validation else 0))
    pick = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(args.seed))
    fit = data.train.subset(pick[:args.samples])   # the real row, and where each run chooses its t
    rows = {"real_reference": real_reference(fit, data.split(split), args)}
    print(json.dumps({"real_reference": rows["real_reference"]}), flush=True)
    previous = read_json(args.output)
    for name in filter(None, args.carry.split(",")):
        if name not in previous.get("models", {}):
            parser.error(f"--carry {name}: no {name!r} row in {args.output}")
        rows[name] = {**previous["models"][name], "carried_from": previous.get("command", "?")}
    for name in args.models.split(","):
        common = {"data": "mnist", "data_dir": str(args.data_dir), "seed": args.seed,
                  "progress": False, **RECIPES[name]}
        if args.validation:
            common["val_fraction"] = VALIDATION_FRACTION
        # calibration: 150 steps; the pace of the last 50 (warm caches) sets the epochs
        calibration = neuralzoo.train(name, out=runs / f"{name}-calibration", epochs=1,
                                      max_steps=150, log_every=50, **common)
        per_epoch = seconds_per_epoch(runs / f"{name}-calibration")
        epochs = max(1, math.floor(args.minutes * 60 / per_epoch))
        if calibration["config"]["schedule"] == "constant":   # nothing to complete: the clock stops it
            epochs = math.ceil(1.5 * epochs)
        summary = neuralzoo.train(name, out=runs / name, epochs=epochs, max_minutes=args.minutes, **common)
        # t: the lowest Fréchet distance against training images (never the reference images)
        model = neuralzoo.load(runs / name, "last")
        on_fit = {t: q["frechet_distance"] for t, q in
                  by_temperature(model, fit, args.temperature_grid, args.samples, args.seed).items()}
        temperature = float(min(on_fit, key=on_fit.get))
        on_reference = by_temperature(model, data.split(split), sorted({1.0, temperature}), args.samples,
                                      args.seed)
        quality, at_prior = on_reference[str(temperature)], on_reference["1.0"]
        # a run the clock stopped ends inside an epoch: its last validation event has the fraction
        epochs_done = round(events(runs / name, "val")[-1]["epoch"], 2)
        rows[name] = {"epochs": epochs_done, "steps": summary["steps"], "stopped_by": summary["reason"],
                      "train_seconds": round(summary["train_seconds"], 1),
                      "calibration_seconds_per_epoch": round(per_epoch, 2),
                      "calibration_train_seconds": round(calibration["train_seconds"], 1),
                      "parameters": summary["parameters"],
                      **scores(quality), "class_histogram": quality["class_histogram"],
                      "temperature": temperature,
                      "fd_on_training_images_by_temperature": {t: round(d, 3) for t, d in on_fit.items()},
                      "at_temperature_1": scores(at_prior),
                      "settings": common}
        print(json.dumps({name: rows[name]}), flush=True)
    result = {"benchmark": "gan_mnist", "command": "python benchmarks/gan_mnist.py " + " ".join(sys.argv[1:]),
              "protocol": {"budget_minutes_per_model": args.minutes, "samples": args.samples,
                           "real": ("the held-out 10,000 of the MNIST training images (the models train "
                                    "on the other 50,000)" if args.validation else "MNIST test images (10,000)"),
                           "feature_network": quality["feature_network"], "seed": args.seed,
                           "temperature": (f"per run, the lowest Fréchet distance of {args.temperature_grid} "
                                           f"against {args.samples} of its training images (seed {args.seed})")},
              "models": rows, "environment": environment(), "peak_rss_mib": max_rss_mib()}
    if "dcgan" in rows and len(rows) > 1:   # the DCGAN's Fréchet distance against the best other model's
        others = {m: rows[m]["frechet_distance"] for m in rows if m != "dcgan"}
        best = min(others, key=others.get)
        result["dcgan_frechet_distance_vs_best_other"] = {
            "other": best, "ratio": round(rows["dcgan"]["frechet_distance"] / others[best], 3)}
    write_json(args.output, result)
    print(json.dumps({k: v for k, v in result.items() if k != "environment"}, indent=2))


if __name__ == "__main__":
    main()
