"""Sample quality without downloads: feature networks shipped in the package, Fréchet distance,
k-NN precision and recall, and the class histogram of generated samples.

Feature networks: neuralzoo's own classic CNN trained on MNIST (28x28) and on scikit-learn's digits
(8x8) by ``tools/train_feature_networks.py``, stored as weights-only safetensors files in
``neuralzoo/weights/``. Features are the 64 activations of the CNN's penultimate (Dense64 + ReLU) layer;
class predictions come from its last layer. Every reported number names the network and its file hash.

  Fréchet distance (Heusel et al. 2017):  |mu_r - mu_g|^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2))
  precision, recall (Kynkäänniemi et al. 2019, k = 3): the fraction of generated samples inside the
  real manifold (the union of balls reaching each real sample's k-th nearest real neighbour), and of
  real samples inside the generated manifold.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .base import EvaluationContext, Headline, Reporter

from ..data.base import ArrayData

if TYPE_CHECKING:
    from ..models.base import Model

WEIGHTS = Path(__file__).parent.parent / "weights"
FEATURE_NETWORKS = {(1, 28, 28): "mnist_cnn.safetensors", (1, 8, 8): "digits_cnn.safetensors"}


class FeatureNetwork:
    def __init__(self, path: Path) -> None:
        from ..runs import load

        self.model = load(path, device="cpu")
        self.path = path
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        self.name = (f"neuralzoo {path.stem} (classic CNN trained by tools/train_feature_networks.py; "
                     f"64-d penultimate features; sha256 {digest})")

    def __call__(self, x: torch.Tensor, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
        """(features (N, 64), predicted class (N,)) for images in [0, 1]."""
        def features_and_class(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            h = self.model.head[:-1](self.model.features(images.float()))   # (B, 64)
            return h, self.model.head[-1](h).argmax(1)

        return self.model.infer(features_and_class, x, batch_size=batch_size)


@functools.lru_cache(maxsize=4)   # GANs ask every epoch: read and hash the file once
def feature_network(input_shape: tuple[int, ...]) -> FeatureNetwork | None:
    name = FEATURE_NETWORKS.get(tuple(input_shape))
    if not (name and (WEIGHTS / name).is_file()):
        return None
    # building the network draws its initial weights (overwritten by the file) from the global RNG:
    # a fork keeps that out of the training's random stream, which a resumed run must replay exactly
    # (without it, the first build in a process, at the end of a GAN's first epoch, shifted the stream)
    with torch.random.fork_rng(devices=[]):
        return FeatureNetwork(WEIGHTS / name)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^1/2) (Dowson & Landau 1982; FID, Heusel et
    al. 2017). S1 S2 is similar to the symmetric S1^1/2 S2 S1^1/2, so the trace of its square root is
    the sum of the square roots of that matrix's eigenvalues: exact for singular covariances (a dead
    feature unit, fewer samples than features), where scipy's sqrtm of S1 S2 warns and needs the
    reference code's 1e-6 ridge."""
    w, v = np.linalg.eigh(sigma1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T                     # S1^1/2, (D, D)
    cross = np.linalg.eigvalsh(root1 @ sigma2 @ root1)                   # eigenvalues of S1 S2
    trace_root = np.sqrt(np.clip(cross, 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_root)


def statistics(features: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    f = features.double().numpy()
    return f.mean(0), np.cov(f, rowvar=False)


def _kth_radius(points: torch.Tensor, k: int, chunk: int = 2000) -> torch.Tensor:
    radii = []
    for i in range(0, len(points), chunk):
        d = torch.cdist(points[i:i + chunk], points)
        radii.append(d.kthvalue(k + 1, dim=1).values)   # +1: the point itself is at distance 0
    return torch.cat(radii)


def _coverage(queries: torch.Tensor, points: torch.Tensor, radii: torch.Tensor, chunk: int = 2000) -> float:
    inside = []
    for i in range(0, len(queries), chunk):
        d = torch.cdist(queries[i:i + chunk], points)
        inside.append((d <= radii[None]).any(1))
    return float(torch.cat(inside).float().mean())


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    real, fake = real.float(), fake.float()
    return (_coverage(fake, real, _kth_radius(real, k)), _coverage(real, fake, _kth_radius(fake, k)))


def class_histogram(classes: torch.Tensor, num_classes: int) -> dict[str, Any]:
    counts = torch.bincount(classes, minlength=num_classes).double()
    p = counts / counts.sum()
    entropy = float(-(p[p > 0] * p[p > 0].log()).sum())
    return {"class_histogram": [round(v, 4) for v in p.tolist()], "class_entropy_nats": round(entropy, 4),
            "class_entropy_max_nats": round(float(np.log(num_classes)), 4)}


def quality_report(samples: torch.Tensor, real: torch.Tensor, net) -> dict[str, Any]:
    """Fréchet distance, precision, recall and (when ``net`` classifies) the class histogram of
    ``samples`` against ``real``; ``net`` maps images to (features, predicted classes or None)."""
    fake_features, fake_classes = net(samples)
    real_features, _ = net(real)
    precision, recall = precision_recall(real_features, fake_features)
    out = {"feature_network": net.name, "generated": len(samples), "real": len(real),
           "frechet_distance": frechet_distance(*statistics(real_features), *statistics(fake_features)),
           "precision": precision, "recall": recall, "k": 3}
    if fake_classes is not None:
        out.update(class_histogram(fake_classes, net.model.num_classes))
    return out


def generate(model: "Model", n: int, temperature: float = 1.0, batch_size: int = 1000) -> torch.Tensor:
    """``n`` samples of a generative model, z ~ N(0, temperature^2 I), drawn in batches: (n, *shape)."""
    counts = [min(batch_size, n - i) for i in range(0, n, batch_size)]
    return torch.cat([model.sample(count, temperature=temperature).cpu() for count in counts])


def sample_quality(model: "Model", part: ArrayData, out_dir: Path, n: int, seed: int,
                   inception: str | Path | None = None, temperature: float = 1.0) -> dict[str, Any]:
    """The sample-quality block of eval.json for ``n`` samples against ``part`` (and samples.png)."""
    from ..images import save_image_grid

    n = min(n, len(part))
    torch.manual_seed(seed)
    samples = generate(model, n, temperature)
    if model.info.is_image:
        save_image_grid(samples[:64], out_dir / "samples.png", nrow=8)
    out: dict[str, Any] = {}
    if inception is not None:   # the standard FID, with the user's local Inception weights
        from .inception import InceptionFeatures

        out["quality_inception"] = quality_report(samples, part.x[:n], InceptionFeatures(inception))
    net = feature_network(model.info.input_shape)
    if net is None:
        out["quality"] = {"note": f"no shipped feature network for samples of shape "
                                  f"{tuple(model.info.input_shape)}; sample quality not measured"}
        return out
    out["quality"] = {**quality_report(samples, part.x[:n], net), "temperature": temperature}
    return out


class SampleQualityReporter(Reporter):
    """Fréchet distance, precision/recall and the class histogram of ``quality_samples`` generated
    samples (z ~ N(0, temperature^2 I)) against as many samples of the split (GANs and VAEs alike),
    a grid of the first 64, and the standard FID when local Inception weights are given."""

    name = "sample_quality"

    def applies(self, ctx: EvaluationContext) -> bool:
        return hasattr(ctx.model, "sample") and ctx.quality_samples > 0

    def report(self, ctx: EvaluationContext) -> dict[str, Any]:
        return sample_quality(ctx.model, ctx.part, ctx.out_dir, ctx.quality_samples, ctx.seed,
                              ctx.inception, ctx.temperature)

    def headline(self, block: dict[str, Any]) -> Headline | None:
        quality = block.get("quality", {})
        if "frechet_distance" not in quality:
            return None
        return Headline(f"Fréchet distance ({quality['generated']} samples)", quality["frechet_distance"],
                        higher_is_better=False)
