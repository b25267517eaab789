"""The semi-supervised GAN (Salimans et al. 2016): the K+1-class losses against their closed forms,
feature matching, shapes on any input, the labelled + unlabelled batch, learning from few labels,
exact resume through the loop and the checkpoint round trip."""

from __future__ import annotations

import copy
import math

import pytest
import torch

import neuralzoo
from neuralzoo.api import build_model, resolve
from neuralzoo.config import TrainConfig
from neuralzoo.data import load_dataset
from neuralzoo.data.base import DataInfo
from neuralzoo.errors import NeuralzooError
from neuralzoo.models.semi_gan import SemiGAN, SemiGANConfig, feature_matching, unsupervised_terms
from neuralzoo.training.context import StepContext

SMALL = {"hidden_sizes": (64, 32), "generator_sizes": (32,), "latent_dim": 8, "init_samples": 128}


def digits(**fields):
    config = resolve("semi_gan", overrides={"data": "digits", **SMALL, **fields})
    data = load_dataset(config.data)
    return build_model(config, data.info, 0), data


def steps(model, batches, lr: float = 3e-3) -> list[dict]:
    optimizers = model.optimizers(TrainConfig(lr=lr, bf16="off"))
    ctx = StepContext(loss=model.loss, device=torch.device("cpu"), use_bf16=False)
    model.train()
    return [model.train_step(batch, optimizers, ctx) for batch in batches]


def test_unsupervised_terms_match_the_k_plus_one_class_softmax():
    logits = torch.tensor([[0.3, -1.2, 2.0], [-4.0, -3.0, -5.0], [1.0, 1.0, 1.0]], dtype=torch.float64)
    real, fake = unsupervised_terms(logits, logits)
    z = logits.exp().sum(1)   # Z(x) = sum_k exp(l_k); D(x) = Z / (Z + 1)
    assert torch.allclose(real.double(), -torch.log(z / (z + 1)), atol=1e-6)
    assert torch.allclose(fake.double(), torch.log(z + 1), atol=1e-6)
    # the same from a softmax over K + 1 logits whose last ("generated") one is 0
    generated = torch.softmax(torch.cat([logits, torch.zeros(3, 1, dtype=logits.dtype)], 1), 1)[:, -1]
    assert torch.allclose(real.double(), -torch.log(1 - generated), atol=1e-6)
    assert torch.allclose(fake.double(), -torch.log(generated), atol=1e-6)


def test_unsupervised_terms_are_finite_for_extreme_logits():
    logits = torch.tensor([[200.0, 0.0], [-200.0, -300.0]])   # exp overflows / underflows in float32
    real, fake = unsupervised_terms(logits, logits)
    assert torch.isfinite(real).all() and torch.isfinite(fake).all()
    assert real[0] == pytest.approx(0, abs=1e-6) and fake[0] == pytest.approx(200, rel=1e-6)
    assert real[1] == pytest.approx(200, rel=1e-4) and fake[1] == pytest.approx(0, abs=1e-6)


def test_feature_matching_is_zero_exactly_when_the_means_match():
    real = torch.tensor([[1.0, 2.0], [3.0, 0.0], [2.0, 4.0]])
    assert feature_matching(real, real.flip(0)) == 0   # other samples, the same batch mean
    assert feature_matching(real, torch.tensor([[2.0, 2.0]])) == 0
    # means (2, 2) and (0, 4): ((2 - 0)^2 + (2 - 4)^2) / 2 units
    assert feature_matching(real, torch.tensor([[0.0, 4.0], [0.0, 4.0]])).item() == pytest.approx(4.0)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 8, 8), (20,)])
def test_any_input_shape_is_flattened_and_samples_come_back_in_it(shape):
    info = DataInfo(name="x", input_shape=shape, num_classes=4, value_range=(-1.0, 3.0))
    model = SemiGAN(SemiGANConfig(**SMALL), info).eval()
    x = torch.rand(5, *shape)
    assert model(x).shape == (5, 4)
    samples = model.sample(6, generator=torch.Generator().manual_seed(1))
    assert samples.shape == (6, *shape) and samples.min() >= -1 and samples.max() <= 3
    assert model.discriminator(x)[1].shape == (5, SMALL["hidden_sizes"][-1])   # the matched features


