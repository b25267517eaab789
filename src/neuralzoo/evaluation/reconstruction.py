"""Autoencoders and VAEs: reconstruction error, likelihood, posterior diagnostics.

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

from ..images import save_image_grid
from ..models.latent import LatentModel
from ..models.vae import gaussian_kl
from .base import EvaluationContext, Headline, Reporter


def squared_errors(model: LatentModel, b: torch.Tensor) -> torch.Tensor:
    """Squared error of each sample's reconstruction, summed over features: (B,)."""
    return ((model.reconstruct(b) - b) ** 2).flatten(1).sum(1)


def reconstruction_errors(model: LatentModel, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """``squared_errors`` of every sample of ``x``: (N,)."""
    return model.infer(lambda b: squared_errors(model, b), x, batch_size=batch_size)


def latent_pass(model: LatentModel, x: torch.Tensor, batch_size: int = 256) -> dict[str, Any]:
    """One pass over ``x``: the means of ``model.loss``'s metrics, each sample's squared
    reconstruction error and, for a VAE, its posterior means and KL per latent unit (N, L)."""
    keys: list[str] = []

    def rows(b: torch.Tensor) -> tuple[torch.Tensor, ...]:
        losses = model.loss({"x": b})
        keys[:] = list(losses)
        means = torch.stack([v.float() for v in losses.values()]).expand(len(b), -1)   # (B, M)
        errors = squared_errors(model, b)                                               # (B,)
        if not hasattr(model, "posterior"):
            return means, errors
        mu, logvar = model.posterior(b)   # (B, L) each
        return means, errors, mu, gaussian_kl(mu, logvar)

    out = model.infer(rows, x, batch_size=batch_size)
    # each batch's means repeated per sample: their mean is the sample-weighted mean over batches
    result = {"metrics": dict(zip(keys, out[0].mean(0).tolist())), "errors": out[1]}
    if len(out) == 4:
        result.update(mu=out[2], kl=out[3])
    return result


def posterior_diagnostics(mu: torch.Tensor, kl: torch.Tensor) -> dict[str, Any]:
    """Active units and KL per unit from posterior means and KLs (N, L) (Burda et al. 2016)."""
    variance = mu.var(0) if len(mu) > 1 else torch.zeros(mu.shape[1])
    kl = kl.mean(0)
    return {"active_units": int((variance > 0.01).sum()), "latent_dim": int(mu.shape[1]),
            "active_unit_threshold": 0.01,
            "posterior_mean_variance": [round(v, 5) for v in variance.tolist()],
            "kl_per_dimension": [round(v, 5) for v in kl.tolist()], "kl_total": float(kl.sum())}


@torch.no_grad()
def likelihood_report(model: LatentModel, x: torch.Tensor, samples: int,
                      measured: dict[str, Any] | None = None) -> dict[str, Any]:
    """-ELBO, the importance-sampled NLL with ``samples`` draws, posterior diagnostics; ``measured``:
    ``latent_pass``'s result when the caller has one (else it is computed here)."""
    start = time.perf_counter()
    measured = measured or latent_pass(model, x)
    nll = -model.log_likelihood(x, samples)
    n = len(x)
    return {"nelbo": measured["metrics"]["nelbo"], "nll": float(nll.mean()),
            "nll_standard_error": float(nll.std() / n ** 0.5) if n > 1 else 0.0,
            "iw_samples": samples, "seconds": round(time.perf_counter() - start, 2),
            "units": "nats per example (sum over features, mean over examples)",
            **posterior_diagnostics(measured["mu"], measured["kl"])}


class ReconstructionReporter(Reporter):
    """Reconstruction error for every latent model, the likelihood block for VAEs (reproducible
    Monte Carlo: seeded with the run's training seed), and reconstructions.png for image data."""

    name = "reconstruction"

    def applies(self, ctx: EvaluationContext) -> bool:
        return hasattr(ctx.model, "reconstruct")

    def report(self, ctx: EvaluationContext) -> dict[str, Any]:
        from ..errors import NeuralzooError

        if ctx.iw_samples < 1:
            raise NeuralzooError(f"iw_samples must be a positive integer, got {ctx.iw_samples}")
        model, x = ctx.model, ctx.part.x
        torch.manual_seed(ctx.seed)
        measured = latent_pass(model, x)   # one pass: the loss metrics, errors and posteriors
        ctx.metrics = measured["metrics"]
        errors = measured["errors"]
        result: dict[str, Any] = {"squared_error": float(errors.mean()),
                                  "squared_error_units": "sum over features of (x - reconstruction)^2, "
                                                         "mean over examples", "eval_seed": ctx.seed}
        if hasattr(model, "log_likelihood"):
            result["likelihood"] = likelihood_report(model, x, ctx.iw_samples, measured)
        if model.info.is_image and len(x):
            save_reconstructions(model, x[:16], ctx.out_dir / "reconstructions.png")
        return result

    def headline(self, block: dict[str, Any]) -> Headline:
        if "likelihood" in block:
            return Headline(f"NLL (k={block['likelihood']['iw_samples']}, nats)",
                            block["likelihood"]["nll"], higher_is_better=False)
        return Headline("squared error / example", block["squared_error"], higher_is_better=False)


@torch.no_grad()
def save_reconstructions(model: LatentModel, x: torch.Tensor, path: Path) -> Path:
    """Originals (top row) above their reconstructions (bottom row)."""
    x = x.to(model.device)
    return save_image_grid(torch.cat([x, model.reconstruct(x)]).cpu(), path, nrow=len(x))
