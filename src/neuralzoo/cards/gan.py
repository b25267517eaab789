"""The fully connected GAN's card (``models/gan.py``)."""

from .adversarial import ADVERSARIAL_DEFAULTS
from .base import ModelCard

CARD = ModelCard(
    name="gan",
    summary="fully connected GAN (1024-1024 MLPs; non-saturating, minimax, hinge, WGAN-GP; EMA)",
    train_defaults=ADVERSARIAL_DEFAULTS,
    demo={"epochs": 60, "batch_size": 64, "hidden_sizes": (256, 256), "latent_dim": 32},
)
