"""Inference backends side by side on MNIST: PyTorch eager float32, PyTorch bf16 autocast (where the
CPU computes bf16 natively), ONNX Runtime float32 and ONNX Runtime int8, in one run.

Models, each trained first through ``neuralzoo.train`` on the official 60,000 training images (a
stratified 5% validation split for the best checkpoint, split_seed 0; seed 0) with the recipe in
``MODELS`` (stated in the JSON), then scored on the 10,000 test images:
the classic CNN and the strong CNN (``--preset strong``, fewer epochs than its 25-epoch recipe), the
MLP, the row-by-row LSTM (``mnist-rows``: 28 steps of 28 pixels), and the VAE's decoder (codes are
the posterior means of the test images from the float32 encoder; the figure is the Bernoulli
reconstruction cross-entropy of the test images, nats per image, lower is better).

Per model and backend:
- latency per sample at batch 1: median over ``--calls`` calls on one test sample, after 20 warm-up
  calls (PyTorch: ``model(x)`` / ``model.decode(z)`` under ``torch.inference_mode`` with the model as
  ``neuralzoo.load`` returns it, channels-last for images; ONNX Runtime: ``session.run``);
- throughput at batch 256: test samples per second over the whole test set in batches of 256, the
  median of ``--repeats`` passes (the last pass's outputs give the accuracy or error);
- size: the ONNX file for ONNX Runtime (weights inside); the parameters and buffers (float32 bytes)
  for PyTorch, bf16 autocast keeps float32 weights;
- test accuracy (classifiers) or reconstruction cross-entropy (decoder).
ONNX Runtime uses as many intra-op threads as torch (``torch.get_num_threads()``). int8 is
``neuralzoo export --quantize int8``: static QDQ per channel calibrated on 512 training samples for
convolutional models, dynamic int8 for the MLP, the LSTM and the VAE decoder.

    pip install -e ".[onnx]"
    python benchmarks/inference.py [--models classic_cnn,strong_cnn,mlp,row_lstm,vae_decoder]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

import neuralzoo  # noqa: E402
from common import environment, load_average, write_json  # noqa: E402
from neuralzoo.evaluation import eval_data_config, load_eval_data  # noqa: E402
from neuralzoo.models.base import native_bf16  # noqa: E402
from neuralzoo.export import export_model, quantize_int8  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT.parent / "shared" / "data" / "mnist"
RESULTS = ROOT / "benchmarks" / "results" / "inference.json"
MODELS: dict[str, tuple[str, str | None, dict[str, Any]]] = {   # name: (model, preset, settings)
    "classic_cnn": ("cnn", "classic", {"data": "mnist"}),
    "strong_cnn": ("cnn", "strong", {"data": "mnist", "epochs": 6}),
    "mlp": ("mlp", None, {"data": "mnist"}),
    "row_lstm": ("lstm", None, {"data": "mnist-rows", "hidden_size": 128, "num_layers": 2, "epochs": 3,
                                "lr": 2e-3, "schedule": "one-cycle", "grad_clip": 1.0}),
    "vae_decoder": ("vae", None, {"data": "mnist", "epochs": 10}),
}


def median_latency_ms(call: Callable[[], Any], calls: int) -> float:
    for _ in range(20):
        call()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1e3, 4)


def throughput(run_batch: Callable[[np.ndarray], np.ndarray], x: np.ndarray, repeats: int
               ) -> tuple[float, np.ndarray]:
    """Samples per second over ``x`` in batches of 256 (median of ``repeats``) and the outputs."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = np.concatenate([run_batch(x[i:i + 256]) for i in range(0, len(x), 256)])
        rates.append(len(x) / (time.perf_counter() - start))
    return round(statistics.median(rates), 1), out


