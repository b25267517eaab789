"""The semi-supervised VAE (Kingma et al. 2014's M2, and M1+M2): its bounds against closed forms worked
out here by hand, the batches it takes with and without unlabelled samples, learning from a few labels,
and M1+M2 on a trained vae run."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

import neuralzoo
from neuralzoo.api import resolve
from neuralzoo.config import TrainConfig
from neuralzoo.data import DataInfo
from neuralzoo.errors import NeuralzooError
from neuralzoo.models.semi_vae import SemiVAE, SemiVAEConfig
from neuralzoo.training.checkpoint import save_checkpoint
from neuralzoo.training.context import StepContext

TOY = DataInfo(name="toy", input_shape=(3,), num_classes=2, value_range=(0.0, 1.0))


def deterministic_toy(seed: int = 0) -> SemiVAE:
    """K = 2 classes of 3 features; q(z|x,y)'s variance pinned near 0 (log-variance -30 whatever the
    input), so z = mu to 1e-6 and the bound is a function of the weights alone, draws aside."""
    torch.manual_seed(seed)
    model = SemiVAE(SemiVAEConfig(latent_dim=2, hidden_sizes=(4,)), TOY)
    last = model.encoder[-1]
    with torch.no_grad():
        last.weight[2:] = 0
        last.bias[2:] = -30.0
    return model


def bound_by_hand(model: SemiVAE, x: torch.Tensor, y: int) -> float:
    """-ELBO(x, y) of one example: Bernoulli -log p(x|y,z) at z = mu, KL(N(mu, e^-30) || N(0, 1)) and
    -log p(y) = log 2, each written out from its definition."""
    onehot = torch.tensor([1.0 - y, float(y)])
    mu, logvar = model.encoder(torch.cat([x, onehot])[None])[0].chunk(2)
    p = torch.sigmoid(model.decoder(torch.cat([mu, onehot])[None])[0])
    reconstruction = -(x * p.log() + (1 - x) * (1 - p).log()).sum()
    kl = 0.5 * (mu ** 2 + logvar.exp() - logvar - 1).sum()
    return float(reconstruction + kl + math.log(2))


@torch.no_grad()
def test_the_bounds_and_the_objective_match_their_closed_forms():
    model = deterministic_toy()
    generator = torch.Generator().manual_seed(1)
    x, u = torch.rand(3, 3, generator=generator), torch.rand(4, 3, generator=generator)
    y = torch.tensor([0, 1, 1])
    out = model.loss({"x": x, "y": y, "unlabelled_x": u, "noise_seed": torch.tensor(5)})
    labelled = [bound_by_hand(model, x[i], int(y[i])) for i in range(3)]
    unlabelled = []
    for row in u:   # U(x) = sum_y q(y|x) L(x, y) - H(q(y|x)), K = 2 written out
        q1 = torch.sigmoid(model.classifier(row[None])[0, 1] - model.classifier(row[None])[0, 0])
        q = [1 - float(q1), float(q1)]
        entropy = -sum(p * math.log(p) for p in q)
        unlabelled.append(q[0] * bound_by_hand(model, row, 0) + q[1] * bound_by_hand(model, row, 1) - entropy)
    logits = model.classifier(x)
    cross_entropy = -sum(float(logits[i].log_softmax(0)[y[i]]) for i in range(3)) / 3
    assert out["labelled_nelbo"].item() == pytest.approx(sum(labelled) / 3, rel=1e-5)
    assert out["unlabelled_loss"].item() == pytest.approx(sum(unlabelled) / 4, rel=1e-5)
    assert out["classification"].item() == pytest.approx(cross_entropy, rel=1e-5)
    # J / N on the batch: the 7 rows by their numbers, alpha / N = 0.1 on the labelled cross-entropy
    assert out["loss"].item() == pytest.approx((sum(labelled) + sum(unlabelled)) / 7 + 0.1 * cross_entropy,
                                               rel=1e-5)
    # without unlabelled samples (fully labelled training, validation): the labelled part alone
    alone = model.loss({"x": x, "y": y})
    assert "unlabelled_loss" not in alone
    assert alone["loss"].item() == pytest.approx(sum(labelled) / 3 + 0.1 * cross_entropy, rel=1e-5)


def test_the_unlabelled_bound_trains_the_classifier_and_draws_are_seeded():
    model = SemiVAE(SemiVAEConfig(latent_dim=2, hidden_sizes=(8,), classification_weight=0.0), TOY)
    x, u = torch.rand(4, 3), torch.rand(6, 3)
    batch = {"x": x, "y": torch.tensor([0, 1, 0, 1]), "noise_seed": torch.tensor(3)}
    model.loss(batch)["loss"].backward()   # no classification weight, no unlabelled rows: q(y|x) untouched
    assert all(p.grad is None or not p.grad.any() for p in model.classifier.parameters())
    model.loss({**batch, "unlabelled_x": u})["loss"].backward()   # U(x) weighs the classes by q(y|x)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.classifier.parameters())
    seeded = {**batch, "unlabelled_x": u}
    assert torch.equal(model.loss(seeded)["loss"], model.loss(seeded)["loss"])   # resume replays them
    other = {**seeded, "noise_seed": torch.tensor(4)}
    assert not torch.equal(model.loss(seeded)["loss"], model.loss(other)["loss"])


def test_shapes_samples_and_bad_settings(digits):
    model = SemiVAE(SemiVAEConfig(latent_dim=4, hidden_sizes=(16,)), digits.info)
    x = digits.train.x[:5]
    assert model(x).shape == (5, 10) and model.predict_proba(x).shape == (5, 10)
    images = model.sample(6, labels=3, generator=torch.Generator().manual_seed(0))
    assert images.shape == (6, 1, 8, 8) and 0 <= images.min() and images.max() <= 1
    assert model.sample(4, labels=torch.tensor([0, 1, 2, 3])).shape == (4, 1, 8, 8)
    with pytest.raises(NeuralzooError, match="labels must be in 0..9"):
        model.sample(2, labels=10)
    conv = SemiVAE(SemiVAEConfig(architecture="conv", channels=(8, 16), latent_dim=4), digits.info)
    out = conv.loss({"x": x, "y": digits.train.y[:5], "unlabelled_x": digits.train.x[5:9]})
    assert conv(x).shape == (5, 10) and torch.isfinite(out["loss"])
    with pytest.raises(NeuralzooError, match="classification_weight"):
        SemiVAEConfig(classification_weight=-1.0)
    with pytest.raises(NeuralzooError, match="activation"):
        SemiVAEConfig(activation="swish")


def accuracy(model: SemiVAE, data) -> float:
    return float((model.predict(data.test.x) == data.test.y).float().mean())


def test_a_few_labels_and_the_rest_unlabelled_teach_the_classifier(digits):
    """5 labels per class (50 of the 1,293 training digits), every other training image unlabelled, in
    batches built as the loop builds them with --labels: well above chance (10%) on the test split."""
    torch.manual_seed(0)
    train = digits.train
    labelled = torch.cat([torch.nonzero(train.y == c)[:5, 0] for c in range(10)])
    rest = torch.ones(len(train.y), dtype=torch.bool)
    rest[labelled] = False
    pool = train.x[rest]
    model = SemiVAE(SemiVAEConfig(latent_dim=8, hidden_sizes=(128,)), digits.info)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    ctx = StepContext(loss=model.loss, device=torch.device("cpu"), use_bf16=False)
    before = accuracy(model, digits)
    for step in range(150):
        pick = torch.randint(len(pool), (64,))
        batch = {"x": train.x[labelled], "y": train.y[labelled], "unlabelled_x": pool[pick],
                 "step": torch.tensor(step), "noise_seed": torch.tensor(step)}
        model.train_step(batch, [optimizer], ctx)
    assert accuracy(model, digits) > max(0.6, before + 0.4)


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("m1") / "vae"
    neuralzoo.train("vae", out=out, data="digits", hidden_sizes=(32,), latent_dim=6, epochs=1, max_steps=5,
                    progress=False, verbose=False, baselines=False, device="cpu")
    return out


def test_m1_plus_m2_reads_a_frozen_vae_run_and_round_trips(vae_run, digits, tmp_path):
    config = resolve("semi_vae", overrides={"encoder_run": str(vae_run), "latent_dim": 4,
                                            "hidden_sizes": (16,)})
    config = replace(config, data_info=digits.info)
    model = config.model_class(config.model_config, digits.info)
    m1 = neuralzoo.load(vae_run)
    x, y = digits.train.x[:32], digits.train.y[:32]
    assert torch.equal(model.m1.posterior(x)[0], m1.posterior(x)[0])   # M1's trained encoder, as saved
    frozen = {k: v.clone() for k, v in model.m1.state_dict().items()}
    optimizers = model.optimizers(TrainConfig())
    ctx = StepContext(loss=model.loss, device=torch.device("cpu"), use_bf16=False)
    for step in range(3):
        model.train_step({"x": x, "y": y, "unlabelled_x": digits.train.x[32:48],
                          "noise_seed": torch.tensor(step)}, optimizers, ctx)
    assert all(torch.equal(v, model.m1.state_dict()[k]) for k, v in frozen.items())
    # M2 models the 6-dimensional codes; its samples go back through M1's decoder to images
    assert model.decoder[-2].out_features == 6
    assert model.sample(3, labels=1).shape == (3, 1, 8, 8)
    save_checkpoint(tmp_path / "m.safetensors", model, optimizers, config.to_dict(), {"step": 3})
    loaded = neuralzoo.load(tmp_path / "m.safetensors")
    model.eval()
    assert torch.allclose(loaded(x), model(x), atol=1e-6)


def test_m1_plus_m2_refuses_what_is_not_a_vae_run(tmp_path, run_dir, vae_run, digits):
    with pytest.raises(NeuralzooError, match=r"trained on samples of shape \(1, 8, 8\)"):
        SemiVAE(SemiVAEConfig(encoder_run=str(vae_run)), TOY)
    with pytest.raises(NeuralzooError, match="no such run directory"):
        SemiVAE(SemiVAEConfig(encoder_run=str(tmp_path / "none")), digits.info)
    with pytest.raises(NeuralzooError, match="needs a 'vae' run"):
        SemiVAE(SemiVAEConfig(encoder_run=str(run_dir)), digits.info)
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(NeuralzooError, match="not a neuralzoo checkpoint"):
        SemiVAE(SemiVAEConfig(encoder_run=str(tmp_path / "junk.safetensors")), digits.info)


@pytest.mark.slow   # two trainings through the loop
def test_a_crashed_run_resumes_to_the_reference_weights(tmp_path, monkeypatch):
    """Fully labelled training through the loop (a supervised M2); its draws are functions of (seed,
    step), so a crash and --resume end on the weights of the uninterrupted run, bit for bit."""
    from neuralzoo.training.checkpoint import read_checkpoint

    run = dict(data="digits", epochs=2, batch_size=64, progress=False, verbose=False, checkpoint_every=5,
               bf16="off", baselines=False, hidden_sizes=(32,), latent_dim=4, kl_warmup_steps=30)
    neuralzoo.train("semi_vae", out=tmp_path / "ref", **run)
    original, calls = SemiVAE.train_step, {"n": 0}

    def crashing(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 28:   # three steps after the checkpoint at step 25
            raise RuntimeError("simulated crash")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SemiVAE, "train_step", crashing)
    with pytest.raises(RuntimeError, match="simulated crash"):
        neuralzoo.train("semi_vae", out=tmp_path / "run", **run)
    monkeypatch.undo()
    neuralzoo.train(resume=tmp_path / "run", verbose=False)
    reference, resumed = (read_checkpoint(tmp_path / r / "checkpoints" / "last.safetensors")[0]
                          for r in ("ref", "run"))
    assert [k for k in reference if not torch.equal(reference[k], resumed[k])] == []
