"""Autoencoder and VAE: reference checks against closed forms, shapes, capabilities, anomaly scores."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

import neuralzoo
from neuralzoo.api import build_model, resolve
from neuralzoo.data import DataConfig, DataInfo, load_dataset
from neuralzoo.errors import NeuralzooError


def make(name: str, info: DataInfo, **model_fields):
    return build_model(resolve(name, overrides=model_fields), info, seed=0)


IMAGES_8 = DataInfo("img8", (1, 8, 8))
IMAGES_28 = DataInfo("img28", (1, 28, 28))
IMAGES_RGB = DataInfo("rgb", (3, 32, 32))
VECTORS = DataInfo("vec", (5,), value_range=(-3.0, 3.0))


def test_kl_matches_torch_distributions():
    model = make("vae", IMAGES_8, latent_dim=6)
    x = torch.rand(7, 1, 8, 8)
    mu, logvar = model.posterior(x)
    _, _, kl = model.log_weights(x, 1)
    reference = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1)
    torch.testing.assert_close(kl, reference, rtol=1e-5, atol=1e-5)


def linear_gaussian_vae(exact_posterior: bool):
    """p(z) = N(0, I), p(x|z) = N(W z + b, s^2 I): then p(x) = N(b, W W^T + s^2 I) in closed form.
    With orthogonal columns of W the true posterior is diagonal, so the encoder can represent it."""
    torch.manual_seed(0)
    dim, latent, s2 = 5, 2, 0.3
    model = make("vae", VECTORS, latent_dim=latent, hidden_sizes=(), decoder="gaussian")
    q, _ = torch.linalg.qr(torch.randn(dim, latent))
    w = q * torch.tensor([2.0, 0.7])          # orthogonal columns, different scales
    b = torch.randn(dim)
    decoder = model.decoder[0]                # hidden_sizes=(): one Linear layer
    encoder = model.encoder[1]
    with torch.no_grad():
        decoder.weight.copy_(w)
        decoder.bias.copy_(b)
        model.output_logvar.fill_(math.log(s2))
        encoder.weight.zero_()
        encoder.bias.zero_()
        if exact_posterior:   # Sigma = (I + W^T W / s2)^-1 (diagonal), mean = Sigma W^T (x - b) / s2
            precision = 1 + (w ** 2).sum(0) / s2
            encoder.weight[:latent] = (w / s2 / precision).T
            encoder.bias[:latent] = -(w / s2 / precision).T @ b
            encoder.bias[latent:] = -precision.log()
    marginal = torch.distributions.MultivariateNormal(b, w @ w.T + s2 * torch.eye(dim))
    return model.eval(), marginal


def test_importance_sampling_is_exact_with_the_true_posterior():
    model, marginal = linear_gaussian_vae(exact_posterior=True)
    x = marginal.sample((20,))
    torch.testing.assert_close(model.log_likelihood(x, samples=3), marginal.log_prob(x),
                               rtol=1e-4, atol=1e-4)


def test_importance_sampling_converges_with_the_prior_as_proposal():
    model, marginal = linear_gaussian_vae(exact_posterior=False)
    x = marginal.sample((10,))
    torch.manual_seed(1)
    estimate = model.log_likelihood(x, samples=20000, budget=4096)
    assert (estimate - marginal.log_prob(x)).abs().max() < 0.05
    # the one-sample ELBO is a lower bound, clearly below log p(x) for this poor proposal
    assert (-model.negative_elbo(x, samples=200) < marginal.log_prob(x) - 0.1).all()


def test_iwae_bound_tightens_with_k():
    model, marginal = linear_gaussian_vae(exact_posterior=False)   # a poor proposal: loose bounds
    x = marginal.sample((200,))
    torch.manual_seed(0)
    bounds = [(torch.logsumexp(model.log_weights(x, k)[0], 0) - math.log(k)).mean().item()
              for k in (1, 10, 200)]
    assert bounds[0] + 0.1 < bounds[1] < bounds[2] < marginal.log_prob(x).mean().item()


@pytest.mark.parametrize("name", ["autoencoder", "vae"])
@pytest.mark.parametrize("info", [IMAGES_8, IMAGES_28, IMAGES_RGB], ids=["8x8", "28x28", "rgb32"])
@pytest.mark.parametrize("architecture", ["mlp", "conv"])
def test_shapes(name, info, architecture):
    model = make(name, info, architecture=architecture, latent_dim=3).eval()
    x = torch.rand(4, *info.input_shape)
    assert model.encode(x).shape == (4, 3)
    assert model.decode(torch.randn(5, 3)).shape == (5, *info.input_shape)
    assert model(x).shape == x.shape
    assert model.interpolate(x[0], x[1], steps=6).shape == (6, *info.input_shape)
    assert model.anomaly_scores(x).shape == (4,)
    assert hasattr(model, "sample") == (name == "vae")
    if name == "vae":
        assert model.sample(7).shape == (7, *info.input_shape)
        z = torch.randn(7, 3, generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(model.sample(7, torch.Generator().manual_seed(0), temperature=0.5),
                                   model.decode(0.5 * z))   # z ~ N(0, 0.25 I)
        out = model.loss({"x": x})
        assert set(out) == {"loss", "nelbo", "reconstruction", "kl"}
        assert model.log_likelihood(x, samples=4).shape == (4,)


def test_interpolation_ends_are_the_reconstructions():
    model = make("autoencoder", IMAGES_8).eval()
    x = torch.rand(2, 1, 8, 8)
    walk = model.interpolate(x[0], x[1], steps=5)
    torch.testing.assert_close(walk[[0, -1]], model.reconstruct(x), rtol=1e-5, atol=1e-5)


def test_likelihood_follows_the_data_range():
    assert make("vae", IMAGES_8).likelihood == "bernoulli"
    assert make("vae", VECTORS).likelihood == "gaussian"
    assert make("autoencoder", VECTORS).likelihood == "gaussian"
    with pytest.raises(NeuralzooError, match=r"Bernoulli likelihood needs data in \[0, 1\]"):
        make("vae", VECTORS, decoder="bernoulli")
    with pytest.raises(NeuralzooError, match="architecture 'conv' needs image data"):
        make("autoencoder", VECTORS, architecture="conv")
    with pytest.raises(NeuralzooError, match="too small"):
        make("vae", IMAGES_8, architecture="conv", channels=(8, 8, 8, 8))


@pytest.mark.parametrize("field,value,message", [
    ("latent_dim", 0, "latent_dim must be a positive"), ("iw_samples", 0, "iw_samples must be"),
    ("beta", 0.0, "beta must be positive"), ("kl_warmup_steps", -1, "kl_warmup_steps must be"),
])
def test_vae_config_validation(field, value, message):
    with pytest.raises(NeuralzooError, match=message):
        resolve("vae", overrides={field: value})


def test_kl_warmup_is_a_function_of_the_step():
    model = make("vae", IMAGES_8, kl_warmup_steps=10, beta=2.0)
    weight = lambda step: float(model.kl_weight({"step": torch.tensor(step)}))  # noqa: E731
    assert (weight(0), weight(5), weight(50)) == (0.0, pytest.approx(1.0), 2.0)
    assert model.kl_weight({}) == 2.0   # evaluation batches carry no step: the full weight
    x = torch.rand(16, 1, 8, 8)
    torch.manual_seed(0)
    early = model.loss({"x": x, "step": torch.tensor(0)})
    torch.manual_seed(0)
    late = model.loss({"x": x, "step": torch.tensor(10)})
    assert early["loss"].item() == pytest.approx(early["reconstruction"].item())
    assert late["loss"].item() == pytest.approx((late["reconstruction"] + 2 * late["kl"]).item())


def test_dynamic_binarization_draws_fresh_pixels_and_fixes_the_test_set():
    data = load_dataset(DataConfig(data="digits", binarize="dynamic", binarize_seed=3))
    index = torch.arange(50)
    first, second = data.train.batch(index)["x"], data.train.batch(index)["x"]
    assert set(first.unique().tolist()) <= {0.0, 1.0} and not torch.equal(first, second)
    again = load_dataset(DataConfig(data="digits", binarize="dynamic", binarize_seed=3))
    assert torch.equal(data.test.x, again.test.x)
    assert set(data.test.x.unique().tolist()) == {0.0, 1.0}
    assert "binarize_seed 3" in data.info.description
    # the draws follow the stored intensities: mean of many draws ~ the intensity
    mean = torch.stack([data.train.batch(index)["x"] for _ in range(400)]).mean(0)
    assert (mean - data.train.x[index]).abs().max() < 0.12


def test_binarize_rejects_values_outside_unit_interval(tmp_path):
    import numpy as np

    np.savez(tmp_path / "a.npz", x=np.random.randn(20, 3).astype("float32"), y=np.arange(20) % 2)
    with pytest.raises(NeuralzooError, match="binarize: .* Bernoulli draws need values in"):
        load_dataset(DataConfig(data=str(tmp_path / "a.npz"), binarize="static"))


def test_train_classes_keep_test_intact():
    data = load_dataset(DataConfig(data="digits", train_classes=("3", "5")))
    assert set(data.train.y.unique().tolist()) == {3, 5} and set(data.val.y.unique().tolist()) == {3, 5}
    assert len(data.test.y.unique()) == 10
    with pytest.raises(NeuralzooError, match="train_classes: no class 11"):
        load_dataset(DataConfig(data="digits", train_classes=("11",)))


def test_anomaly_scores_rank_an_obvious_outlier_first(tmp_path):
    neuralzoo.train("autoencoder", out=tmp_path / "ae", data="digits", epochs=15, lr=3e-3,
                    batch_size=64, latent_dim=8, hidden_sizes=(64,), progress=False, val_fraction=0.1)
    model = neuralzoo.load(tmp_path / "ae")
    test = load_dataset(DataConfig(data="digits")).test.x[:100]
    noise = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    scores = model.anomaly_scores(torch.cat([test, noise]))
    assert scores[100:].min() > scores[:100].max()
    assert scores[:100].mean() < 0.25 * scores[100:].mean()
