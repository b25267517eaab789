"""Reproduce the feature networks shipped in ``src/neuralzoo/weights/`` (used by ``neuralzoo.evaluation.quality``
for Fréchet distance, precision/recall and class histograms of generated images).

Each is neuralzoo's classic CNN (Conv32-Pool-Conv64-Pool-Conv64-Dense64-Dense10) trained with the
package's own loop, seed 0, all training images (no validation split), then stored weights-only (no
optimizer or RNG state) as a neuralzoo safetensors checkpoint:
  mnist_cnn.safetensors   MNIST official 60,000 training images, 3 epochs, batch 128, Adam 3e-3
                          one-cycle, label smoothing 0.1 (test accuracy printed, ~99.1%)
  digits_cnn.safetensors  scikit-learn digits, the fixed 1,437-image training split, 40 epochs,
                          batch 32, Adam 2e-3 one-cycle, batch norm

    python tools/train_feature_networks.py [--data-dir ../shared/data/mnist]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import neuralzoo
from neuralzoo.evaluation import evaluate_run
from neuralzoo.training.checkpoint import save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "src" / "neuralzoo" / "weights"
RECIPES = {
    "mnist_cnn": {"data": "mnist", "epochs": 3, "batch_size": 128, "lr": 3e-3,
                  "schedule": "one-cycle", "label_smoothing": 0.1},
    # batch norm is left out: features must not depend on the batch they are computed in
    "digits_cnn": {"data": "digits", "epochs": 40, "batch_size": 32, "lr": 2e-3,
                   "schedule": "one-cycle", "padding": "same"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data" / "mnist"))
    parser.add_argument("--only", choices=sorted(RECIPES), default=None)
    args = parser.parse_args()
    WEIGHTS.mkdir(parents=True, exist_ok=True)
    for name, recipe in RECIPES.items():
        if args.only and name != args.only:
            continue
        run = Path(tempfile.mkdtemp(prefix=f"{name}_"))
        neuralzoo.train("cnn", out=run, val_fraction=0.0, seed=0, progress=False,
                        data_dir=args.data_dir, **recipe)
        accuracy = evaluate_run(run, "test", "last", "cpu")["accuracy"]
        model = neuralzoo.load(run, "last")
        save_checkpoint(WEIGHTS / f"{name}.safetensors", model, [], model.run_config,
                        {"test_accuracy": accuracy, "recipe": recipe})
        size = (WEIGHTS / f"{name}.safetensors").stat().st_size
        print(f"{name}: test accuracy {accuracy:.4f}; {size / 1024:.0f} KiB -> {WEIGHTS / name}.safetensors")


if __name__ == "__main__":
    main()
