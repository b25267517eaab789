"""Every model's card (``ModelCard``): summary, presets, training defaults, demo recipe and search
space, torch-free, so ``neuralzoo list`` answers without importing a model.

One card module per model file, with the model file's name (``cards/cnn.py`` beside ``models/cnn.py``);
its name goes on the import line below (the one line a new model adds: ``models/__init__.py`` imports
the model file of every card module listed here), and the model's class takes its card in
``@register(CARD)``.
"""

from __future__ import annotations

from types import ModuleType

from . import (autoencoder, cnn, contrastive, dcgan, fixmatch, gan, inpaint, mlp, rotation,  # noqa: F401
               semi_gan, semi_vae, sequence, vae)
from .base import ModelCard


def _card_modules() -> list[ModuleType]:
    """The modules imported above that define cards (not the shared family defaults they import)."""
    return [value for value in list(globals().values()) if isinstance(value, ModuleType)
            and any(isinstance(v, ModelCard) for v in vars(value).values())]


def _collect() -> dict[str, ModelCard]:
    """The cards defined in the modules imported above, sorted by name."""
    cards: dict[str, ModelCard] = {}
    for module in _card_modules():
        for card in (value for value in vars(module).values() if isinstance(value, ModelCard)):
            if cards.setdefault(card.name, card) is not card:
                raise ValueError(f"two model cards are named {card.name!r}")
    return dict(sorted(cards.items()))


CARDS: dict[str, ModelCard] = _collect()
# the model files to import: models/NAME.py for every cards/NAME.py above
MODEL_FILES: tuple[str, ...] = tuple(sorted(m.__name__.rsplit(".", 1)[1] for m in _card_modules()))

__all__ = ["CARDS", "MODEL_FILES", "ModelCard"]