def eager(model, decoder: bool, bf16: bool) -> Callable[[np.ndarray], np.ndarray]:
    fn = model.decode if decoder else model
    image = model.infers_channels_last and not decoder

    def run(batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(batch)
        if image:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            return fn(x).float().numpy()

    return run


def onnx_runtime(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda batch: session.run(None, {name: batch})[0]   # logits / reconstruction


def score(outputs: np.ndarray, target: np.ndarray, decoder: bool) -> dict[str, float]:
    if decoder:   # Bernoulli cross-entropy of the test images under the decoded means, nats/image
        means = torch.from_numpy(outputs).clamp(1e-6, 1 - 1e-6).flatten(1)
        nll = F.binary_cross_entropy(means, torch.from_numpy(target).flatten(1).float(), reduction="none")
        return {"reconstruction_nats": round(float(nll.sum(1).mean()), 3)}
    return {"accuracy": round(float((outputs.argmax(1) == target).mean()) * 100, 2)}


def measure(name: str, run_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    model = neuralzoo.load(run_dir)
    decoder = name == "vae_decoder"
    data = load_eval_data(model, eval_data_config(model, {}))   # the training part calibrates int8
    test_x = data.test.x.float()
    if decoder:
        inputs = model.infer(model.encode, test_x).numpy()   # (N, latent) posterior means
        target = test_x.numpy()
    else:
        inputs, target = test_x.numpy(), data.test.y.numpy()
    one = inputs[:1]
    parameters = sum(t.numel() for t in (model.decoder if decoder else model).state_dict().values())
    folder = run_dir / "onnx"
    export_model(model, folder)   # the model keeps the layout it infers in
    quantize_int8(model, folder, data.train.x, 512)
    graph = "decoder" if decoder else "classifier"
    backends: dict[str, Callable[[], Callable[[np.ndarray], np.ndarray]]] = {
        "eager_float32": lambda: eager(model, decoder, False)}
    sizes = {"eager_float32": parameters * 4}   # bf16 autocast keeps the float32 weights
    if native_bf16(torch.device("cpu")):
        backends["eager_bf16"] = lambda: eager(model, decoder, True)
        sizes["eager_bf16"] = parameters * 4
    for backend, path in (("onnxruntime_float32", folder / f"{graph}.onnx"),
                          ("onnxruntime_int8", folder / f"{graph}.int8.onnx")):
        backends[backend] = lambda path=path: onnx_runtime(path)
        sizes[backend] = path.stat().st_size
    rows = {}
    for backend, make in backends.items():
        run = make()
        latency = median_latency_ms(lambda: run(one), args.calls)
        rate, outputs = throughput(run, inputs, args.repeats)
        figure = score(outputs, target, decoder)
        rows[backend] = {"latency_ms_batch1": latency, "samples_per_second_batch256": rate,
                         "size_bytes": sizes[backend], **figure}
        print(f"  {name:12s} {backend:20s} {latency:8.3f} ms  {rate:10.0f}/s  {sizes[backend]:>10,} B  "
              f"{figure}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--calls", type=int, default=300, help="batch-1 calls per latency median")
    parser.add_argument("--repeats", type=int, default=3, help="passes per throughput median")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    result: dict[str, Any] = {"benchmark": "inference", "command": "python benchmarks/inference.py "
                              + " ".join(sys.argv[1:]), "environment": environment(),
                              "protocol": __doc__.split("\n\n", 1)[1].split("\n    pip")[0],
                              "seed": args.seed, "recipes": {}, "training": {}, "models": {}}
    with tempfile.TemporaryDirectory(prefix="nz-inference-") as tmp:
        for name in [m.strip() for m in args.models.split(",") if m.strip()]:
            family, preset, settings = MODELS[name]
            result["recipes"][name] = {"model": family, "preset": preset, **settings}
            print(f"{name}: training {family} {preset or ''} {settings}", flush=True)
            summary = neuralzoo.train(family, out=Path(tmp) / name, preset=preset, seed=args.seed,
                                      data_dir=str(args.data_dir), progress=False, verbose=False,
                                      **settings)
            result["training"][name] = {"train_seconds": round(summary["train_seconds"], 1),
                                        "epochs": summary["epochs"], "parameters": summary["parameters"]}
        result["load_average_1_5_15min_before_measuring"] = load_average()
        for name in result["training"]:   # all measurements in one stretch, after all the training
            result["models"][name] = measure(name, Path(tmp) / name, args)
    result["targets"] = targets(result["models"])
    print(result["targets"])
    result["load_average_1_5_15min_at_end"] = load_average()
    write_json(args.output, result)
    print(f"wrote {args.output}")


def targets(models: dict[str, dict[str, dict]]) -> dict[str, Any]:
    """The issue's targets: int8 CNN within 0.2 points at <= 30% of the float32 size; ONNX Runtime
    float32 faster than eager at batch 1 for every model."""
    out: dict[str, Any] = {}
    for name in ("classic_cnn", "strong_cnn"):
        if name in models:
            fp, q = models[name]["onnxruntime_float32"], models[name]["onnxruntime_int8"]
            drop = round(fp["accuracy"] - q["accuracy"], 2)
            ratio = round(q["size_bytes"] / fp["size_bytes"], 3)
            out[f"{name}_int8"] = {"accuracy_drop_points": drop, "size_ratio": ratio,
                                   "met": drop <= 0.2 and ratio <= 0.30}
    out["onnxruntime_float32_speedup_at_batch1"] = {   # eager latency / ONNX Runtime latency
        name: round(rows["eager_float32"]["latency_ms_batch1"]
                    / rows["onnxruntime_float32"]["latency_ms_batch1"], 2) for name, rows in models.items()}
    return out


if __name__ == "__main__":
    main()
