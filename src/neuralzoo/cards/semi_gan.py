"""The semi-supervised GAN's card (``models/semi_gan.py``)."""

from .base import ModelCard

CARD = ModelCard(
    name="semi_gan",
    summary="semi-supervised GAN classifier: K+1-class discriminator, feature matching (Salimans 2016)",
    # the paper's MNIST code: Adam lr 0.003 (beta1 0.5 in the model's config), constant, 100 labelled + 100
    # unlabelled images per step
    train_defaults={"lr": 3e-3, "batch_size": 100, "labelled_batch_size": 100},
    demo={"epochs": 30, "batch_size": 64, "hidden_sizes": (256, 128, 128), "generator_sizes": (256, 256),
          "latent_dim": 32, "init_samples": 256},
    search_space={"unlabelled_weight": {"type": "float", "low": 0.1, "high": 3.0, "log": True},
                  "hidden_noise": {"type": "float", "low": 0.0, "high": 1.0},
                  "input_noise": {"type": "float", "low": 0.0, "high": 0.5}},
)
