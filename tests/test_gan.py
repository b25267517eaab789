"""GANs: training steps, sizes, conditioning, sampling, exact resume, the CLI (the sample-quality
metrics are in test_quality.py, the GAN-only layers in test_gan_layers.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gan_helpers import digits_model, finite_steps

import neuralzoo
from neuralzoo.api import build_model, resolve
from neuralzoo.cli import main
from neuralzoo.errors import NeuralzooError
from neuralzoo.evaluation.quality import feature_network
from neuralzoo.training.context import StepContext


@pytest.mark.parametrize("name", ["gan", "dcgan"])
@pytest.mark.parametrize("loss", ["non-saturating", "minimax", "hinge", "wgan-gp"])
def test_training_steps_move_both_networks(name, loss):
    model, data, cfg = digits_model(name, loss=loss, spectral_norm=loss == "hinge")
    assert cfg.lr == 2e-4   # the DCGAN recipe is the family default
    optimizers = model.optimizers(cfg)
    ctx = StepContext(loss=model.loss, device=torch.device("cpu"), use_bf16=False)
    g_before = [p.detach().clone() for p in model.generator.parameters()]
    d_before = [p.detach().clone() for p in model.discriminator.parameters()]
    ema_before = [p.detach().clone() for p in model.generator_ema.parameters()]
    batch = data.train.batch(torch.arange(32))
    for step in range(3):
        out = model.train_step({**batch, "step": torch.tensor(step)}, optimizers, ctx)
        assert all(torch.isfinite(v) for v in out.values())
    assert all(not torch.equal(a, b) for a, b in zip(g_before, model.generator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d_before, model.discriminator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(ema_before, model.generator_ema.parameters()))
    assert (out["gradient_penalty"] > 0) == (loss == "wgan-gp")


def test_ema_decay_warms_up():
    """u updates in, the EMA keeps min(decay, (1 + u) / (10 + u)) of itself: the first update moves it
    90% of the way to the live generator, so the random initial weights fade out quickly."""
    model, _, _ = digits_model("gan", ema_decay=0.999)
    for updates, decay in [(0, 0.1), (5, 6 / 15), (10 ** 6, 0.999)]:
        with torch.no_grad():
            for p in model.generator.parameters():
                p.add_(1.0)
        before = [p.detach().clone() for p in model.generator_ema.parameters()]
        model.update_ema(updates)
        for old, new, live in zip(before, model.generator_ema.parameters(), model.generator.parameters()):
            torch.testing.assert_close(new, decay * old + (1 - decay) * live)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 64, 64), (1, 8, 8)])
def test_dcgan_is_sized_from_the_data(shape):
    from neuralzoo.data import DataInfo

    from neuralzoo.models.dcgan import halvings

    info = DataInfo("img", shape, num_classes=10)
    model = build_model(resolve("dcgan", overrides={"width": 8, "discriminator_width": 4,
                                                    "conditional": True}), info).eval()
    assert model.sample(3).shape == (3, *shape)
    assert model.sample(2, labels=4).shape == (2, *shape)
    assert model.critic(torch.rand(2, *shape) * 2 - 1, torch.tensor([1, 2])).shape == (2,)
    stages = halvings(info)[0]   # each network doubles its own width at each halving
    assert [m.out_channels for m in model.discriminator if isinstance(m, torch.nn.Conv2d)] == \
        [4 * 2 ** i for i in range(stages)]
    assert [m.in_channels for m in model.generator if isinstance(m, torch.nn.ConvTranspose2d)] == \
        [8 * 2 ** i for i in reversed(range(stages))]


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_dcgan_resize_upsampling_replaces_every_transposed_convolution(shape):
    """upsample=resize (Odena et al. 2016): each doubling is a nearest-neighbour resize then a 3x3
    convolution; the image shape is the same, and the generator trains."""
    from neuralzoo.data import DataInfo

    from neuralzoo.models.dcgan import halvings

    info = DataInfo("img", shape, num_classes=10)
    model = build_model(resolve("dcgan", overrides={"width": 8, "upsample": "resize"}), info).eval()
    assert model.sample(3).shape == (3, *shape)
    layers = list(model.generator)
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in layers)
    resizes = [i for i, m in enumerate(layers) if isinstance(m, torch.nn.Upsample)]
    assert len(resizes) == halvings(info)[0]
    assert all(isinstance(layers[i + 1], torch.nn.Conv2d) and layers[i + 1].kernel_size == (3, 3)
               for i in resizes)
    model, data, cfg = digits_model("dcgan", upsample="resize", width=8)
    before = [p.detach().clone() for p in model.generator.parameters()]
    finite_steps(model, data, cfg, 2)
    assert all(not torch.equal(a, b) for a, b in zip(before, model.generator.parameters()))
    with pytest.raises(NeuralzooError, match="upsample must be one of: transposed, resize; got 'bilinear'"):
        digits_model("dcgan", upsample="bilinear")


def test_projection_discriminator_adds_the_embedding_dot_product():
    """Miyato & Koyama 2018, eq. 3: D(x, y) = head(h(x)) + <embed(y), h(x)>."""
    model, data, _ = digits_model("dcgan", conditional=True, width=8, discriminator_depth=2,
                                  spectral_norm=False)   # its power iteration would move D between calls
    x, labels = data.train.x[:5] * 2 - 1, data.train.y[:5]
    h = model.discriminator(x)
    expected = model.head(h).squeeze(1) + (model.projection(labels) * h).sum(1)
    torch.testing.assert_close(model.critic(x, labels), expected)
    convs = [m for m in model.discriminator.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [m.kernel_size for m in convs] == [(4, 4), (3, 3)]   # 8x8 digits: one stage, depth 2
    with pytest.raises(NeuralzooError, match="discriminator_depth"):
        digits_model("dcgan", discriminator_depth=0)
    with pytest.raises(NeuralzooError, match="discriminator_width must be >= 0"):
        digits_model("dcgan", discriminator_width=-1)


def test_discriminator_lr_ratio_scales_only_the_discriminator_optimizer():
    model, _, cfg = digits_model("gan", discriminator_lr_ratio=4.0, beta1=0.0, beta2=0.9)
    g_opt, d_opt = model.optimizers(cfg)
    assert g_opt.param_groups[0]["lr"] == pytest.approx(2e-4)
    assert d_opt.param_groups[0]["lr"] == pytest.approx(8e-4)
    assert d_opt.param_groups[0]["peak_lr"] == pytest.approx(8e-4)   # schedules scale from it
    assert d_opt.param_groups[0]["betas"] == (0.0, 0.9)
    with pytest.raises(NeuralzooError, match="discriminator_lr_ratio"):
        digits_model("gan", discriminator_lr_ratio=0.0)


def test_sampling_errors():
    model, _, _ = digits_model("gan", conditional=False)
    with pytest.raises(NeuralzooError, match="not class-conditional"):
        model.sample(2, labels=3)
    conditional, _, _ = digits_model("gan", conditional=True)
    with pytest.raises(NeuralzooError, match="label 12 outside 0..9"):
        conditional.sample(2, labels=12)
    with pytest.raises(NeuralzooError, match="square images"):
        digits_model("dcgan", data="digits-rows")
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(NeuralzooError, match="temperature must be a positive number"):
            conditional.sample(2, temperature=bad)


def test_sampling_temperature_scales_the_noise_not_the_labels():
    model, _, _ = digits_model("gan", conditional=True)
    model.eval()
    z = model.noise(6, torch.arange(6), torch.Generator().manual_seed(0))
    hot = model.noise(6, torch.arange(6), torch.Generator().manual_seed(0), temperature=1.5)
    torch.testing.assert_close(hot[:, :100], 1.5 * z[:, :100])
    torch.testing.assert_close(hot[:, 100:], z[:, 100:])   # the one-hot label part
    torch.testing.assert_close(model.sample(6, torch.arange(6), torch.Generator().manual_seed(0), 1.5),
                               model(hot))


@pytest.mark.slow
def test_conditional_gan_draws_the_asked_digit(tmp_path):
    neuralzoo.train("gan", out=tmp_path / "c", data="digits", conditional=True, epochs=80,
                    batch_size=64, hidden_sizes=(256, 256), latent_dim=32, progress=False)
    model = neuralzoo.load(tmp_path / "c")
    net = feature_network(model.info.input_shape)
    assert net is not None, "the digits feature network ships with the package"
    torch.manual_seed(0)
    hits = [(net(model.sample(50, labels=digit))[1] == digit).float().mean().item() for digit in range(10)]
    assert np.mean(hits) > 0.6, hits   # chance is 0.1


def test_unlabelled_samples_follow_the_training_label_frequencies():
    """A conditional GAN models p(x) = sum_y p(y) p(x|y): labels it draws itself follow the training
    labels' frequencies (here made imbalanced), not a uniform distribution."""
    from neuralzoo.data.base import ArrayData

    model, data, cfg = digits_model("gan", conditional=True, hidden_sizes=(16,), latent_dim=4)
    y = torch.cat([torch.zeros(700, dtype=torch.long), torch.arange(10).repeat(30)])   # 0: 73%
    model.prepare(cfg, ArrayData(x=data.train.x[:len(y)], y=y))
    drawn = model.noise(20000, generator=torch.Generator().manual_seed(0))[:, -10:].argmax(1)
    frequencies = torch.bincount(drawn, minlength=10) / len(drawn)
    assert abs(frequencies[0].item() - 0.73) < 0.02 and (frequencies[1:] - 0.03).abs().max() < 0.01
    # the prior is saved with the weights; checkpoints from before it load with the uniform prior
    state = model.state_dict()
    fresh, *_ = digits_model("gan", conditional=True, hidden_sizes=(16,), latent_dim=4)
    fresh.load_state_dict(state)
    assert torch.allclose(fresh.label_prior, model.label_prior)
    del state["label_prior"]
    fresh.load_state_dict(state)
    assert torch.allclose(fresh.label_prior, torch.full((10,), 0.1, dtype=fresh.label_prior.dtype))


