"""``ModelCard``: how to use a model, apart from what it computes, readable without torch.

A model's class (``models/``) holds the network and its loss; its card holds the facts a user needs
to pick and run it: the line ``neuralzoo list`` shows, named presets, the family's training defaults,
the ``neuralzoo demo`` recipe and ``neuralzoo tune``'s default search space. ``@register(CARD)``
links the class to its card (``cls.card``); ``neuralzoo list`` reads the cards alone, so it starts
without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from ..errors import NeuralzooError

PRESET_SECTIONS = ("model", "train", "data")
SPACE_TYPES = ("float", "int", "categorical")


@dataclass(frozen=True)
class ModelCard:
    """One model's usage facts. Settings are by field name, as in a ``--config`` file: a model field,
    a ``TrainConfig`` or a ``DataConfig`` field (``tests/test_model_cards.py`` resolves every one
    against the model's dataclasses)."""

    name: str                     # the registry name: `neuralzoo train NAME`
    summary: str                  # one line for `neuralzoo list`
    # named partial settings, by section: {"strong": {"model": {...}, "train": {...}, "data": {...}}}
    presets: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)
    # the family's defaults for shared training / data settings (the recipe its benchmark validated),
    # below presets, config files and flags; the learning rate here is also the one the registry-wide
    # test's train steps use
    train_defaults: Mapping[str, Any] = field(default_factory=dict)
    # the settings `neuralzoo demo` trains it with (the data defaults to the embedded digits)
    demo: Mapping[str, Any] = field(default_factory=dict)
    # `neuralzoo tune`'s default space over this family's fields (beside the learning rate and batch
    # size every family gets): name -> {"type": int|float|categorical, "low", "high", "log",
    # "choices"}, the format of a --space file (tuning/space.py)
    search_space: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"model card {self.name!r}"
        if not (isinstance(self.name, str) and self.name.isidentifier() and self.name == self.name.lower()):
            raise NeuralzooError(f"model card: name must be a lower-case identifier, got {self.name!r}")
        if not (isinstance(self.summary, str) and self.summary.strip() and "\n" not in self.summary):
            raise NeuralzooError(f"{where}: summary must be one non-empty line, got {self.summary!r}")
        for preset, sections in self.presets.items():
            unknown = sorted(set(sections) - set(PRESET_SECTIONS))
            if unknown:
                raise NeuralzooError(f"{where}: preset {preset!r} has sections {unknown}; sections: "
                                     f"{', '.join(PRESET_SECTIONS)}")
        for name, spec in self.search_space.items():
            if spec.get("type") not in SPACE_TYPES:
                raise NeuralzooError(f"{where}: search_space {name!r} needs a type in "
                                     f"{', '.join(SPACE_TYPES)}, got {spec.get('type')!r}")

    def preset_settings(self, preset: str) -> dict[str, Any]:
        """The preset's settings in one flat dict (model, then training, then data fields), or a
        one-line error naming the presets there are."""
        if preset not in self.presets:
            raise NeuralzooError(f"unknown preset {preset!r} for model {self.name!r}; choose from: "
                                 f"{', '.join(self.presets) or '(none)'}")
        sections = self.presets[preset]
        return {key: value for section in PRESET_SECTIONS for key, value in sections.get(section, {}).items()}
