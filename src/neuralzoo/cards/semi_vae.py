"""The semi-supervised VAE's card (``models/semi_vae.py``: Kingma et al. 2014's M2, and M1+M2)."""

from .base import ModelCard

CARD = ModelCard(
    name="semi_vae",
    summary="semi-supervised VAE classifier: the label as a latent variable (M2; M1+M2 on a vae's codes)",
    # high enough for the fixed-batch registry test; fully labelled digits (the default split, seed 0,
    # batch 64, default architecture): test accuracy 95.3% after 15 epochs, 96.7% after 40
    train_defaults={"lr": 3e-3, "schedule": "one-cycle"},
    demo={"epochs": 40, "lr": 3e-3, "schedule": "one-cycle", "batch_size": 64, "latent_dim": 16,
          "hidden_sizes": (256,)},
    search_space={"latent_dim": {"type": "int", "low": 8, "high": 64, "log": True},
                  "hidden_sizes": {"type": "categorical", "choices": ["256", "500", "600,600"]},
                  "classification_weight": {"type": "float", "low": 0.01, "high": 10.0, "log": True}},
)
