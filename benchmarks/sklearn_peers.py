"""neuralzoo's scikit-learn estimators beside what scikit-learn and PyOD users reach for, in one run.

Classification (``--parts classify``): on scikit-learn's digits (the fixed stratified 80/20 split
every neuralzoo benchmark uses: ``train_test_split(test_size=0.2, stratify=y, random_state=0)``) and
on MNIST (the official 60,000 / 10,000 split), pixels / 16 or / 255:
``NeuralZooClassifier("mlp")`` and ``("cnn")`` with their defaults (10 epochs, Adam 1e-3, batch 128)
and, on digits, with each model's demo recipe for digits (its card's ``demo``); scikit-learn's
``MLPClassifier()`` with its documented defaults (one hidden layer of 100, Adam 1e-3, batch 200, up to
200 epochs with its tolerance stop). Test accuracy, fit seconds (wall), random_state 0.

One class (``--parts oneclass``), the protocol of Ruff et al. 2018 on pixels / 255 (no contrast
normalisation, so every detector sees the same input): for each digit, fit on the official training
images of that digit, score all 10,000 test images (the digit normal, the others anomalous), AUROC.
Detectors: ``NeuralZooOutlierDetector`` with the autoencoder and the VAE (the recipe of
benchmarks/oneclass_mnist.py: codes of 16, widths 512-256, 40 epochs, Adam 2e-3 one-cycle, batch 128;
the VAE scored by -ELBO); PyOD's ``AutoEncoder``, ``VAE`` and ``DeepSVDD`` and scikit-learn's
``IsolationForest`` and ``OneClassSVM`` with their documented defaults (PyOD standardises features by
default; DeepSVDD needs ``n_features``; IsolationForest random_state 0). Scores: higher = more
anomalous (PyOD's ``decision_function``, scikit-learn's ``-score_samples``). Fit seconds beside each.
Equal-time row: the neuralzoo autoencoder with as many epochs as fit in the fit time of the fastest PyOD
deep detector on that digit (its 40-epoch fit's seconds per epoch), so quality is compared at equal
cost too.

A small image set (``--oneclass-data digits``), where defaults sized for 6,000 MNIST images used to lose to
the peers: scikit-learn's 8x8 digits, pixels / 16; for each digit, fit on 60% of its images (a stratified
``train_test_split(test_size=0.4, random_state=0)`` of the whole set: 104-110 images) and score every
other image of the set (the held-out 40% of that digit normal, all images of the other digits
anomalous: about 1,690). Every detector with its defaults (neuralzoo: the automatic budget, no recipe).

    pip install -e ".[bench]"     # PyOD; a missing peer is skipped with a line saying so
    python benchmarks/sklearn_peers.py [--parts classify,oneclass] [--digits 0,...,9] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import environment, max_rss_mib, write_json  # noqa: E402
from neuralzoo.data import DataConfig, load_dataset  # noqa: E402
from neuralzoo.registry import get_model_class  # noqa: E402
from neuralzoo.sklearn import NeuralZooClassifier, NeuralZooOutlierDetector  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT.parent / "shared" / "data" / "mnist"
RESULTS = ROOT / "benchmarks" / "results" / "sklearn_peers.json"
RECIPE = {"epochs": 40, "lr": 2e-3, "schedule": "one-cycle", "batch_size": 128, "random_state": 0,
          "model_params": {"latent_dim": 16, "hidden_sizes": (512, 256)}}


def timed(fit, *args):
    start = time.perf_counter()
    out = fit(*args)
    return out, round(time.perf_counter() - start, 2)


def arrays(name: str, data_dir: Path):
    data = load_dataset(DataConfig(data=name, data_dir=str(data_dir), val_fraction=0))
    flat = [part.x.flatten(1).numpy() for part in (data.train, data.test)]
    return flat[0], data.train.y.numpy(), flat[1], data.test.y.numpy(), data.info.description


def classify(data_dir: Path) -> list[dict]:
    from sklearn.neural_network import MLPClassifier

    rows = []
    for data in ("digits", "mnist"):
        x_train, y_train, x_test, y_test, description = arrays(data, data_dir)
        side = int(math.isqrt(x_train.shape[1]))
        candidates = {f"NeuralZooClassifier('{m}') defaults": NeuralZooClassifier(m, random_state=0)
                      for m in ("mlp", "cnn")}
        if data == "digits":   # the models' own digits recipes (neuralzoo demo)
            for m in ("mlp", "cnn"):
                demo = dict(get_model_class(m).card.demo)
                train = {k: demo.pop(k) for k in list(demo) if k in NeuralZooClassifier().get_params()}
                candidates[f"NeuralZooClassifier('{m}') demo recipe"] = NeuralZooClassifier(
                    m, random_state=0, model_params=demo, **train)
        candidates["sklearn MLPClassifier() defaults"] = MLPClassifier(random_state=0)
        for name, estimator in candidates.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")   # MLPClassifier's ConvergenceWarning on digits
                _, seconds = timed(estimator.fit, x_train, y_train)
            accuracy = float(np.mean(estimator.predict(x_test) == y_test))
            rows.append({"data": data, "estimator": name, "test_accuracy": round(100 * accuracy, 2),
                         "fit_seconds": seconds, "train_samples": len(x_train), "test_samples": len(x_test),
                         "image_side": side, "protocol": description})
            print(rows[-1] | {"protocol": "..."}, flush=True)
    return rows


def peers(n_features: int) -> dict:
    """The peers that are installed: name -> (factory, scores(fitted, x) higher = more anomalous, deep)."""
    from sklearn.ensemble import IsolationForest
    from sklearn.svm import OneClassSVM

    found = {"sklearn IsolationForest": (lambda: IsolationForest(random_state=0),
                                         lambda m, x: -m.score_samples(x), False),
             "sklearn OneClassSVM": (lambda: OneClassSVM(), lambda m, x: -m.score_samples(x), False)}
    try:
        from pyod.models.auto_encoder import AutoEncoder
        from pyod.models.deep_svdd import DeepSVDD
        from pyod.models.vae import VAE
    except ImportError:
        print("PyOD is not installed: its detectors are skipped (pip install -e '.[bench]')", flush=True)
        return found
    decision = lambda m, x: m.decision_function(x)   # noqa: E731
    found.update({"PyOD AutoEncoder": (lambda: AutoEncoder(verbose=0), decision, True),
                  "PyOD VAE": (lambda: VAE(verbose=0), decision, True),
                  "PyOD DeepSVDD": (lambda: DeepSVDD(n_features=n_features, verbose=0), decision, True)})
    return found


def digits_oneclass_parts(digit: int):
    """The small-image protocol: 60% of one digit's images to fit, every other image to score."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    fit_part, _ = train_test_split(np.arange(len(y)), test_size=0.4, stratify=y, random_state=0)
    fitted = np.zeros(len(y), bool)
    fitted[fit_part[y[fit_part] == digit]] = True
    return x[fitted], x[~fitted], y[~fitted] != digit


