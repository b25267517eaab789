"""The DCGAN's card (``models/dcgan.py``)."""

from .adversarial import ADVERSARIAL_DEFAULTS
from .base import ModelCard

CARD = ModelCard(
    name="dcgan",
    summary="DCGAN: transposed-conv generator / conv discriminator sized from the data, batch norm",
    train_defaults=ADVERSARIAL_DEFAULTS,
    # lr 1e-3 for the demo's 1.4k steps on 8x8 digits: Fréchet distance 13.6 against the 1,437
    # training images, 85.7 with lr 2e-4 (the recipe's lr, tuned for MNIST's longer runs)
    demo={"epochs": 60, "batch_size": 64, "width": 32, "latent_dim": 32, "lr": 1e-3},
)
