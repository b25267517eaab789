"""What the autoencoder and the VAE share (``models/latent.py``): training defaults, search space."""

# the recipe of benchmarks/ae_vs_pca.py and oneclass_mnist.py. MNIST, 5 epochs, validation split
# (defaults.py): autoencoder squared error 6.86 against 7.49, VAE -ELBO 108.6 against 111.6 (and
# 117.0 with lr 1e-3 cosine) for Adam lr 1e-3 constant
LATENT_DEFAULTS = {"lr": 2e-3, "schedule": "one-cycle"}
LATENT_SPACE = {"latent_dim": {"type": "int", "low": 2, "high": 64, "log": True},
                "hidden_sizes": {"type": "categorical", "choices": ["256", "512,256", "1000,500,250"]}}