def test_without_unlabelled_x_the_labelled_batch_is_the_unlabelled_one_too():
    model, data = digits()
    batch = {**data.train.batch(torch.arange(32)), "step": torch.tensor(0), "noise_seed": torch.tensor(7)}
    plain, doubled, other = model, copy.deepcopy(model), copy.deepcopy(model)
    outputs = [steps(plain, [batch])[0], steps(doubled, [{**batch, "unlabelled_x": batch["x"]}])[0],
               steps(other, [{**batch, "unlabelled_x": data.train.x[100:164]}])[0]]   # B_u != B_l
    assert all(torch.isfinite(v) for out in outputs for v in out.values())
    for (name, a), b, c in zip(plain.state_dict().items(), doubled.state_dict().values(),
                               other.state_dict().values()):
        assert torch.equal(a, b), name
    assert outputs[2]["unsupervised_loss"] != outputs[0]["unsupervised_loss"]
    assert not torch.equal(plain.generator[0].weight, other.generator[0].weight)


def test_few_labels_and_unlabelled_digits_beat_chance():
    torch.manual_seed(0)
    model, data = digits(hidden_sizes=(128, 64, 64), generator_sizes=(128, 128), latent_dim=16)
    train = data.train
    labelled = torch.cat([torch.nonzero(train.y == k).flatten()[:3] for k in range(10)])   # 30 labels
    model.prepare(TrainConfig(), train)
    draw = torch.Generator().manual_seed(0)
    batches = []
    for step in range(150):
        rows = labelled[torch.randint(len(labelled), (32,), generator=draw)]
        batches.append({"x": train.x[rows], "y": train.y[rows], "step": torch.tensor(step),
                        "unlabelled_x": train.x[torch.randint(len(train.x), (64,), generator=draw)],
                        "noise_seed": torch.tensor(step)})
    outputs = steps(model, batches)
    assert outputs[-1]["supervised_loss"] < 0.3 * outputs[0]["supervised_loss"]
    test = data.test
    accuracy = (model.eval().predict(test.x) == test.y).float().mean().item()
    assert accuracy > 0.6, accuracy   # chance: 0.1 (measured: 0.85 with these 30 labels)


def test_data_dependent_initialisation_standardises_the_first_layer():
    model, data = digits()
    model.prepare(TrainConfig(), data.train)
    layer = model.discriminator.hidden[0]
    with torch.no_grad():   # noise-free pre-activations: the noise's variance shrinks them a little
        pre = layer(data.train.x[:512].flatten(1))
    assert pre.mean(0).abs().mean() < 0.2 and 0.5 < pre.std(0).mean() < 1.0
    assert torch.equal(model.averaged_discriminator.hidden[0].bias, layer.bias)


def test_loop_trains_on_labelled_batches_and_resumes_exactly(tmp_path):
    settings = dict(data="digits", epochs=2, batch_size=128, progress=False, verbose=False,
                    baselines=False, **SMALL)   # fully labelled: the loop gives {"x", "y"} batches
    neuralzoo.train("semi_gan", out=tmp_path / "whole", **settings)
    neuralzoo.train("semi_gan", out=tmp_path / "split", **{**settings, "epochs": 1})
    summary = neuralzoo.train(resume=tmp_path / "split", epochs=2)
    whole, split = neuralzoo.load(tmp_path / "whole", "last"), neuralzoo.load(tmp_path / "split", "last")
    for (name, a), b in zip(whole.state_dict().items(), split.state_dict().values()):
        assert torch.equal(a, b), name
    x = load_dataset(resolve("semi_gan", overrides={"data": "digits"}).data).test.x
    assert torch.equal(whole.predict_proba(x), split.predict_proba(x))
    assert summary["final"]["accuracy"] > 0.5   # validation, after 22 steps; chance: 0.1
    generator = torch.Generator().manual_seed(3)
    assert torch.equal(whole.sample(4, generator=generator),
                       split.sample(4, generator=torch.Generator().manual_seed(3)))


def test_bad_settings_name_the_field():
    for field, value in [("hidden_sizes", ()), ("input_noise", -0.1), ("average_decay", 1.0)]:
        with pytest.raises(NeuralzooError, match=field):
            SemiGANConfig(**{field: value})
    assert math.isclose(SemiGANConfig().beta1, 0.5)
