"""Importing this package registers every model: one import line per model file."""

from . import autoencoder, cnn, contrastive, dcgan, gan, inpaint, mlp, rotation, sequence, vae  # noqa: F401
