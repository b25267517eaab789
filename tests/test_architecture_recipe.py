"""ARCHITECTURE.md's "Adding a model", followed step by step with a model defined here (a multinomial
logistic regression), then the registry-wide checks run on it. Anything this file needs beyond the
recipe is something the recipe fails to say."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch
from torch import nn

import test_cli as cli_checks
import test_model_cards as card_checks
import test_models as registry_checks
from neuralzoo.cards import CARDS, ModelCard
from neuralzoo.cli import main
from neuralzoo.fields import param
from neuralzoo.data.base import DataInfo
from neuralzoo.errors import NeuralzooError
from neuralzoo.models.classifier import Classifier
from neuralzoo.registry import MODELS, register

# Step 1, cards/logistic.py: the card
CARD = ModelCard(
    name="logistic",
    summary="multinomial logistic regression (one linear layer, softmax)",
    train_defaults={"lr": 1e-2},   # at the 3e-3 fallback, 30 steps end at 0.71 of the first loss
)


# Step 2, models/logistic.py: the model's dataclass and class (defined in a function, so that
# registering it, which step 3's import line does, happens in the fixture below and is undone)
@dataclass
class LogisticConfig:
    init_scale: float = param(0.01, "standard deviation of the initial weights (0: all zeros)")

    def __post_init__(self) -> None:
        if not 0 <= self.init_scale < math.inf:
            raise NeuralzooError(f"init_scale must be 0 or more, got {self.init_scale}")


def define_model() -> type:
    @register(CARD)
    class Logistic(Classifier):
        Config = LogisticConfig

        def __init__(self, config: LogisticConfig, info: DataInfo) -> None:
            super().__init__(config, info)
            self.linear = nn.Linear(math.prod(info.input_shape), self.num_classes)
            nn.init.normal_(self.linear.weight, std=config.init_scale)
            nn.init.zeros_(self.linear.bias)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.linear(x.flatten(1))   # (B, K) logits

    return Logistic


@pytest.fixture(scope="module", autouse=True)
def logistic():
    """Step 3: what the two import lines do (the card into CARDS, the class into the registry), undone
    after this module so the other tests see the registry as shipped."""
    CARDS[CARD.name] = CARD
    try:
        yield define_model()
    finally:
        MODELS.pop(CARD.name, None)
        CARDS.pop(CARD.name, None)


def test_listed_with_its_card(logistic, capsys):
    assert logistic.name == "logistic" and logistic.card is CARD
    assert main(["list"]) == 0
    assert f"logistic     {CARD.summary}\n" in capsys.readouterr().out
    card_checks.test_cards_and_registered_models_name_the_same_models()
    card_checks.test_card_settings_resolve_against_the_model("logistic")


def test_forward_shape():
    registry_checks.test_forward_shape("logistic")


def test_loss_is_finite_scalar():
    registry_checks.test_loss_is_finite_scalar("logistic")


def test_train_steps_lower_loss_on_fixed_batch():
    registry_checks.test_train_steps_lower_loss_on_fixed_batch("logistic")


def test_checkpoint_round_trip(tmp_path):
    registry_checks.test_checkpoint_round_trip("logistic", tmp_path)


def test_help_lists_every_field_with_its_default(cli):
    cli_checks.test_train_model_help_lists_every_field_with_its_default("logistic", cli)


def test_cli_smoke(tmp_path, capsys):
    registry_checks.test_cli_smoke("logistic", tmp_path, capsys)
