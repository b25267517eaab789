"""The model registry: a dict plus a decorator.

Adding a model is one file with ``@register("name")`` on its class and one import line in
``neuralzoo/models/__init__.py``; the CLI, the demo and the registry-wide tests pick it up from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, TypeVar

from .errors import NeuralzooError

if TYPE_CHECKING:
    from .models.base import Model

MODELS: dict[str, type["Model"]] = {}
T = TypeVar("T")


def register(name: str) -> Callable[[T], T]:
    """Class decorator: make a model available as ``neuralzoo train NAME``."""

    def decorate(cls: T) -> T:
        if name in MODELS:
            raise ValueError(f"model name {name!r} is already registered by {MODELS[name].__name__}; "
                             f"registered: {', '.join(sorted(MODELS))}")
        cls.name = name  # type: ignore[attr-defined]
        MODELS[name] = cls  # type: ignore[assignment]
        return cls

    return decorate


def get_model_class(name: str) -> type["Model"]:
    from . import models  # noqa: F401  (importing the package registers every model)

    if name not in MODELS:
        raise NeuralzooError(f"unknown model {name!r}; choose from: {', '.join(sorted(MODELS))}")
    return MODELS[name]


def model_names() -> list[str]:
    from . import models  # noqa: F401

    return sorted(MODELS)
