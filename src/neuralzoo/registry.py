"""The model registry: a dict plus a decorator.

Adding a model is a model file with ``@register(CARD)`` on its class, its card (``cards/``, torch-free)
and its name on the import lines of ``neuralzoo/models/__init__.py`` and ``neuralzoo/cards/__init__.py``;
the CLI, the demo and the registry-wide tests pick it up from here.
"""

from __future__ import annotations

from typing import Callable, TypeVar

from .cards import ModelCard
from .errors import NeuralzooError

# name -> its subclass of models.base.Model (not named here: the registry sits below the models)
MODELS: dict[str, type] = {}
T = TypeVar("T")


def register(card: ModelCard) -> Callable[[T], T]:
    """Class decorator: make a model available as ``neuralzoo train NAME`` (``NAME = card.name``) and
    link it to its card (``cls.card``: summary, presets, defaults, demo, search space)."""
    if not isinstance(card, ModelCard):
        raise TypeError(f"register takes the model's card (a neuralzoo.cards.ModelCard), got {card!r}")
    name = card.name

    def decorate(cls: T) -> T:
        if name in MODELS:
            raise ValueError(f"model name {name!r} is already registered by {MODELS[name].__name__}; "
                             f"registered: {', '.join(sorted(MODELS))}")
        cls.name = name  # type: ignore[attr-defined]
        cls.card = card  # type: ignore[attr-defined]
        MODELS[name] = cls  # type: ignore[assignment]
        return cls

    return decorate


def get_model_class(name: str) -> type:
    from . import models  # noqa: F401  (importing the package registers every model)

    if name not in MODELS:
        raise NeuralzooError(f"unknown model {name!r}; choose from: {', '.join(sorted(MODELS))}")
    return MODELS[name]


def model_names() -> list[str]:
    from . import models  # noqa: F401

    return sorted(MODELS)


def model_cards() -> list[ModelCard]:
    """Every model's card, sorted by name, without importing the models (so without torch):
    ``neuralzoo list`` reads these. ``tests/test_model_cards.py`` checks that the cards and the
    registered models name the same models."""
    from .cards import CARDS

    return sorted(CARDS.values(), key=lambda card: card.name)