def test_resume_restores_both_optimizers_exactly(tmp_path):
    settings = dict(data="digits", epochs=2, batch_size=256, hidden_sizes=(64,), latent_dim=8,
                    progress=False, loss="wgan-gp", d_steps=2)
    # as in a fresh process: the per-epoch class histogram builds the feature network inside "whole"
    # (its construction once shifted the training's random stream, so only the first run differed)
    feature_network.cache_clear()
    neuralzoo.train("gan", out=tmp_path / "whole", **settings)
    neuralzoo.train("gan", out=tmp_path / "split", **{**settings, "epochs": 1})
    neuralzoo.train(resume=tmp_path / "split", epochs=2)
    whole, split = neuralzoo.load(tmp_path / "whole", "last"), neuralzoo.load(tmp_path / "split", "last")
    for (name, a), b in zip(whole.state_dict().items(), split.state_dict().values()):
        assert torch.equal(a, b), name
    assert (tmp_path / "whole" / "samples" / "epoch_0002.png").exists()


def test_gan_cli(tmp_path, capsys):
    run = tmp_path / "dc"
    assert main(["train", "dcgan", "--data", "digits", "--max-steps", "4", "--width", "8",
                 "--conditional", "--out", str(run), "--no-progress"]) == 0
    assert main(["sample", str(run), "--n", "12", "--label", "7"]) == 0
    assert np.load(run / "samples.npz")["samples"].shape == (12, 1, 8, 8)
    assert main(["interpolate", str(run), "--steps", "4", "--pairs", "2"]) == 0
    assert (run / "interpolation.png").exists()
    assert main(["evaluate", str(run), "--quality-samples", "300"]) == 0
    quality = __import__("json").loads((run / "eval.json").read_text())["quality"]
    assert quality["generated"] == 300 and "digits_cnn" in quality["feature_network"]
    assert 0 <= quality["precision"] <= 1 and quality["frechet_distance"] > 0
    assert len(quality["class_histogram"]) == 10 and quality["temperature"] == 1.0
    assert main(["embed", str(run)]) == 2
    assert "cannot encode" in capsys.readouterr().err
    assert main(["evaluate", str(run), "--quality-samples", "300", "--temperature", "1.2"]) == 0
    hotter = __import__("json").loads((run / "eval.json").read_text())["quality"]
    assert hotter["temperature"] == 1.2 and hotter["frechet_distance"] != quality["frechet_distance"]
    assert main(["sample", str(run), "--n", "4", "--temperature", "0"]) == 2
    assert capsys.readouterr().err.strip().endswith("temperature must be a positive number, got 0.0")
