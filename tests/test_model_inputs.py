"""The Python front door (issue 34): a trained model's predict, predict_proba, anomaly_scores,
reconstruct, log_likelihood and encode take NumPy or torch, any real dtype, one-channel images with
or without the channel axis, and refuse the wrong shape, NaN or unscaled pixels (encode: the shape
only) with one line naming what was expected (they raised raw AttributeError, dtype or conv2d
errors, or classified 0-16 pixels silently)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuralzoo.data import DataInfo
from neuralzoo.errors import NeuralzooError
from neuralzoo.models.autoencoder import Autoencoder, AutoencoderConfig
from neuralzoo.models.cnn import CNN, CNNConfig
from neuralzoo.models.mlp import MLP, MLPConfig
from neuralzoo.models.sequence import RNN, RNNConfig
from neuralzoo.models.vae import VAE, VAEConfig

DIGITS = DataInfo("digits", (1, 8, 8), 10)


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    return CNN(CNNConfig(), DIGITS)


def test_classifier_takes_numpy_any_float_dtype_with_or_without_the_channel_axis(cnn, digits):
    x = digits.test.x[:20]   # (20, 1, 8, 8) float32 in [0, 1]
    expected = cnn.predict_proba(x)
    forms = {"numpy": x.numpy(), "float64": x.double(), "float16 numpy": x.numpy().astype(np.float16),
             "no channel axis": x[:, 0], "numpy float64 without channels": x[:, 0].numpy().astype(np.float64),
             "nested lists": x.tolist()}
    for name, form in forms.items():
        assert torch.allclose(cnn.predict_proba(form), expected, atol=2e-3 if "16" in name else 1e-6), name
    assert torch.equal(cnn.predict(x[:, 0].numpy()), expected.argmax(1))
    pixels = (x * 255).round().to(torch.uint8).numpy() / 255   # 8-bit pixels scaled as training did
    assert cnn.predict_proba(pixels).shape == (20, 10)


@pytest.mark.parametrize("make,words", [
    (lambda x: x * 16, "values in [0, 16]; the model was trained on pixels in [0, 1]"),
    (lambda x: (x * 255).to(torch.uint8), "values in [0, 255]"),
    (lambda x: x.flatten(1), "shape (20, 64); the model takes (N, 1, 8, 8) or (N, 8, 8)"),
    (lambda x: x.expand(-1, 3, -1, -1), "shape (20, 3, 8, 8)"),
    (lambda x: x[0, 0, 0], "shape (8,)"),
    (lambda x: x.masked_fill(x > 0.5, float("nan")), "contains NaN or infinity"),
    (lambda x: x > 0.5, "expected real numbers, got dtype torch.bool"),
    (lambda x: "digits.png", "expected a NumPy array or torch tensor of numbers, got str"),
])
def test_classifier_refuses_bad_input_in_one_line(cnn, digits, make, words):
    with pytest.raises(NeuralzooError) as caught:
        cnn.predict_proba(make(digits.test.x[:20]))
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_latent_models_take_the_same_forms(digits):
    torch.manual_seed(0)
    x = digits.test.x[:10]
    autoencoder = Autoencoder(AutoencoderConfig(), DIGITS)
    scores = autoencoder.anomaly_scores(x)
    assert torch.allclose(autoencoder.anomaly_scores(x[:, 0].numpy().astype(np.float64)), scores, atol=1e-5)
    with torch.no_grad():
        assert torch.allclose(autoencoder.reconstruct(x[:, 0].numpy()), autoencoder.reconstruct(x), atol=1e-6)
        assert torch.allclose(autoencoder.encode(x[:, 0].double()), autoencoder.encode(x), atol=1e-6)
    assert autoencoder.encode(x).shape == (10, autoencoder.config.latent_dim)
    with pytest.raises(NeuralzooError, match=r"x: shape \(10, 8, 9\)"):
        autoencoder.encode(torch.zeros(10, 8, 9))
    with pytest.raises(NeuralzooError, match=r"x: shape \(10, 64\); the model takes \(N, 1, 8, 8\)"):
        autoencoder.anomaly_scores(x.flatten(1).numpy())
    vae = VAE(VAEConfig(latent_dim=2), DIGITS)
    torch.manual_seed(1)
    first = vae.log_likelihood(x[:, 0].numpy(), samples=8)
    torch.manual_seed(1)
    assert torch.allclose(first, vae.log_likelihood(x, samples=8), atol=1e-5) and first.shape == (10,)
    with pytest.raises(NeuralzooError, match="values in"):
        vae.log_likelihood(x * 16, samples=8)


def test_sequences_and_vectors_are_checked_by_their_own_shape():
    torch.manual_seed(0)
    rows = RNN(RNNConfig(), DataInfo("rows", (8, 8), 10))   # an image read row by row
    x = np.random.default_rng(0).random((4, 8, 8))
    assert rows.predict_proba(x).shape == (4, 10)
    assert rows.predict_proba(x[:, :5]).shape == (4, 10)   # any number of steps
    with pytest.raises(NeuralzooError, match=r"shape \(4, 8, 5\); the model takes \(N, steps, 8\)"):
        rows.predict_proba(x[:, :, :5])
    table = MLP(MLPConfig(), DataInfo("table", (6,), 3, value_range=(-3.0, 3.0)))
    assert table.predict_proba(np.full((2, 6), 40.0)).shape == (2, 3)   # features have no fixed range
    with pytest.raises(NeuralzooError, match=r"shape \(2, 5\); the model takes \(N, 6\)"):
        table.predict_proba(np.zeros((2, 5)))
