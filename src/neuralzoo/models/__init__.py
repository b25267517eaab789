"""Importing this package registers every model: one import line per model file."""

from . import cnn, mlp, sequence  # noqa: F401
