"""Every model's card (``ModelCard``): summary, presets, training defaults, demo recipe and search
space, torch-free, so ``neuralzoo list`` answers without importing a model.

One card module per model file, with the model file's name (``cards/cnn.py`` beside ``models/cnn.py``);
its name goes on the import line below, and the model's class takes its card in ``@register(CARD)``.
"""

from __future__ import annotations

from types import ModuleType

from . import autoencoder, cnn, contrastive, dcgan, gan, inpaint, mlp, rotation, sequence, vae  # noqa: F401
from .base import ModelCard


def _collect() -> dict[str, ModelCard]:
    """The cards defined in the modules imported above, sorted by name."""
    cards: dict[str, ModelCard] = {}
    for module in [value for value in globals().values() if isinstance(value, ModuleType)]:
        for card in (value for value in vars(module).values() if isinstance(value, ModelCard)):
            if cards.setdefault(card.name, card) is not card:
                raise ValueError(f"two model cards are named {card.name!r}")
    return dict(sorted(cards.items()))


CARDS: dict[str, ModelCard] = _collect()

__all__ = ["CARDS", "ModelCard"]
