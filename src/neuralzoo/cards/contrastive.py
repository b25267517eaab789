"""The SimCLR encoder's card (``models/contrastive.py``)."""

from .base import ModelCard

CARD = ModelCard(
    name="contrastive",
    summary="self-supervised encoder: SimCLR, two augmented views and the NT-Xent loss (Chen 2020)",
    train_defaults={"lr": 3e-3, "schedule": "one-cycle", "batch_size": 256},
    demo={"epochs": 20, "batch_size": 128, "channels": (32, 64)},
)
