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

    python benchmarks/peers.py [--jobs cnn,mlp_vae,conv_vae,lstm] [--figures throughput,quality]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
PEERS = ("neuralzoo", "neuralzoo_fp32", "pytorch", "keras")
WARMUP, STEPS, BATCH = 20, 220, 128
TARGETS = {
    "cnn": ("test accuracy", 0.99, "max"),
    "mlp_vae": ("test -ELBO (nats)", 110.0, "min"),
    "lstm": ("test accuracy", 0.985, "max"),
}


# ------------------------------------------------------------------ data, shared by every child
def mnist(data_dir: Path, rows: bool = False):
    """(x_train, y_train, x_test, y_test) as float32 arrays in [0, 1] (N, 28, 28) and int64 labels."""
    import gzip

    import numpy as np

    def idx(name: str) -> np.ndarray:
        raw = gzip.open(data_dir / f"{name}.gz").read()
        dims = raw[3]
        shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
        return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)

    return (
        idx("train-images-idx3-ubyte").astype(np.float32) / 255,
        idx("train-labels-idx1-ubyte").astype(np.int64),
        idx("t10k-images-idx3-ubyte").astype(np.float32) / 255,
        idx("t10k-labels-idx1-ubyte").astype(np.int64),
    )


# ------------------------------------------------------------------ the plain PyTorch loop
def torch_network(job: str):
    import torch
    from torch import nn

    class VAE(nn.Module):
        def __init__(self, conv: bool) -> None:
            super().__init__()
            latent = 32 if conv else 20
            if conv:
                self.encoder = nn.Sequential(
                    nn.Conv2d(1, 32, 4, 2, 1),
                    nn.ReLU(),
                    nn.Conv2d(32, 64, 4, 2, 1),
                    nn.ReLU(),
                    nn.Flatten(),
                    nn.Linear(64 * 7 * 7, 2 * latent),
                )
                self.decoder = nn.Sequential(
                    nn.Linear(latent, 64 * 7 * 7),
                    nn.ReLU(),
                    nn.Unflatten(1, (64, 7, 7)),
                    nn.ConvTranspose2d(64, 32, 4, 2, 1),
                    nn.ReLU(),
                    nn.ConvTranspose2d(32, 1, 4, 2, 1),
                    nn.Flatten(),
                )
            else:
                self.encoder = nn.Sequential(
                    nn.Flatten(), nn.Linear(784, 400), nn.ReLU(), nn.Linear(400, 2 * latent)
                )
                self.decoder = nn.Sequential(nn.Linear(latent, 400), nn.ReLU(), nn.Linear(400, 784))

        def forward(self, x):  # -ELBO per example
            mu, logvar = self.encoder(x).chunk(2, 1)
            z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
            rec = nn.functional.binary_cross_entropy_with_logits(
                self.decoder(z), x.flatten(1), reduction="none"
            ).sum(1)
            return rec + 0.5 * (mu**2 + logvar.exp() - logvar - 1).sum(1)

    class Rows(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm, self.head = nn.LSTM(28, 128, batch_first=True), nn.Linear(128, 10)

        def forward(self, x):
            return self.head(self.lstm(x)[0][:, -1])

    if job == "dcgan":  # (generator, discriminator) as pytorch/examples' dcgan, sized for 28x28
        generator = nn.Sequential(
            nn.Linear(100, 128 * 7 * 7),
            nn.Unflatten(1, (128, 7, 7)),
            nn.BatchNorm2d(128),
            nn.ReLU(),
            nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.ConvTranspose2d(64, 1, 4, 2, 1),
            nn.Tanh(),
        )
        discriminator = nn.Sequential(
            nn.Conv2d(1, 64, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(64, 128, 4, 2, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(128 * 7 * 7, 1),
        )
        return generator, discriminator
    if job == "cnn":
        return nn.Sequential(
            nn.Conv2d(1, 32, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(576, 64),
            nn.ReLU(),
            nn.Linear(64, 10),
        )
    return Rows() if job == "lstm" else VAE(conv=job == "conv_vae")


def run_pytorch(job: str, figure: str, data, max_epochs: int) -> dict:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    x_train, y_train, x_test, y_test = (torch.from_numpy(a) for a in data)
    shape = (-1, 28, 28) if job == "lstm" else (-1, 1, 28, 28)
    x_train, x_test = x_train.reshape(shape), x_test.reshape(shape)
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=BATCH, shuffle=True)
    classify = job in ("cnn", "lstm")
    if job == "dcgan":
        generator, discriminator = torch_network(job)
        g_opt, d_opt = (
            torch.optim.Adam(m.parameters(), lr=2e-4, betas=(0.5, 0.999)) for m in (generator, discriminator)
        )
        bce = torch.nn.BCEWithLogitsLoss()

        def step(x, y) -> None:  # pytorch/examples' dcgan: D on real and detached fakes, then G
            x = x * 2 - 1
            fake = generator(torch.randn(len(x), 100))
            ones, zeros = torch.ones(len(x), 1), torch.zeros(len(x), 1)
            d_opt.zero_grad()
            (bce(discriminator(x), ones) + bce(discriminator(fake.detach()), zeros)).backward()
            d_opt.step()
            g_opt.zero_grad()
            bce(discriminator(fake), ones).backward()
            g_opt.step()
    else:
        net = torch_network(job)
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)

        def step(x, y) -> None:
            loss = torch.nn.functional.cross_entropy(net(x), y) if classify else net(x).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    if figure == "throughput":
        marks = []
        for i, (x, y) in enumerate(loader):
            if i == STEPS:
                break
            step(x, y)
            marks.append(time.perf_counter())
        return {"samples_per_s": BATCH * (STEPS - WARMUP) / (marks[-1] - marks[WARMUP - 1])}
    history, seconds = [], 0.0
    for epoch in range(max_epochs):
        net.train()
        start = time.perf_counter()
        for x, y in loader:
            step(x, y)
        seconds += time.perf_counter() - start
        net.eval()
        with torch.no_grad():
            out = [net(x_test[i : i + 1000]) for i in range(0, len(x_test), 1000)]
        value = (
            float((torch.cat(out).argmax(1) == y_test).float().mean())
            if classify
            else float(torch.cat(out).mean())
        )
        history.append({"epoch": epoch + 1, "train_seconds": round(seconds, 2), "value": value})
        if reached(job, value):
            break
    return quality_result(job, history)


# ------------------------------------------------------------------ Keras, as the tutorials write it
def run_keras(job: str, figure: str, data, max_epochs: int) -> dict:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np
    import tensorflow as tf
    from keras import layers, ops

    keras.utils.set_random_seed(0)
    x_train, y_train, x_test, y_test = data
    classify = job in ("cnn", "lstm")
    if job == "lstm":
        model = keras.Sequential([keras.Input((28, 28)), layers.LSTM(128), layers.Dense(10)])
    elif job == "cnn":
        model = keras.Sequential(
            [
                keras.Input((28, 28, 1)),
                layers.Conv2D(32, 3, activation="relu"),
                layers.MaxPooling2D(),
                layers.Conv2D(64, 3, activation="relu"),
                layers.MaxPooling2D(),
                layers.Conv2D(64, 3, activation="relu"),
                layers.Flatten(),
                layers.Dense(64, activation="relu"),
                layers.Dense(10),
            ]
        )
    if job == "dcgan":
        model = keras_dcgan(keras, layers, tf)
        x_train, y_train = x_train[..., None] * 2 - 1, None
    elif classify:
        x_train, x_test = (
            x.reshape(-1, 28, 28) if job == "lstm" else x[..., None] for x in (x_train, x_test)
        )
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            metrics=["accuracy"],
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
    else:  # the keras-io VAE example's shape: a Model with its own train_step
        latent, conv = (32, True) if job == "conv_vae" else (20, False)
        x_train, x_test = x_train[..., None], x_test[..., None]
        if conv:
            encoder = keras.Sequential(
                [
                    keras.Input((28, 28, 1)),
                    layers.Conv2D(32, 4, 2, "same", activation="relu"),
                    layers.Conv2D(64, 4, 2, "same", activation="relu"),
                    layers.Flatten(),
                    layers.Dense(2 * latent),
                ]
            )
            decoder = keras.Sequential(
                [
                    keras.Input((latent,)),
                    layers.Dense(7 * 7 * 64, activation="relu"),
                    layers.Reshape((7, 7, 64)),
                    layers.Conv2DTranspose(32, 4, 2, "same", activation="relu"),
                    layers.Conv2DTranspose(1, 4, 2, "same"),
                ]
            )
        else:
            encoder = keras.Sequential(
                [
                    keras.Input((28, 28, 1)),
                    layers.Flatten(),
                    layers.Dense(400, activation="relu"),
                    layers.Dense(2 * latent),
                ]
            )
            decoder = keras.Sequential(
                [
                    keras.Input((latent,)),
                    layers.Dense(400, activation="relu"),
                    layers.Dense(784),
                    layers.Reshape((28, 28, 1)),
                ]
            )

        class VAE(keras.Model):
            def __init__(self) -> None:
                super().__init__()
                self.encoder, self.decoder = encoder, decoder

            def nelbo(self, x):
                mu, logvar = ops.split(self.encoder(x), 2, axis=1)
                z = mu + ops.exp(0.5 * logvar) * keras.random.normal(ops.shape(mu))
                logits = self.decoder(z)
                rec = ops.sum(ops.reshape(ops.binary_crossentropy(x, logits, from_logits=True), (-1, 784)), 1)
                return rec + 0.5 * ops.sum(mu**2 + ops.exp(logvar) - logvar - 1, 1)

            def train_step(self, x):
                with tf.GradientTape() as tape:
                    loss = ops.mean(self.nelbo(x))
                grads = tape.gradient(loss, self.trainable_weights)
                self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
                return {"loss": loss}

        model = VAE()
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        y_train = None

    class Clock(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.marks, self.seconds, self.start = [], 0.0, 0.0

        def on_train_batch_end(self, batch, logs=None) -> None:
            self.marks.append(time.perf_counter())

        def on_epoch_begin(self, epoch, logs=None) -> None:
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None) -> None:
            self.seconds += time.perf_counter() - self.start

    clock = Clock()
    if figure == "throughput":
        model.fit(
            x_train, y_train, batch_size=BATCH, epochs=1, steps_per_epoch=STEPS, verbose=0, callbacks=[clock]
        )
        return {
            "samples_per_s": BATCH * (STEPS - WARMUP) / (clock.marks[STEPS - 1] - clock.marks[WARMUP - 1])
        }
    history = []
    for epoch in range(max_epochs):
        model.fit(x_train, y_train, batch_size=BATCH, epochs=1, verbose=0, callbacks=[clock])
        if classify:
            value = float(model.evaluate(x_test, y_test, batch_size=1000, verbose=0)[1])
        else:
            value = float(
                np.mean(
                    np.concatenate(
                        [np.asarray(model.nelbo(x_test[i : i + 1000])) for i in range(0, len(x_test), 1000)]
                    )
                )
            )
        history.append({"epoch": epoch + 1, "train_seconds": round(clock.seconds, 2), "value": value})
        if reached(job, value):
            break
    return quality_result(job, history)


def keras_dcgan(keras, layers, tf):
    """The keras-io DCGAN example's ``train_step`` (D on real and generated images, then G on fresh
    noise), with pytorch/examples' layers sized for 28x28 (channels last)."""
    generator = keras.Sequential(
        [
            keras.Input((100,)),
            layers.Dense(7 * 7 * 128),
            layers.Reshape((7, 7, 128)),
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Conv2DTranspose(64, 4, 2, "same", use_bias=False),
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Conv2DTranspose(1, 4, 2, "same", activation="tanh"),
        ]
    )
    discriminator = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(64, 4, 2, "same"),
            layers.LeakyReLU(0.2),
            layers.Conv2D(128, 4, 2, "same", use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(0.2),
            layers.Flatten(),
            layers.Dense(1),
        ]
    )
    bce = keras.losses.BinaryCrossentropy(from_logits=True)

    class GAN(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.generator, self.discriminator = generator, discriminator

        def compile(self, **kwargs) -> None:
            super().compile(**kwargs)
            self.d_optimizer = keras.optimizers.Adam(2e-4, beta_1=0.5)
            self.g_optimizer = keras.optimizers.Adam(2e-4, beta_1=0.5)

        def train_step(self, real):
            n = tf.shape(real)[0]
            fake = self.generator(keras.random.normal((n, 100)))
            with tf.GradientTape() as tape:
                real_out, fake_out = self.discriminator(real), self.discriminator(fake)
                d_loss = bce(tf.ones_like(real_out), real_out) + bce(tf.zeros_like(fake_out), fake_out)
            grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
            self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
            with tf.GradientTape() as tape:
                out = self.discriminator(self.generator(keras.random.normal((n, 100))))
                g_loss = bce(tf.ones_like(out), out)
            grads = tape.gradient(g_loss, self.generator.trainable_weights)
            self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
            return {"d_loss": d_loss, "g_loss": g_loss}

    model = GAN()
    model.compile()
    return model


# ------------------------------------------------------------------ neuralzoo
NEURALZOO = {
    "cnn": ("cnn", "mnist", {}),
    "mlp_vae": ("vae", "mnist", {"hidden_sizes": (400,), "latent_dim": 20}),
    "conv_vae": ("vae", "mnist", {"architecture": "conv", "latent_dim": 32}),
    "lstm": ("lstm", "mnist-rows", {"hidden_size": 128}),
    "dcgan": (
        "dcgan",
        "mnist",
        {
            "conditional": False,
            "loss": "non-saturating",
            "spectral_norm": False,
            "ema_decay": 0.0,
            "sample_every": 0,
        },
    ),
}


def run_neuralzoo(job: str, figure: str, data_dir: Path, max_epochs: int, precision: str, out: Path) -> dict:
    import neuralzoo
    from neuralzoo.evaluation import evaluate_run
    from neuralzoo.training.logger import read_metrics

    model, data, settings = NEURALZOO[job]
    common = dict(
        data=data,
        data_dir=str(data_dir),
        val_fraction=0,
        progress=False,
        batch_size=BATCH,
        bf16="off" if precision == "fp32" else "auto",
        seed=0,
        **settings,
    )
    if figure == "throughput":  # the peers' recipe: Adam lr 1e-3, constant
        same = {"cnn": {"label_smoothing": 0.0}, "lstm": {"grad_clip": None}}.get(job, {})
        lr = 2e-4 if job == "dcgan" else 1e-3
        neuralzoo.train(
            model, out=out, max_steps=STEPS, log_every=WARMUP, lr=lr, schedule="constant", **same, **common
        )
        logs = [e for e in read_metrics(out) if e["event"] == "train"][1:]  # after the first 20 steps
        return {"samples_per_s": sum(e["samples_per_s"] for e in logs) / len(logs)}
    history = []  # the default recipe, one more epoch per run (the schedule spans the whole run)
    for epochs in range(1, max_epochs + 1):
        summary = neuralzoo.train(model, out=out / f"e{epochs}", epochs=epochs, **common)
        result = evaluate_run(out / f"e{epochs}", "test", quality_samples=0, iw_samples=1)
        value = result["metrics"]["nelbo"] if job == "mlp_vae" else result["accuracy"]
        history.append({"epoch": epochs, "train_seconds": round(summary["train_seconds"], 2), "value": value})
        if reached(job, value):
            break
    return quality_result(job, history)


def reached(job: str, value: float) -> bool:
    _, target, direction = TARGETS[job]
    return value >= target if direction == "max" else value <= target


def quality_result(job: str, history: list[dict]) -> dict:
    name, target, _ = TARGETS[job]
    hit = next((h for h in history if reached(job, h["value"])), None)
    return {
        "measure": name,
        "target": target,
        "history": history,
        "seconds_to_target": hit["train_seconds"] if hit else None,
        "epochs_to_target": hit["epoch"] if hit else None,
    }


# ------------------------------------------------------------------ the parent
def child(argv: list[str]) -> None:
    peer, job, figure, data_dir, max_epochs, out = argv
    data_dir, max_epochs, out = Path(data_dir), int(max_epochs), Path(out)
    if peer.startswith("neuralzoo"):
        result = run_neuralzoo(
            job,
            figure,
            data_dir,
            max_epochs,
            "fp32" if peer.endswith("fp32") else "default",
            out.with_suffix(""),
        )
    else:
        data = mnist(data_dir)
        result = (run_pytorch if peer == "pytorch" else run_keras)(job, figure, data, max_epochs)
    out.write_text(json.dumps(result))


def installed(peer: str) -> bool:
    if peer != "keras":
        return True
    try:
        import importlib.util

        return bool(importlib.util.find_spec("keras") and importlib.util.find_spec("tensorflow"))
    except ValueError:
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
    peers = [
        p
        for p in args.peers.split(",")
        if installed(p)
        or print(
            f"skipping {p}: not installed "
            '(pip install -e ".[bench]" installs Keras 3 and TensorFlow\'s CPU build)'
        )
    ]
    rows = []
    with tempfile.TemporaryDirectory(prefix="nz-peers-") as tmp:
        for job in args.jobs.split(","):
            for figure in args.figures.split(","):
                if figure == "quality" and job not in TARGETS:
                    continue
                for repeat in range(args.repeats if figure == "throughput" else args.quality_repeats):
                    order = peers if repeat % 2 == 0 else peers[::-1]
                    for peer in order:
                        if figure == "quality" and peer == "neuralzoo_fp32":
                            continue
                        out = Path(tmp) / f"{peer}-{job}-{figure}-{repeat}.json"
                        start = time.perf_counter()
                        process = subprocess.Popen(
                            [
                                sys.executable,
                                __file__,
                                "--child",
                                peer,
                                job,
                                figure,
                                str(args.data_dir),
                                str(args.max_epochs),
                                str(out),
                            ],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE,
                        )
                        _, status, usage = os.wait4(process.pid, 0)
                        wall = time.perf_counter() - start
                        if os.waitstatus_to_exitcode(status):
                            raise SystemExit(
                                f"{peer} {job} {figure} failed:\n{process.stderr.read().decode()[-3000:]}"
                            )
                        row = {
                            "peer": peer,
                            "job": job,
                            "figure": figure,
                            "repeat": repeat,
                            "process_seconds": round(wall, 2),
                            "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
                            **json.loads(out.read_text()),
                        }
                        rows.append(row)
                        shown = (
                            f"{row['samples_per_s']:.0f} samples/s"
                            if figure == "throughput"
                            else f"{row['seconds_to_target']} s to {row['measure']} {row['target']} "
                            f"(epochs {row['epochs_to_target']})"
                        )
                        print(
                            f"{job:9s} {figure:10s} {peer:15s} {shown}; process {wall:.1f} s, "
                            f"peak RSS {row['peak_rss_mib']:.0f} MiB",
                            flush=True,
                        )
    summary = summarize(rows)
    from common import environment, write_json  # imported last: this process stays small

    write_json(
        args.output,
        {
            "benchmark": "peers",
            "command": "python benchmarks/peers.py " + " ".join(sys.argv[1:]),
            "protocol": __doc__.split("\n\n")[1],
            "rows": rows,
            "summary": summary,
            "environment": environment(),
        },
    )
    print(json.dumps(summary, indent=1))
    print(f"wrote {args.output}")


def summarize(rows: list[dict]) -> dict:
    """Per job and figure: each peer's median, and neuralzoo's advantage over it (above 1: neuralzoo
    ahead) in its default precision and, for throughput, in float32."""
    import statistics

    out: dict = {}
    for job, figure in sorted({(r["job"], r["figure"]) for r in rows}):
        key = "samples_per_s" if figure == "throughput" else "seconds_to_target"
        mine = [r for r in rows if r["job"] == job and r["figure"] == figure]
        medians = {
            p: statistics.median(v)
            for p in PEERS
            if (v := [r[key] for r in mine if r["peer"] == p and r[key] is not None])
        }
        rss = {p: max(r["peak_rss_mib"] for r in mine if r["peer"] == p) for p in medians}
        entry = {"median": {p: round(v, 2) for p, v in medians.items()}, "peak_rss_mib": rss}
        for ours in ("neuralzoo", "neuralzoo_fp32"):
            if ours in medians:
                entry[f"{ours}_advantage"] = {
                    p: round(medians[ours] / v if figure == "throughput" else v / medians[ours], 2)
                    for p, v in medians.items()
                    if not p.startswith("neuralzoo")
                }
        out[f"{job} {figure}"] = entry
    return out


if __name__ == "__main__":
    main()