def oneclass(data_dir: Path, digits: list[int], data: str = "mnist") -> list[dict]:
    from sklearn.metrics import roc_auc_score

    if data == "mnist":
        x_train, y_train, x_test, y_test, description = arrays("mnist", data_dir)
    else:
        description = ("digits 8x8 / 16: 60% of the normal digit's images fitted (stratified split of "
                       "the 1,797, random_state 0), every other image scored")
    recipe = RECIPE if data == "mnist" else {"random_state": 0}
    rows = []
    for digit in digits:
        if data == "mnist":
            normal, anomalous = x_train[y_train == digit], y_test != digit
        else:
            normal, x_test, anomalous = digits_oneclass_parts(digit)
        row = {"digit": digit, "train_images": len(normal), "scored_images": len(x_test)}
        fast_deep = math.inf
        for name, (make, scores, deep) in peers(normal.shape[1]).items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")   # e.g. PyOD's notes on small data
                model, seconds = timed(make().fit, normal)
            row[name] = {"auroc": round(100 * roc_auc_score(anomalous, scores(model, x_test)), 2),
                         "fit_seconds": seconds}
            fast_deep = min(fast_deep, seconds) if deep else fast_deep
        for model_name in ("autoencoder", "vae"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")   # BaselineWarning etc.: the AUROC is the judge here
                detector, seconds = timed(NeuralZooOutlierDetector(model_name, **recipe).fit, normal)
            row[f"neuralzoo {model_name}"] = {
                "auroc": round(100 * roc_auc_score(anomalous, -detector.score_samples(x_test)), 2),
                "fit_seconds": seconds}
            if model_name == "autoencoder" and math.isfinite(fast_deep) and data == "mnist":
                epochs = max(1, int(fast_deep / (seconds / RECIPE["epochs"])))
                quick, quick_seconds = timed(NeuralZooOutlierDetector(
                    model_name, **{**RECIPE, "epochs": epochs}).fit, normal)
                row["neuralzoo autoencoder at the fastest PyOD deep detector's time"] = {
                    "auroc": round(100 * roc_auc_score(anomalous, -quick.score_samples(x_test)), 2),
                    "fit_seconds": quick_seconds, "epochs": epochs, "time_to_match": fast_deep}
        rows.append(row)
        print(row, flush=True)
    return rows, description


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default="classify,oneclass")
    parser.add_argument("--digits", default="0,1,2,3,4,5,6,7,8,9")
    parser.add_argument("--oneclass-data", choices=("mnist", "digits"), default="mnist")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    parts = args.parts.split(",")
    result = {"benchmark": "sklearn_peers", "command": "python benchmarks/sklearn_peers.py "
              + " ".join(sys.argv[1:]), "protocol": __doc__, "environment": environment()}
    if "classify" in parts:
        result["classification"] = classify(args.data_dir)
    if "oneclass" in parts:
        rows, description = oneclass(args.data_dir, [int(d) for d in args.digits.split(",")],
                                     args.oneclass_data)
        detectors = [k for k in rows[0] if isinstance(rows[0][k], dict)]
        result["oneclass"] = {"data": description, "rows": rows, "mean_auroc": {
            k: round(statistics.mean(r[k]["auroc"] for r in rows if k in r), 2) for k in detectors},
            "mean_fit_seconds": {k: round(statistics.mean(r[k]["fit_seconds"] for r in rows if k in r), 1)
                                 for k in detectors}}
        for name in sorted(detectors, key=lambda k: -result["oneclass"]["mean_auroc"][k]):
            print(f"{name:70s} mean AUROC {result['oneclass']['mean_auroc'][name]:6.2f}  "
                  f"fit {result['oneclass']['mean_fit_seconds'][name]:7.1f} s", flush=True)
    result["peak_rss_mib"] = max_rss_mib()
    write_json(args.output, result)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
