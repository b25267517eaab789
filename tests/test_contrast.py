"""Global contrast normalisation (data option ``contrast=gcn``): the transform, where its constants
come from, and that a trained model applies its own constants to any data it is given."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import neuralzoo
from neuralzoo.data import DataConfig, load_dataset, read_inputs
from neuralzoo.data.contrast import apply_contrast, fit_contrast, normalise
from neuralzoo.errors import NeuralzooError
from neuralzoo.evaluation import eval_data_config, load_eval_data


def test_gcn_removes_brightness_and_contrast():
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    g = normalise(x)
    flat = g.flatten(1)
    torch.testing.assert_close(flat.mean(1), torch.zeros(6), atol=1e-6, rtol=0)
    torch.testing.assert_close(flat.abs().mean(1), torch.ones(6), atol=1e-5, rtol=0)
    torch.testing.assert_close(normalise(3.0 * x + 0.7), g, atol=1e-5, rtol=0)   # invariance
    assert torch.equal(normalise(torch.full((2, 4), 0.3)), torch.zeros(2, 4))   # no 0 / 0


def test_constants_come_from_the_training_part_only():
    data = load_dataset(DataConfig(data="digits", contrast="gcn", train_classes=("3",)))
    raw = load_dataset(DataConfig(data="digits", train_classes=("3",)))
    spec = data.info.contrast
    assert spec == fit_contrast(raw.train.x, raw.train.source)   # the digit-3 training images alone
    assert data.train.x.min() == 0 and data.train.x.max() == 1     # training data spans [0, 1]
    assert data.test.x.min() >= 0 and data.test.x.max() <= 1       # the rest is clipped to it
    torch.testing.assert_close(data.test.x, apply_contrast(raw.test.x, spec))
    assert "global contrast normalisation" in data.info.description
    assert data.info.value_range == (0.0, 1.0)


def test_contrast_is_checked():
    with pytest.raises(NeuralzooError, match="contrast must be one of: none, gcn"):
        DataConfig(contrast="zca")
    with pytest.raises(NeuralzooError, match="contrast: 'gcn' applies to images and feature vectors"):
        load_dataset(DataConfig(data="sunspots", contrast="gcn"))


def test_a_model_uses_its_own_constants_on_other_data(tmp_path):
    neuralzoo.train("autoencoder", out=tmp_path / "ae", data="digits", contrast="gcn", epochs=1,
                    train_classes=("0",), latent_dim=4, hidden_sizes=(16,), progress=False)
    model = neuralzoo.load(tmp_path / "ae")
    spec = model.info.contrast
    raw = load_dataset(DataConfig(data="digits")).test.x[:20]
    refitted = fit_contrast(raw, "the new data")
    assert (refitted["low"], refitted["high"]) != (spec["low"], spec["high"])   # so the test can fail
    np.savez(tmp_path / "x.npz", x=raw.numpy())
    x, _, _ = read_inputs(str(tmp_path / "x.npz"), model.info)   # predict / reconstruct / detect inputs
    torch.testing.assert_close(x, apply_contrast(raw, spec))
    # evaluation on another data set (here all ten digits, from a file) keeps the model's constants
    np.savez(tmp_path / "all.npz", x=raw.numpy(), y=np.arange(20) % 10)
    data = load_eval_data(model, eval_data_config(model, {"data": str(tmp_path / "all.npz"),
                                                          "val_fraction": 0.0,
                                                          "test_fraction": 0.0}))
    assert data.info.contrast == spec
    torch.testing.assert_close(data.train.x, apply_contrast(raw, spec))
