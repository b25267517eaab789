"""The inpainting encoder's card (``models/inpaint.py``)."""

from .base import ModelCard

CARD = ModelCard(
    name="inpaint",
    summary="self-supervised encoder: reconstruct hidden blocks or patches (context / masked AE)",
    train_defaults={"lr": 3e-3, "schedule": "one-cycle"},
    demo={"epochs": 15, "batch_size": 64, "channels": (32, 64), "patch_size": 2},
)
