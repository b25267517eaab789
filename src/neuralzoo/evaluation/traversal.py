"""What a latent space encodes, as pictures: traversals of a VAE's or autoencoder's code dimensions
around one input's code, and walks along directions of a GAN's noise.

- VAE: one row per latent dimension, ordered by its KL from the prior averaged over data samples,
  KL_d = 0.5 * E[mu_d^2 + sigma_d^2 - log sigma_d^2 - 1] (Kingma & Welling 2014, appendix B): active
  units first (Burda et al. 2016 call a unit active when Cov_x(E_q[z_d]) > 0.01); the dimension moves
  from -span to +span prior standard deviations around the chosen input's code. A collapsed posterior
  (no active unit) or a decoder that ignores its code gives rows of near-identical images: the
  traversal then says so (``CollapseWarning``) rather than drawing them without a word.
- Autoencoder (no prior): ordered by the code's standard deviation over the data, moved by -span to
  +span of that standard deviation.
- GAN: ``random`` directions are unit vectors drawn in noise space; ``principal`` directions are
  those along which the generated images change most, in the spirit of GANSpace (Härkönen et al.
  2020): the principal components of images generated from many noise draws, mapped back to noise
  space by least squares (each component's regression direction on the noise). Rows move the noise
  from -span to +span along one direction; a conditional model keeps one class per call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import warnings

import torch

from ..errors import CollapseWarning, NeuralzooError

if TYPE_CHECKING:
    from ..models.base import Model


@torch.no_grad()
def latent_traversal(model: "Model", x: torch.Tensor, data: torch.Tensor, steps: int = 9,
                     span: float = 3.0, dimensions: int | None = None
                     ) -> tuple[torch.Tensor, list[int], list[float]]:
    """Decoded images (rows * steps, *shape) for the code of ``x`` (one sample), one row per latent
    dimension in order of activity (``data``: samples that measure it); also the order and each
    dimension's activity (VAE: KL in nats; autoencoder: standard deviation of the code)."""
    if not (hasattr(model, "encode") and hasattr(model, "decode")):
        raise NeuralzooError(f"model {model.name!r} has no latent code to traverse (encode and decode)")
    model.eval()
    active = None
    if hasattr(model, "posterior"):
        mu, logvar = model.infer(model.posterior, data)   # (N, L) each
        activity = (0.5 * (mu ** 2 + logvar.exp() - logvar - 1)).mean(0)
        scale = torch.ones_like(activity)   # the prior's standard deviation
        active = int((mu.float().var(0) > ACTIVE_UNIT_VARIANCE).sum()) if len(mu) > 1 else None
    else:
        codes = model.infer(model.encode, data).float()   # (N, L)
        activity = scale = codes.std(0)
    order = activity.argsort(descending=True).tolist()[:dimensions]
    code = model.infer(model.encode, x[None]).float()   # (1, L)
    t = torch.linspace(-span, span, steps)
    rows = []
    for d in order:
        z = code.repeat(steps, 1)
        z[:, d] = z[:, d] + t * scale[d]
        rows.append(z)
    images = model.infer(model.decode, torch.cat(rows))
    _warn_if_collapsed(images.float().view(len(order), steps, -1), data, activity, active)
    return images, order, [round(float(activity[d]), 4) for d in order]


ACTIVE_UNIT_VARIANCE = 0.01   # Burda et al. 2016, Sec. 5.2: unit u is active when Cov_x(E_q[z_u|x]) > 0.01
STILL_CHANGE = 0.01           # a row whose pixels move by less than 1% of the data's range looks still


def _warn_if_collapsed(rows: torch.Tensor, data: torch.Tensor, activity: torch.Tensor,
                       active: int | None) -> None:
    """One line when the picture cannot show what the code encodes: a VAE without an active unit
    (posterior collapse: q(z|x) is the prior whatever x), or rows (dimensions, steps, pixels) whose
    images do not change."""
    spread = float(data.max() - data.min()) or 1.0
    change = float((rows.amax(1) - rows.amin(1)).amax()) / spread   # the most any pixel moves, any row
    still = change < STILL_CHANGE
    if active != 0 and not still:
        return
    looks = (f"the traversed images are near-identical (no pixel moves by more than {change:.1%} of the "
             "data's range)" if still else "the rows show the decoder's response to codes the encoder "
             "never produces")
    if active == 0:
        warnings.warn(f"traversal: posterior collapse: none of the {len(activity)} latent dimensions is "
                      f"active (KL {float(activity.sum()):.2g} nats in all), so the code says almost "
                      f"nothing about the input; {looks}", CollapseWarning, stacklevel=4)
    else:
        warnings.warn(f"traversal: {looks}: the decoder ignores its code", CollapseWarning, stacklevel=4)


@torch.no_grad()
def gan_directions(model: "Model", kind: str = "random", count: int = 8,
                   generator: torch.Generator | None = None, label: int | None = None,
                   draws: int = 2048) -> torch.Tensor:
    """``count`` unit directions (count, latent) in the GAN's noise space (module docstring)."""
    latent = model.latent_draw(1, generator).shape[1]
    if kind == "random":
        u = torch.randn(count, latent, generator=generator)
    elif kind == "principal":
        z = model.latent_draw(draws, generator)   # (M, latent)
        labels = None if label is None else torch.full((draws,), label, dtype=torch.long)
        images = model.infer(model, model.noise(draws, labels, generator, noise=z)).flatten(1)
        images = images - images.mean(0)
        _, _, components = torch.linalg.svd(images, full_matrices=False)   # (M, P) -> (k, P)
        scores = images @ components[:count].T                               # (M, count)
        u = torch.linalg.lstsq(z - z.mean(0), scores - scores.mean(0)).solution.T   # (count, latent)
    else:
        raise NeuralzooError(f"directions {kind!r}: unknown; directions: random, principal")
    return u / u.norm(dim=1, keepdim=True)


@torch.no_grad()
def gan_walks(model: "Model", kind: str = "random", rows: int = 8, steps: int = 9, span: float = 3.0,
              generator: torch.Generator | None = None, label: int | None = None) -> torch.Tensor:
    """Images (rows * steps, *shape): from one noise draw, each row moves along one direction."""
    if not (hasattr(model, "noise") and hasattr(model, "latent_draw")):
        raise NeuralzooError(f"model {model.name!r} is not a GAN: it has no noise to walk along")
    if label is not None and not model.config.conditional:
        raise NeuralzooError(f"this {model.name!r} run is not class-conditional: --label needs a model "
                             "trained with --conditional")
    if label is None and model.config.conditional:   # one class for the whole picture
        label = int(torch.multinomial(model.label_prior.cpu().float(), 1, generator=generator))
    directions = gan_directions(model, kind, rows, generator, label)
    start = model.latent_draw(1, generator)   # (1, latent)
    t = torch.linspace(-span, span, steps)
    z = (start[:, None] + t[None, :, None] * directions[:, None]).flatten(0, 1)   # (rows*steps, latent)
    labels = None if label is None else torch.full((len(z),), label, dtype=torch.long)
    return model.infer(model, model.noise(len(z), labels, generator, noise=z))
