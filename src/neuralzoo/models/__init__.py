"""Importing this package registers every model: one import line per model file."""

from . import autoencoder, cnn, dcgan, gan, mlp, sequence, vae  # noqa: F401
