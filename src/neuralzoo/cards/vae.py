"""The variational autoencoder's card (``models/vae.py``)."""

from .base import ModelCard
from .latent import LATENT_DEFAULTS, LATENT_SPACE

CARD = ModelCard(
    name="vae",
    summary="variational autoencoder, MLP or conv, Bernoulli/Gaussian decoder, beta, IWAE bound",
    presets={
        # Burda et al. 2016's one-stochastic-layer architecture (784-200-200-50, tanh), trained with
        # the k=5 importance-weighted bound; benchmarks/vae_nll.py uses it on binarized MNIST
        "iwae": {"model": {"hidden_sizes": (200, 200), "latent_dim": 50, "activation": "tanh",
                           "iw_samples": 5},
                 "data": {"binarize": "dynamic"}},
    },
    train_defaults=LATENT_DEFAULTS,
    demo={"epochs": 60, "lr": 3e-3, "schedule": "one-cycle", "batch_size": 64, "latent_dim": 8,
          "hidden_sizes": (128, 64), "kl_warmup_steps": 200},
    search_space=LATENT_SPACE,
)
