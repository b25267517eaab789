"""Evaluation of autoencoders and VAEs: reconstruction error, likelihood, posterior diagnostics.

Likelihood (VAE): the importance-sampled estimate of log p(x) with k samples from q(z|x)
(Burda et al. 2016, Sec. 5; their Table 1 uses k = 5000), reported as the mean negative
log-likelihood in nats per example with its standard error over examples.
Active units (Burda et al. 2016, Sec. 5.2): latent unit u is active when Cov_x(E_q[z_u | x]) > 0.01;
a unit whose posterior mean does not vary with the input carries no information (posterior collapse).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from .data.base import ArrayData
from .images import save_image_grid
from .models.latent import LatentModel


@torch.no_grad()
def reconstruction_errors(model: LatentModel, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Squared error of each sample's reconstruction, summed over features: (N,)."""
    out = [((model.reconstruct(b) - b) ** 2).flatten(1).sum(1).cpu()
           for b in (x[i:i + batch_size].to(model.device) for i in range(0, len(x), batch_size))]
    return torch.cat(out) if out else torch.empty(0)


@torch.no_grad()
def posterior_diagnostics(model: LatentModel, x: torch.Tensor, batch_size: int = 1000) -> dict[str, Any]:
    mus, kls = [], []
    for i in range(0, len(x), batch_size):
        mu, logvar = model.posterior(x[i:i + batch_size].to(model.device))
        mus.append(mu.cpu())
        kls.append((0.5 * (mu ** 2 + logvar.exp() - logvar - 1)).sum(0).cpu())
    mu = torch.cat(mus)  # (N, L)
    variance = mu.var(0) if len(mu) > 1 else torch.zeros(mu.shape[1])
    kl = torch.stack(kls).sum(0) / len(x)
    return {"active_units": int((variance > 0.01).sum()), "latent_dim": int(mu.shape[1]),
            "active_unit_threshold": 0.01,
            "posterior_mean_variance": [round(v, 5) for v in variance.tolist()],
            "kl_per_dimension": [round(v, 5) for v in kl.tolist()], "kl_total": float(kl.sum())}


@torch.no_grad()
def likelihood_report(model: LatentModel, x: torch.Tensor, samples: int,
                      batch_size: int = 1000) -> dict[str, Any]:
    start = time.perf_counter()
    nelbo = torch.cat([model.negative_elbo(x[i:i + batch_size].to(model.device)).cpu()
                       for i in range(0, len(x), batch_size)])
    log_px = model.log_likelihood(x, samples)
    nll = -log_px
    n = len(x)
    return {"nelbo": float(nelbo.mean()), "nll": float(nll.mean()),
            "nll_standard_error": float(nll.std() / n ** 0.5) if n > 1 else 0.0,
            "iw_samples": samples, "seconds": round(time.perf_counter() - start, 2),
            "units": "nats per example (sum over features, mean over examples)",
            **posterior_diagnostics(model, x)}


@torch.no_grad()
def latent_report(model: LatentModel, part: ArrayData, out_dir: Path, iw_samples: int,
                  seed: int = 0) -> dict[str, Any]:
    """Reconstruction error for every latent model, the likelihood block for VAEs, and pictures
    (reconstructions.png) for image data; samples are judged by evaluate.sample_quality."""
    torch.manual_seed(seed)   # the Monte Carlo estimates below are reproducible
    x = part.x
    errors = reconstruction_errors(model, x)
    result: dict[str, Any] = {"squared_error": float(errors.mean()),
                              "squared_error_units": "sum over features of (x - reconstruction)^2, "
                                                     "mean over examples", "eval_seed": seed}
    if hasattr(model, "log_likelihood"):
        result["likelihood"] = likelihood_report(model, x, iw_samples)
    if model.info.is_image and len(x):
        save_reconstructions(model, x[:16], out_dir / "reconstructions.png")
    return result


@torch.no_grad()
def save_reconstructions(model: LatentModel, x: torch.Tensor, path: Path) -> Path:
    """Originals (top row) above their reconstructions (bottom row)."""
    x = x.to(model.device)
    return save_image_grid(torch.cat([x, model.reconstruct(x)]).cpu(), path, nrow=len(x))
