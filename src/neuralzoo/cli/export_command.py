"""``neuralzoo export``: a trained run for other runtimes (ONNX), and a parity check against PyTorch."""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

from .base import command


@command("export", "export a trained run for other runtimes (ONNX) and check it against PyTorch")
def export_command(argv: list[str]) -> int:
    from ..errors import NeuralzooError
    from ..evaluation.data import eval_data_config, load_eval_data
    from ..errors import NeuralzooWarning
    from ..export import FORMATS, check_onnx, export_model, quantize_int8, require_onnx, score_int8
    from ..runs import load, run_dir_of

    parser = argparse.ArgumentParser(
        prog="neuralzoo export", description="One self-contained .onnx file per graph (classifier: "
        "logits and probabilities; autoencoder / VAE: encoder and decoder; GAN: generator) with the "
        "preprocessing constants in its metadata, and README.txt. Needs pip install 'neuralzoo[onnx]'.")
    parser.add_argument("run", metavar="RUN", help="run directory or checkpoint")
    parser.add_argument("--format", default="onnx", help="export format (onnx)")
    parser.add_argument("--output", metavar="DIR", help="folder for the files (default: RUN/onnx)")
    parser.add_argument("--opset", type=int, help="ONNX opset (default: the exporter's)")
    parser.add_argument("--quantize", choices=("int8",), help="also write GRAPH.int8.onnx: static QDQ "
                        "per channel for convolutional models, dynamic int8 for dense and recurrent ones")
    parser.add_argument("--calibration", type=int, default=512, metavar="N",
                        help="--quantize: training samples that calibrate the static quantization "
                             "(default: 512)")
    parser.add_argument("--check", action="store_true", help="also run ONNX Runtime against PyTorch on the "
                        "run's own test data at batch 1 and 17 and print the largest differences; with "
                        "--quantize, also score the int8 graphs beside float32 on up to 1000 test "
                        "samples and warn past the bound (accuracy -1 point, error +5%%)")
    args = parser.parse_args(argv)
    if args.format not in FORMATS:
        raise NeuralzooError(f"--format {args.format}: unknown export format; formats: {', '.join(FORMATS)}")
    require_onnx()   # before loading anything
    model = load(args.run)
    folder = Path(args.output) if args.output else run_dir_of(args.run) / "onnx"
    files = export_model(model, folder, opset=args.opset)
    print("\n".join(f"wrote {f} ({f.stat().st_size:,} bytes)" for f in files))
    if args.quantize:
        if args.calibration < 1:
            raise NeuralzooError(f"--calibration must be a positive integer, got {args.calibration}")
        train = load_eval_data(model, eval_data_config(model, {})).train   # MNIST: its training files
        quantized = quantize_int8(model, folder, train.x, args.calibration)
        for path in quantized.written:
            print(f"wrote {path} ({path.stat().st_size:,} bytes)")
        for graph, why in quantized.skipped.items():
            print(f"no {graph}.int8.onnx: {why}")
    print(f"wrote {folder / 'README.txt'}")
    if args.check:
        data = load_eval_data(model, eval_data_config(model, {}), need_validation=False)
        part = data.test if data.test is not None else data.train   # the run's own test samples
        report = check_onnx(model, folder, part.x[:17].float())
        print(json.dumps(report, indent=2))
        worst = max(v for graph in report.values() for v in graph.values())
        print(f"largest difference {worst:.3g} ({'within' if worst <= 1e-4 else 'ABOVE'} 1e-4)")
        if args.quantize:   # int8 is not expected to match; it is scored beside float32 instead
            for score in score_int8(model, folder, part.x, part.y):
                print(score.line())
                if not score.within:
                    warnings.warn(f"{score.graph}.int8.onnx: {score.metric} {score.int8:.4g} against "
                                  f"{score.float32:.4g} in float32 passes the bound ({score.bound}); "
                                  f"ship the float32 file or calibrate on more samples (--calibration)",
                                  NeuralzooWarning)
        return 0 if worst <= 1e-4 else 1
    return 0
