"""The autoencoder's card (``models/autoencoder.py``)."""

from .base import ModelCard
from .latent import LATENT_DEFAULTS, LATENT_SPACE

CARD = ModelCard(
    name="autoencoder",
    summary="autoencoder, MLP or conv, optionally denoising (reduction, compression, anomalies)",
    presets={
        # Hinton & Salakhutdinov 2006's deep autoencoder shape for 2-D codes / latent maps
        "deep": {"model": {"hidden_sizes": (1000, 500, 250)}},
    },
    train_defaults=LATENT_DEFAULTS,
    demo={"epochs": 40, "lr": 3e-3, "schedule": "one-cycle", "batch_size": 64, "latent_dim": 8,
          "hidden_sizes": (128, 64)},
    search_space=LATENT_SPACE,
)
