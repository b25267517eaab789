"""Chooses each generator's sampling temperature on validation images, never on the test images.

z ~ N(0, t^2 I) with t the temperature (Kingma & Dhariwal 2018's name; BigGAN's truncation trick,
Brock et al. 2019, is the t < 1 side of the same trade-off): t < 1 draws more typical samples
(precision up, recall down), t > 1 more varied ones. For each run given (the ``--validation`` runs
of ``benchmarks/gan_mnist.py``: trained on 50,000 MNIST training images), the last checkpoint is
scored at every temperature of the grid with the protocol of ``neuralzoo evaluate`` (10,000 samples,
labels drawn by the training frequencies, sampling seed = the training seed, against the held-out
10,000 training images in the shipped MNIST feature network's space), and the temperature with the
lowest Fréchet distance is reported. (``gan_mnist.py`` no longer takes its temperatures from here:
since 2026-12-01 each of its runs chooses its own by the same lowest-distance rule, scored
against 10,000 of its training images.)

    python benchmarks/gan_mnist.py --validation --models gan --runs-dir DIR
    python benchmarks/gan_temperature.py --run gan=DIR/gan [--run dcgan=OTHER/dcgan] [--grid 0.9,1,1.1]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import neuralzoo  # noqa: E402
from common import environment, write_json  # noqa: E402
from neuralzoo.data import DataConfig, load_dataset  # noqa: E402
from gan_mnist import DATA_DIR, VALIDATION_FRACTION, by_temperature, scores  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "gan_temperature.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="append", required=True, metavar="LABEL=RUN_DIR",
                        help="a validation run of gan_mnist.py (repeatable)")
    parser.add_argument("--grid", default="0.9,0.95,1.0,1.05,1.1,1.15,1.2")
    parser.add_argument("--samples", type=int, default=10000)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    grid = [float(v) for v in args.grid.split(",")]
    data = load_dataset(DataConfig(data="mnist", data_dir=str(args.data_dir), val_fraction=VALIDATION_FRACTION))
    record = json.loads(args.output.read_text()) if args.output.exists() else {"runs": {}}
    record.update({"benchmark": "gan_temperature", "protocol": {
        "real": "the held-out 10,000 of the MNIST training images (split_seed 0; the runs trained on the "
                "other 50,000)", "samples": args.samples, "grid": grid,
        "choice": "lowest Fréchet distance", "labels": "drawn by the training labels' frequencies"},
        "environment": environment()})
    for item in args.run:
        label, _, path = item.partition("=")
        model = neuralzoo.load(path, "last")
        run = model.run_config
        if run.data.val_fraction != VALIDATION_FRACTION:
            raise SystemExit(f"{path}: not a --validation run (val_fraction {run.data.val_fraction})")
        rows = {t: scores(q) for t, q in
                by_temperature(model, data.val, grid, args.samples, run.train.seed).items()}
        best = min(rows, key=lambda t: rows[t]["frechet_distance"])
        record["runs"][label] = {"run": path, "model": run.model,
                                 "command": "python benchmarks/gan_temperature.py " + " ".join(sys.argv[1:]),
                                 "epochs": run.train.epochs,
                                 "model_config": run.to_dict()["model_config"],
                                 "by_temperature": rows, "lowest_fd_temperature": float(best)}
        print(f"{label}: lowest Fréchet distance at temperature {best}: {rows[best]}", flush=True)
        write_json(args.output, record)


if __name__ == "__main__":
    main()
