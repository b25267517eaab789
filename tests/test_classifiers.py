"""MLP and CNN: architecture details and that training on digits really learns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import neuralzoo
from neuralzoo.data import DataInfo
from neuralzoo.errors import NeuralzooError
from neuralzoo.evaluation import evaluate_run
from neuralzoo.models.cnn import CNN, CNNConfig
from neuralzoo.models.mlp import MLP, MLPConfig

MNIST_INFO = DataInfo("mnist", (1, 28, 28), 10)


def test_classic_cnn_is_the_tutorial_architecture():
    model = CNN(CNNConfig(), MNIST_INFO)
    assert model.padding == "valid"
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64, 64]
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in model.features) == 2
    linears = [m for m in model.head if isinstance(m, torch.nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(576, 64), (64, 10)]
    assert sum(p.numel() for p in model.parameters()) == 93322  # Keras' summary of the same model
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_cnn_adapts_to_small_and_colour_inputs():
    small = CNN(CNNConfig(), DataInfo("digits", (1, 8, 8), 10))
    assert small.padding == "same" and small(torch.zeros(3, 1, 8, 8)).shape == (3, 10)
    colour = CNN(CNNConfig(), DataInfo("rgb", (3, 32, 32), 4))
    assert colour(torch.zeros(2, 3, 32, 32)).shape == (2, 4)
    with pytest.raises(NeuralzooError, match="needs image data"):
        CNN(CNNConfig(), DataInfo("table", (20,), 3))
    with pytest.raises(NeuralzooError, match="too small"):
        CNN(CNNConfig(padding="valid"), DataInfo("digits", (1, 8, 8), 10))


def test_strong_preset_is_the_same_model_with_other_settings():
    from neuralzoo.api import resolve

    config = resolve("cnn", "strong")
    assert config.model == "cnn" and config.model_config.batch_norm is True
    assert config.train.augment != "none"
    assert isinstance(config.model_config, CNNConfig)
    model = CNN(config.model_config, MNIST_INFO)
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize("field, value, message", [
    ("hidden_sizes", (0,), "hidden_sizes"), ("dropout", 1.5, "dropout"),
    ("activation", "swish", "activation must be one of")])
def test_mlp_config_validation_names_the_field(field, value, message):
    with pytest.raises(NeuralzooError, match=message):
        MLPConfig(**{field: value})


def test_private_preset_is_tramer_and_bonehs_strided_tanh_network():
    from neuralzoo.api import resolve

    config = resolve("cnn", "private")
    model = CNN(config.model_config, MNIST_INFO)
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    assert [(c.kernel_size, c.stride, c.padding) for c in convs] == [((8, 8), (2, 2), (2, 2)),
                                                                      ((4, 4), (2, 2), (0, 0))]
    assert [m.stride for m in model.features if isinstance(m, torch.nn.MaxPool2d)] == [1, 1]
    # 28 -> 13 -> 12 -> 5 -> 4: 32 * 4 * 4 features, 26,010 parameters as in their paper's Table 9
    assert model.head[1].in_features == 512 and sum(p.numel() for p in model.parameters()) == 26010
    assert config.train.dp_epsilon == 3.0 and config.data.standardise == "on"


def test_per_block_kernels_strides_and_paddings_set_each_block():
    config = CNNConfig(channels=(8, 16, 16), kernel_sizes=(5, 3, 3), strides=(2, 1, 2), padding="same",
                       pool_after=(2,))
    model = CNN(config, MNIST_INFO)
    x = torch.zeros(2, 1, 28, 28)
    sizes = []
    for layer in model.features:
        x = layer(x)
        sizes.append(x.shape[-1]) if isinstance(layer, torch.nn.Conv2d) else None
    # 'same' keeps the size at stride 1 and halves it (rounding up) at stride 2: 14, 14, pool 7, 4
    assert sizes == [14, 14, 4] and model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_cnn_config_validation_names_the_field():
    with pytest.raises(NeuralzooError, match="strides must hold one integer >= 1 per block"):
        CNNConfig(channels=(8, 16), strides=(2,))
    with pytest.raises(NeuralzooError, match="paddings"):
        CNNConfig(channels=(8, 16), paddings=(-1, 0))
    with pytest.raises(NeuralzooError, match="pool_stride"):
        CNNConfig(pool_stride=3)
    with pytest.raises(NeuralzooError, match="pool_after"):
        CNNConfig(pool_after=(4,))
    with pytest.raises(NeuralzooError, match="channels"):
        CNNConfig(channels=())


def test_mlp_options_build():
    model = MLP(MLPConfig(hidden_sizes=(32, 16), batch_norm=True, dropout=0.1, activation="tanh"),
                DataInfo("v", (10,), 3))
    kinds = [type(m).__name__ for m in model.net]
    assert kinds == ["Flatten", "Linear", "BatchNorm1d", "Tanh", "Dropout", "Linear", "BatchNorm1d",
                     "Tanh", "Dropout", "Linear"]


@pytest.mark.parametrize("name, settings", [
    ("mlp", {"epochs": 15, "lr": 3e-3, "schedule": "one-cycle", "batch_size": 64}),
    ("cnn", {"epochs": 6, "lr": 3e-3, "schedule": "one-cycle", "batch_size": 64}),
])
@pytest.mark.slow
def test_training_on_digits_learns(name, settings, tmp_path):
    summary = neuralzoo.train(name, data="digits", out=tmp_path / name, progress=False, **settings)
    assert summary["final"]["accuracy"] > 0.9  # chance is 0.1
    result = evaluate_run(tmp_path / name, split="test")
    assert result["accuracy"] > 0.9 and result["protocol"]["samples"] == 360
    assert set(result["per_class"]) == {str(d) for d in range(10)}
    assert (tmp_path / name / "confusion.png").exists()
    model = neuralzoo.load(tmp_path / name)
    assert model.training is False and model.info.num_classes == 10


def test_balanced_class_weights(tmp_path, digits):
    from sklearn.utils.class_weight import compute_class_weight

    from neuralzoo.config import TrainConfig

    keep = torch.cat([torch.nonzero(digits.train.y == c)[: 5 + 10 * c, 0] for c in range(10)])
    part = digits.train.subset(keep)
    model = MLP(MLPConfig(), digits.info)
    model.prepare(TrainConfig(class_weights="balanced"), part)
    expected = compute_class_weight("balanced", classes=np.arange(10), y=part.y.numpy())
    assert torch.allclose(model.class_weights, torch.tensor(expected, dtype=torch.float32))
