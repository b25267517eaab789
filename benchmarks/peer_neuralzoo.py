"""neuralzoo in benchmarks/peers.py: the same networks through ``neuralzoo.train``; throughput with the
peers' recipe, seconds to quality with neuralzoo's own defaults."""

from __future__ import annotations

from pathlib import Path

from peer_common import BATCH, STEPS, WARMUP, until_reached

# job: (model, data set, settings that make it the peers' network)
NEURALZOO = {
    "cnn": ("cnn", "mnist", {}),
    "mlp_vae": ("vae", "mnist", {"hidden_sizes": (400,), "latent_dim": 20}),
    "conv_vae": ("vae", "mnist", {"architecture": "conv", "latent_dim": 32}),
    "lstm": ("lstm", "mnist-rows", {"hidden_size": 128}),
    "dcgan": ("dcgan", "mnist", {"conditional": False, "loss": "non-saturating", "spectral_norm": False,
                                 "ema_decay": 0.0, "sample_every": 0}),
}
# the peers' recipe for throughput: Adam at a constant lr (dcgan 2e-4), no smoothing or clipping
PEER_RECIPE = {"cnn": {"label_smoothing": 0.0}, "lstm": {"grad_clip": None}}


def run_neuralzoo(job: str, figure: str, data_dir: Path, max_epochs: int, precision: str, out: Path) -> dict:
    import neuralzoo
    from neuralzoo.evaluation import evaluate_run
    from neuralzoo.training.logger import read_metrics

    model, data, settings = NEURALZOO[job]
    common = dict(data=data, data_dir=str(data_dir), val_fraction=0, progress=False, batch_size=BATCH, seed=0,
                  bf16="off" if precision == "fp32" else "auto", **settings)
    if figure == "throughput":
        neuralzoo.train(model, out=out, max_steps=STEPS, log_every=WARMUP, schedule="constant",
                        lr=2e-4 if job == "dcgan" else 1e-3, **PEER_RECIPE.get(job, {}), **common)
        rates = [e["samples_per_s"] for e in read_metrics(out) if e["event"] == "train"][1:]   # after step 20
        return {"samples_per_s": len(rates) / sum(1 / r for r in rates)}   # equal steps: harmonic mean

    def fresh_run(epochs: int) -> tuple[float, float]:   # the default recipe's schedule spans the run
        summary = neuralzoo.train(model, out=out / f"e{epochs}", epochs=epochs, **common)
        result = evaluate_run(out / f"e{epochs}", "test", quality_samples=0, iw_samples=1)
        value = result["metrics"]["nelbo"] if job == "mlp_vae" else result["accuracy"]
        return summary["train_seconds"], value

    return until_reached(job, max_epochs, fresh_run)
