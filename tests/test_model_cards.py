"""Model cards (``neuralzoo/cards/``): the cards and the registered models name the same models, and
every setting a card names (training defaults, presets, demo, search space) resolves against the
model's dataclasses. The per-model checks take a registry name, so tests/test_architecture_recipe.py
runs them on its own model too."""

from __future__ import annotations

import pytest

from neuralzoo.api import resolve
from neuralzoo.cards import CARDS, ModelCard
from neuralzoo.errors import NeuralzooError
from neuralzoo.registry import MODELS, model_cards, model_names
from neuralzoo.tuning.space import build_space


def test_cards_and_registered_models_name_the_same_models():
    assert [card.name for card in model_cards()] == model_names()
    assert all(MODELS[card.name].card is card for card in model_cards())


@pytest.mark.parametrize("name", model_names())
def test_card_settings_resolve_against_the_model(name):
    card = MODELS[name].card
    defaults = resolve(name)   # the card's train_defaults sit below everything else
    for key, value in card.train_defaults.items():
        section = defaults.train if hasattr(defaults.train, key) else defaults.data
        assert getattr(section, key) == value, key
    for preset in card.presets:   # unknown names or bad values raise NeuralzooError
        settings = card.preset_settings(preset)
        resolved = resolve(name, preset=preset)
        assert resolved.preset == preset
        flat = {**vars(resolved.model_config), **vars(resolved.train), **vars(resolved.data)}
        assert all(flat[key] == (tuple(v) if isinstance(v, list) else v) for key, v in settings.items())
    resolve(name, overrides=dict(card.demo))
    space = build_space(MODELS[name], None)
    assert set(card.search_space) <= set(space)
    for dimension in (space[key] for key in card.search_space):   # every end and choice is valid
        values = dimension.choices if dimension.kind == "categorical" else (dimension.low, dimension.high)
        for value in values:
            resolve(name, overrides={dimension.name: value})


def test_card_refuses_what_it_cannot_describe():
    with pytest.raises(NeuralzooError, match="model card: name must be a lower-case identifier"):
        ModelCard(name="My Model", summary="x")
    with pytest.raises(NeuralzooError, match="model card 'm': summary must be one non-empty line"):
        ModelCard(name="m", summary="two\nlines")
    with pytest.raises(NeuralzooError, match="model card 'm': preset 'p' has sections \\['optim'\\]"):
        ModelCard(name="m", summary="x", presets={"p": {"optim": {"lr": 1.0}}})
    with pytest.raises(NeuralzooError, match="model card 'm': search_space 'lr' needs a type in float"):
        ModelCard(name="m", summary="x", search_space={"lr": {"low": 1e-4, "high": 1e-2}})


def test_preset_settings_flatten_the_sections_and_name_the_presets():
    card = CARDS["vae"]
    assert card.preset_settings("iwae") == {"hidden_sizes": (200, 200), "latent_dim": 50,
                                            "activation": "tanh", "iw_samples": 5, "binarize": "dynamic"}
    with pytest.raises(NeuralzooError, match="unknown preset 'fast' for model 'vae'; choose from: iwae"):
        card.preset_settings("fast")
    with pytest.raises(NeuralzooError, match="unknown preset 'fast' for model 'gan'; choose from: \\(none\\)"):
        CARDS["gan"].preset_settings("fast")
