"""Fixed costs a user feels: each neuralzoo command as a whole process, beside a plain script that
does the same work, in the same run.

For the classic CNN on MNIST, the MLP VAE (784-512-256, latent 32) on MNIST and the LSTM (128 units) on
MNIST rows (28 steps of 28 pixels), each trained for 100 steps first (not timed), this times:
  evaluate   ``neuralzoo evaluate RUN`` on the 10,000 test images (CNN, LSTM: accuracy, confusion
             matrix and its pictures; VAE: ``--iw-samples 1 --quality-samples 0``: -ELBO, squared error,
             posterior diagnostics, reconstructions.png) vs a script: import torch, read the test IDX
             file, build the network, load its weights, one eval-mode pass in batches of 1,000
             (accuracy and a confusion matrix; VAE: -ELBO and squared error), write a JSON
  predict    ``neuralzoo predict RUN --input digit.png`` (LSTM: a one-row .npz) vs a script that
             reads the image, builds the network, loads its weights and prints the class
  sample     ``neuralzoo sample RUN --n 64`` (VAE) vs a script that decodes 64 draws and writes a PNG
  train      ``neuralzoo train MODEL --data mnist --max-steps 1`` vs a script: import torch, read the
             training IDX files, build the network and Adam, one step on 128 images, save the weights
  help, list ``neuralzoo --help`` and ``neuralzoo list`` vs ``python -c pass``
Every figure is the median of ``--repeats`` (default 3) interleaved runs, wall time of the whole
process (interpreter start to exit), with each process's own peak RSS (``os.wait4``; it includes the
~30 MiB this script has when it starts a process). Threads: torch's default. The plain scripts are
written as the tutorials write them (channels-first, batches of 1,000); the ratio neuralzoo / plain
script is the fixed cost neuralzoo adds, or saves.

    python benchmarks/fixed_costs.py [--repeats 3] [--output benchmarks/results/fixed_costs.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from processes import timed_process  # noqa: E402

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"

# The plain scripts: what a user writes by hand for the same job (tutorial style).
READ_IDX = '''
import gzip, json, sys, numpy as np, torch
from torch import nn
def idx(name):
    raw = gzip.open(f"{DATA}/{name}.gz").read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)
'''
NETWORKS = {
    "cnn": '''
net = nn.Sequential(nn.Conv2d(1, 32, 3), nn.MaxPool2d(2), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.MaxPool2d(2),
                    nn.ReLU(), nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(), nn.Linear(576, 64), nn.ReLU(),
                    nn.Linear(64, 10))
shape = (-1, 1, 28, 28)
''',
    "lstm": '''
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm, self.head = nn.LSTM(28, 128, batch_first=True), nn.Linear(128, 10)
    def forward(self, x):
        return self.head(self.lstm(x)[0][:, -1])
net = Net()
shape = (-1, 28, 28)
''',
    "vae": '''
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256),
                                     nn.ReLU(), nn.Linear(256, 64))
        self.decoder = nn.Sequential(nn.Linear(32, 256), nn.ReLU(), nn.Linear(256, 512), nn.ReLU(),
                                     nn.Linear(512, 784))
    def forward(self, x):
        mu, logvar = self.encoder(x).chunk(2, 1)
        z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
        logits = self.decoder(z)
        rec = nn.functional.binary_cross_entropy_with_logits(logits, x.flatten(1), reduction="none").sum(1)
        kl = 0.5 * (mu ** 2 + logvar.exp() - logvar - 1).sum(1)
        return rec + kl, ((torch.sigmoid(logits) - x.flatten(1)) ** 2).sum(1)
net = Net()
shape = (-1, 1, 28, 28)
''',
}
LOAD_WEIGHTS = '''
from safetensors.torch import load_file
net.load_state_dict(load_file(WEIGHTS))
'''
PLAIN = {
    "evaluate": READ_IDX + "{network}" + LOAD_WEIGHTS + '''
x = torch.from_numpy(idx("t10k-images-idx3-ubyte").astype(np.float32) / 255).reshape(shape)
y = torch.from_numpy(idx("t10k-labels-idx1-ubyte").astype(np.int64))
net.eval()
with torch.no_grad():
    out = [net(x[i:i + 1000]) for i in range(0, len(x), 1000)]
if KIND == "vae":
    nelbo, error = (torch.cat(parts) for parts in zip(*out))
    result = {"nelbo": float(nelbo.mean()), "squared_error": float(error.mean())}
else:
    predicted = torch.cat(out).argmax(1)
    matrix = torch.bincount(y * 10 + predicted, minlength=100).reshape(10, 10)
    result = {"accuracy": float((predicted == y).float().mean()), "confusion": matrix.tolist()}
json.dump(result, open(OUT, "w"))
''',
    "predict": '''
import numpy as np, torch
from torch import nn
from PIL import Image
''' + "{network}" + LOAD_WEIGHTS + '''
if KIND == "cnn":
    x = torch.from_numpy(np.asarray(Image.open(INPUT).convert("L"), np.float32) / 255).reshape(shape)
else:
    x = torch.from_numpy(np.load(INPUT)["x"]).reshape(shape)
net.eval()
with torch.no_grad():
    print(int(net(x).argmax(1)[0]))
''',
    "sample": '''
import numpy as np, torch
from torch import nn
from PIL import Image
''' + "{network}" + LOAD_WEIGHTS + '''
net.eval()
with torch.no_grad():
    images = torch.sigmoid(net.decoder(torch.randn(64, 32))).reshape(8, 8, 28, 28)
grid = (images.permute(0, 2, 1, 3).reshape(224, 224).numpy() * 255).astype(np.uint8)
Image.fromarray(grid).save(OUT, format="PNG")
''',
    "train": READ_IDX + "{network}" + '''
x = torch.from_numpy(idx("train-images-idx3-ubyte").astype(np.float32) / 255).reshape(shape)
y = torch.from_numpy(idx("train-labels-idx1-ubyte").astype(np.int64))
optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
batch = torch.randperm(len(x))[:128]
out = net(x[batch])
loss = out[0].mean() if KIND == "vae" else nn.functional.cross_entropy(out, y[batch])
loss.backward()
optimizer.step()
from safetensors.torch import save_file
save_file(net.state_dict(), OUT)
''',
}
DATA_OF = {"cnn": "mnist", "vae": "mnist", "lstm": "mnist-rows"}


def plain_script(job: str, kind: str, root: Path) -> list[str]:
    header = (f"DATA = {str(root / 'data')!r}; WEIGHTS = {str(root / f'{kind}.plain.safetensors')!r}; "
              f"KIND = {kind!r}; OUT = {str(root / f'{job}-{kind}.out')!r}; "
              f"INPUT = {str(root / ('digit.png' if kind == 'cnn' else 'row.npz'))!r}\n")
    return [sys.executable, "-c", header + PLAIN[job].replace("{network}", NETWORKS[kind])]


def setup(root: Path, data_dir: Path, env: dict[str, str]) -> None:
    """Train each model 100 steps (not timed); save weights of the plain networks and the inputs."""
    import numpy as np
    from PIL import Image

    (root / "data").symlink_to(data_dir)
    for kind, data in DATA_OF.items():
        extra = ["--latent-dim", "32"] if kind == "vae" else []
        subprocess.run([sys.executable, "-m", "neuralzoo", "train", kind, "--data", data, "--max-steps",
                        "100", "--out", str(root / kind), "--no-progress", *extra], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        code = (f"import torch\nfrom torch import nn\n{NETWORKS[kind]}\nfrom safetensors.torch import "
                f"save_file\nsave_file(net.state_dict(), {str(root / f'{kind}.plain.safetensors')!r})")
        subprocess.run([sys.executable, "-c", code], check=True)
    import gzip

    raw = gzip.open(data_dir / "t10k-images-idx3-ubyte.gz").read()
    first = np.frombuffer(raw, np.uint8, offset=16, count=784).reshape(28, 28)
    Image.fromarray(first).save(root / "digit.png")
    np.savez(root / "row.npz", x=(first[None].astype(np.float32) / 255))


def jobs(root: Path) -> list[tuple[str, str, list[str], list[str]]]:
    """(job, model, neuralzoo argv, plain argv)."""
    nz = [sys.executable, "-m", "neuralzoo"]
    out = []
    for kind in ("cnn", "vae", "lstm"):
        run = str(root / kind)
        options = ["--iw-samples", "1", "--quality-samples", "0"] if kind == "vae" else []
        out.append(("evaluate", kind, [*nz, "evaluate", run, "--out", str(root / f"eval-{kind}"), *options],
                    plain_script("evaluate", kind, root)))
        if kind != "vae":
            source = "digit.png" if kind == "cnn" else "row.npz"
            out.append(("predict", kind, [*nz, "predict", run, "--input", str(root / source),
                                          "--output", str(root / f"predict-{kind}.csv")],
                        plain_script("predict", kind, root)))
        else:
            out.append(("sample", kind, [*nz, "sample", run, "--n", "64", "--output",
                                         str(root / "samples.png")], plain_script("sample", kind, root)))
        extra = ["--latent-dim", "32"] if kind == "vae" else []
        out.append(("train", kind, [*nz, "train", kind, "--data", DATA_OF[kind], "--max-steps", "1",
                                    "--out", str(root / f"train-{kind}"), "--no-progress", *extra],
                    plain_script("train", kind, root)))
    for job in ("--help", "list"):
        out.append((job.strip("-"), "-", [*nz, job], [sys.executable, "-c", "pass"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/fixed_costs.json"))
    args = parser.parse_args()
    env = {**os.environ, "NEURALZOO_DATA": str(args.data_dir), "NEURALZOO_OFFLINE": "1"}
    rows = []
    with tempfile.TemporaryDirectory(prefix="nz-fixed-") as tmp:
        root = Path(tmp)
        setup(root, args.data_dir.resolve(), env)
        for job, kind, ours, plain in jobs(root):
            times = {"neuralzoo": [], "plain": []}
            rss = {"neuralzoo": 0.0, "plain": 0.0}
            for r in range(args.repeats):   # interleaved, alternating which goes first
                for who in (("neuralzoo", "plain") if r % 2 == 0 else ("plain", "neuralzoo")):
                    seconds, peak = timed_process(ours if who == "neuralzoo" else plain, env, root)
                    times[who].append(seconds)
                    rss[who] = max(rss[who], peak)
            command = " ".join(["neuralzoo", *ours[3:]]).replace(tmp, "RUNS")
            row = {"job": job, "model": kind, "command": command,
                   "neuralzoo_seconds": round(statistics.median(times["neuralzoo"]), 3),
                   "plain_seconds": round(statistics.median(times["plain"]), 3),
                   "all_seconds": {k: [round(v, 3) for v in vs] for k, vs in times.items()},
                   "peak_rss_mib": {k: round(v, 1) for k, v in rss.items()}}
            row["ratio"] = round(row["neuralzoo_seconds"] / row["plain_seconds"], 2)
            rows.append(row)
            print(f"{job:9s} {kind:5s} neuralzoo {row['neuralzoo_seconds']:6.2f} s  plain "
                  f"{row['plain_seconds']:6.2f} s  ratio {row['ratio']:5.2f}  peak RSS "
                  f"{rss['neuralzoo']:.0f} / {rss['plain']:.0f} MiB", flush=True)
    # imported last: this process stays small (a child's peak RSS counts the parent's pages until exec)
    from common import environment, write_json

    write_json(args.output, {"benchmark": "fixed_costs", "command": "python benchmarks/fixed_costs.py "
                             + " ".join(sys.argv[1:]), "protocol": __doc__.split("\n\n")[1],
                             "repeats": args.repeats, "rows": rows, "environment": environment()})
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
