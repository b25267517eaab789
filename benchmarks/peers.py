"""Peers side by side: neuralzoo against what users would pick instead, on the same networks and recipes.

Peers: Keras 3 on its TensorFlow CPU backend, written as the Keras tutorials write it (``model.fit``;
``pip install -e ".[bench]"``; skipped with a line when not installed), and a plain PyTorch loop in the
style of pytorch/examples (``DataLoader(TensorDataset)``, float32). Networks (same layers in all three):
  cnn       the classic CNN (Conv32-Pool-Conv64-Pool-Conv64-Dense64-Dense10), MNIST
  mlp_vae   the pytorch/examples VAE, 784-400-20 (Bernoulli decoder on pixel intensities), MNIST
  conv_vae  two 4x4 stride-2 convolutions (32, 64) and their transposes, latent 32, MNIST
  lstm      one LSTM layer of 128 units on MNIST rows (28 steps of 28 pixels), last step -> Dense10
  dcgan     pytorch/examples' DCGAN recipe sized for 28x28 (generator Dense -> 128x7x7 -> two 4x4 stride-2
            transposed convolutions with batch norm; discriminator two 4x4 stride-2 convolutions),
            unconditional, non-saturating loss, Adam 2e-4 / beta1 0.5, no EMA (neuralzoo's defaults add
            conditioning, hinge loss, spectral norm and an EMA: not the peers' recipe)
Figures, each job in its own process (wall time and peak RSS of that process, ``os.wait4``):
  throughput  steady training samples/s, batch 128, Adam lr 1e-3 (dcgan: 2e-4): the steps after the first 20
              (warm-up) of 220; neuralzoo in its default precision (bf16 autocast where the CPU computes
              bf16 natively) and in float32 (``--bf16 off``); Keras and PyTorch in float32 (their defaults)
  quality     seconds of training (evaluation not counted) to a stated test figure: cnn 99.0% test
              accuracy (neuralzoo: its default recipe, lr 0.02 one-cycle with label smoothing, one
              epoch at a time; the peers: Adam lr 1e-3, batch 128, the tutorials' plain recipe), mlp_vae
              test -ELBO <= 110 nats (all: Adam lr 1e-3, batch 128; neuralzoo: its default recipe,
              lr 2e-3 one-cycle), lstm 98.5% test accuracy (peers: Adam lr 1e-3; neuralzoo: its default
              recipe, lr 2e-3 one-cycle, gradient clip 1), checked after every epoch, at most
              ``--max-epochs``; neuralzoo trains a fresh run for each epoch count (its schedule spans
              the run) and reports the training seconds of the first run that reaches the figure
Repeats are interleaved (``--repeats`` for throughput, default 3; ``--quality-repeats``, default 1);
every ratio compares medians from the same run: neuralzoo / peer for samples/s, peer / neuralzoo for
seconds (above 1: neuralzoo ahead), in neuralzoo's default precision and in float32.

    python benchmarks/peers.py [--jobs cnn,mlp_vae,conv_vae,lstm,dcgan] [--figures throughput,quality]

Layout: this file runs the jobs and summarises them; peer_pytorch.py, peer_keras.py and
peer_neuralzoo.py train each peer; peer_common.py holds what they share; processes.py times a process.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
from pathlib import Path

from peer_common import TARGETS, mnist
from processes import timed_process

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
PEERS = ("neuralzoo", "neuralzoo_fp32", "pytorch", "keras")


def child(argv: list[str]) -> None:
    """One job of one peer, in this process; writes its result JSON to the last argument."""
    peer, job, figure, data_dir, max_epochs, out = argv
    data_dir, max_epochs, out = Path(data_dir), int(max_epochs), Path(out)
    if peer.startswith("neuralzoo"):
        from peer_neuralzoo import run_neuralzoo

        precision = "fp32" if peer.endswith("fp32") else "default"
        result = run_neuralzoo(job, figure, data_dir, max_epochs, precision, out.with_suffix(""))
    elif peer == "pytorch":
        from peer_pytorch import run_pytorch

        result = run_pytorch(job, figure, mnist(data_dir), max_epochs)
    else:
        from peer_keras import run_keras

        result = run_keras(job, figure, mnist(data_dir), max_epochs)
    out.write_text(json.dumps(result))


def installed(peer: str) -> bool:
    if peer != "keras":
        return True
    if importlib.util.find_spec("keras") and importlib.util.find_spec("tensorflow"):
        return True
    print(f"skipping {peer}: not installed (pip install -e \".[bench]\" installs Keras 3 and TensorFlow's "
          "CPU build)")
    return False


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        return child(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", default="cnn,mlp_vae,conv_vae,lstm,dcgan")
    parser.add_argument("--figures", default="throughput,quality")
    parser.add_argument("--peers", default=",".join(PEERS))
    parser.add_argument("--repeats", type=int, default=3, help="throughput repeats (default 3)")
    parser.add_argument("--quality-repeats", type=int, default=1)
    parser.add_argument("--max-epochs", type=int, default=15)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/peers.json"))
    args = parser.parse_args()
    peers = [peer for peer in args.peers.split(",") if installed(peer)]
    rows = []
    with tempfile.TemporaryDirectory(prefix="nz-peers-") as tmp:
        for job in args.jobs.split(","):
            for figure in args.figures.split(","):
                if figure == "quality" and job not in TARGETS:
                    continue
                for repeat in range(args.repeats if figure == "throughput" else args.quality_repeats):
                    for peer in peers if repeat % 2 == 0 else peers[::-1]:   # interleaved
                        if figure == "quality" and peer == "neuralzoo_fp32":
                            continue
                        rows.append(measure(peer, job, figure, repeat, args, Path(tmp)))
    summary = summarize(rows)
    from common import environment, write_json   # imported last: this process stays small

    command = "python benchmarks/peers.py " + " ".join(sys.argv[1:])
    write_json(args.output, {"benchmark": "peers", "command": command,
                             "protocol": __doc__.split("\n\n")[1], "rows": rows, "summary": summary,
                             "environment": environment()})
    print(json.dumps(summary, indent=1))
    print(f"wrote {args.output}")


def measure(peer: str, job: str, figure: str, repeat: int, args: argparse.Namespace, tmp: Path) -> dict:
    """One job of one peer in its own process: its result, wall time and peak RSS."""
    out = tmp / f"{peer}-{job}-{figure}-{repeat}.json"
    wall, rss = timed_process([sys.executable, __file__, "--child", peer, job, figure, str(args.data_dir),
                               str(args.max_epochs), str(out)])
    row = {"peer": peer, "job": job, "figure": figure, "repeat": repeat, "process_seconds": round(wall, 2),
           "peak_rss_mib": round(rss, 1), **json.loads(out.read_text())}
    shown = (f"{row['samples_per_s']:.0f} samples/s" if figure == "throughput" else
             f"{row['seconds_to_target']} s to {row['measure']} {row['target']} "
             f"(epochs {row['epochs_to_target']})")
    print(f"{job:9s} {figure:10s} {peer:15s} {shown}; process {wall:.1f} s, peak RSS {rss:.0f} MiB",
          flush=True)
    return row


def summarize(rows: list[dict]) -> dict:
    """Per job and figure: each peer's median, and neuralzoo's advantage over it (above 1: neuralzoo
    ahead) in its default precision and, for throughput, in float32."""
    out: dict = {}
    for job, figure in sorted({(r["job"], r["figure"]) for r in rows}):
        key = "samples_per_s" if figure == "throughput" else "seconds_to_target"
        mine = [r for r in rows if r["job"] == job and r["figure"] == figure]
        medians = {p: statistics.median(v) for p in PEERS
                   if (v := [r[key] for r in mine if r["peer"] == p and r[key] is not None])}
        entry = {"median": {p: round(v, 2) for p, v in medians.items()},
                 "peak_rss_mib": {p: max(r["peak_rss_mib"] for r in mine if r["peer"] == p) for p in medians}}
        for ours in ("neuralzoo", "neuralzoo_fp32"):
            if ours in medians:
                entry[f"{ours}_advantage"] = {
                    p: round(medians[ours] / v if figure == "throughput" else v / medians[ours], 2)
                    for p, v in medians.items() if not p.startswith("neuralzoo")}
        out[f"{job} {figure}"] = entry
    return out


if __name__ == "__main__":
    main()
