"""The semi-supervised VAE's card (``models/semi_vae.py``: Kingma et al. 2014's M2, and M1+M2)."""

from .base import ModelCard

CARD = ModelCard(
    name="semi_vae",
    summary="semi-supervised VAE classifier: the label as a latent variable (M2; M1+M2 on a vae's codes)",
    # Kingma et al. trained with an Adam-like RMSProp at 3e-4 for many epochs; 3e-3 one-cycle gets the
    # fixed-batch registry test's loss down in 30 steps and the digits pilot to its accuracy in ~10 epochs
    train_defaults={"lr": 3e-3, "schedule": "one-cycle"},
    demo={"epochs": 40, "lr": 3e-3, "schedule": "one-cycle", "batch_size": 64, "latent_dim": 16,
          "hidden_sizes": (256,)},
    search_space={"latent_dim": {"type": "int", "low": 8, "high": 64, "log": True},
                  "hidden_sizes": {"type": "categorical", "choices": ["256", "500", "600,600"]},
                  "classification_weight": {"type": "float", "low": 0.01, "high": 10.0, "log": True}},
)
