"""Re-scores the class-conditional generators of a gan_mnist.py run: how much Fréchet distance,
precision and recall move with the sample draw alone (several sampling seeds, same networks), and
with labels drawn uniformly or from the training labels' frequencies (what ``sample`` does without
labels since 2026-11-23: the generated mixture sum_y p(y) p(x | y) matches the data's only with the
data's p(y); MNIST's 1s are 11.2% of the training images, its 5s 9.0%).

Protocol: the run folders of ``benchmarks/gan_mnist.py --runs-dir DIR`` (last checkpoint); per
sampling seed and label mode 10,000 samples (labels drawn in chunks of 1,000) against the 10,000
MNIST test images in the shipped feature network's space, as in gan_mnist.py.

    python benchmarks/gan_mnist.py --runs-dir DIR        # trains the runs
    python benchmarks/gan_rescore.py DIR [--models gan,dcgan] [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

import neuralzoo  # noqa: E402
from common import environment, write_json  # noqa: E402
from neuralzoo.data import DataConfig, load_dataset  # noqa: E402
from neuralzoo.evaluation.quality import feature_network, quality_report  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT.parent / "shared" / "data" / "mnist"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, help="the --runs-dir of a gan_mnist.py run")
    parser.add_argument("--models", default="gan,dcgan")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--samples", type=int, default=10000)
    parser.add_argument("--seeds", type=lambda s: [int(v) for v in s.split(",")], default=[0, 1, 2])
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "gan_rescore.json")
    args = parser.parse_args()
    data = load_dataset(DataConfig(data="mnist", data_dir=str(args.data_dir), val_fraction=0))
    prior = torch.bincount(data.train.y, minlength=10).double() / len(data.train.y)   # (K,)
    net = feature_network(tuple(data.info.input_shape))
    rows = {}
    for name in args.models.split(","):
        model = neuralzoo.load(args.runs / name, "last")
        if not model.config.conditional:
            raise SystemExit(f"{args.runs / name}: not a class-conditional run")
        rows[name] = {}
        for mode, weights in (("uniform", torch.full((10,), 0.1)), ("training_frequencies", prior)):
            per_seed = []
            for seed in args.seeds:
                torch.manual_seed(seed)
                with torch.no_grad():
                    samples = torch.cat([model.sample(m, torch.multinomial(weights, m, replacement=True)).cpu()
                                         for m in [1000] * (args.samples // 1000)])
                quality = quality_report(samples, data.test.x[:args.samples], net)
                per_seed.append({"seed": seed, "frechet_distance": round(quality["frechet_distance"], 3),
                                 "precision": round(quality["precision"], 4),
                                 "recall": round(quality["recall"], 4)})
                print(name, mode, per_seed[-1], flush=True)
            rows[name][mode] = {"per_seed": per_seed, **{
                key: {"mean": round(statistics.mean(r[key] for r in per_seed), 4),
                      "std": round(statistics.stdev(r[key] for r in per_seed), 4) if len(per_seed) > 1 else 0.0}
                for key in ("frechet_distance", "precision", "recall")}}
    write_json(args.output, {"benchmark": "gan_rescore", "command": "python benchmarks/gan_rescore.py "
                             + " ".join(sys.argv[1:]), "runs": str(args.runs),
                             "protocol": {"samples": args.samples, "sampling_seeds": args.seeds,
                                          "real": "MNIST test images",
                                          "feature_network": quality["feature_network"],
                                          "training_label_frequencies": [round(v, 4) for v in prior.tolist()]},
                             "models": rows, "environment": environment()})
    print(json.dumps({name: {mode: {k: v for k, v in r.items() if k != "per_seed"} for mode, r in modes.items()}
                      for name, modes in rows.items()}, indent=1))


if __name__ == "__main__":
    main()
