"""The layers only the GANs use (minibatch standard deviation, differentiable augmentation,
class-conditional batch norm): each against its paper's formula, then inside a model that trains."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from gan_helpers import digits_model, finite_steps

import neuralzoo
from neuralzoo.api import build_model, resolve
from neuralzoo.data import load_dataset
from neuralzoo.errors import NeuralzooError
from neuralzoo.models.gan_layers import diff_augment


def test_minibatch_std_appends_the_group_standard_deviation():
    """Karras et al. 2018, Sec. 3: one more channel holding, for each group of samples (i, i + B/g, ...),
    the mean over all features of their standard deviation within the group; its hand-written
    gradient agrees with autograd through torch's own std."""
    from neuralzoo.models.gan_layers import MinibatchStd

    for batch, group in [(8, 4), (6, 3)]:   # 6 is not divisible by 4: the largest divisor below it
        x = torch.randn(batch, 3, 5, 5, dtype=torch.double).contiguous(memory_format=torch.channels_last)
        x.requires_grad_(True)
        out = MinibatchStd(4)(x)
        assert out.shape == (batch, 4, 5, 5) and out.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(out[:, :3], x)
        stride = batch // group
        # torch's var, and the 1e-8 the layer adds under the root (a zero std has no gradient)
        expected = torch.stack([(x[i % stride::stride].var(0, unbiased=False) + 1e-8).sqrt().mean()
                                for i in range(batch)])
        torch.testing.assert_close(out[:, 3], expected[:, None, None].expand(batch, 5, 5))
        weights = torch.randn(batch, dtype=torch.double)
        (grad,) = torch.autograd.grad((out[:, 3, 0, 0] * weights).sum(), x)
        (reference,) = torch.autograd.grad((expected * weights).sum(), x)
        torch.testing.assert_close(grad, reference)


@pytest.mark.parametrize("name", ["gan", "dcgan"])
def test_minibatch_std_discriminator_sees_its_group_and_trains(name):
    model, data, cfg = digits_model(name, minibatch_std=4, spectral_norm=True, loss="hinge",
                                    conditional=True)
    model.eval()   # spectral norm's power iteration moves the weights at every training-mode call
    x, labels = data.train.x[:8] * 2 - 1, data.train.y[:8]
    before = model.critic(x, labels)
    changed = x.clone()
    changed[2] = -1.0   # samples 0, 2, 4, 6 form a group; 1, 3, 5, 7 the other
    after = model.critic(changed, labels)
    assert (after[[0, 4, 6]] != before[[0, 4, 6]]).all()
    torch.testing.assert_close(after[1::2], before[1::2])
    model.train()
    finite_steps(model, data, cfg, 2)
    with pytest.raises(NeuralzooError, match="minibatch_std"):
        digits_model(name, minibatch_std=-1)


def test_diff_augment_translates_and_cuts_out_per_sample():
    """Each sample is its own zero-filled shift by at most round(28 / 8) = 4 pixels (Zhao et al.'s
    ratio 1/8), or has one half-side square set to zero; the gradient reaches exactly the pixels
    that stay in view."""
    x = torch.randn(64, 1, 28, 28).contiguous(memory_format=torch.channels_last).requires_grad_(True)
    moved = diff_augment(x, ("translation",), torch.Generator().manual_seed(0))
    assert moved.shape == x.shape
    shifts = set()
    padded = torch.nn.functional.pad(x.detach(), (4, 4, 4, 4))
    for i in range(len(x)):   # exactly one window of the zero-padded image matches
        found = [(dy, dx) for dy in range(-4, 5) for dx in range(-4, 5)
                 if torch.equal(padded[i, :, 4 - dy:32 - dy, 4 - dx:32 - dx], moved[i].detach())]
        assert len(found) == 1, found
        shifts.add(found[0])
    assert len(shifts) > 20   # the shifts vary from sample to sample
    moved.sum().backward()
    torch.testing.assert_close(x.grad.sum((1, 2, 3)), (moved != 0).sum((1, 2, 3)).float())
    cut = diff_augment(x.detach(), ("cutout",), torch.Generator().manual_seed(1))
    zeroed = cut == 0
    assert (zeroed.sum((1, 2, 3)) == 14 * 14).all()
    rows, cols = zeroed.any(3).squeeze(1), zeroed.any(2).squeeze(1)   # (B, H) and (B, W)
    assert (rows.sum(1) == 14).all() and (cols.sum(1) == 14).all()   # one 14x14 square
    torch.testing.assert_close(cut[~zeroed], x.detach()[~zeroed])
    assert len({int(r.nonzero()[0]) for r in rows}) > 5


@pytest.mark.parametrize("name", ["gan", "dcgan"])
def test_diff_augment_models_train_and_reject_bad_policies(name):
    model, data, cfg = digits_model(name, diff_augment=("translation", "cutout"), conditional=True)
    d_before = [p.detach().clone() for p in model.discriminator.parameters()]
    finite_steps(model, data, cfg, 2)
    assert any(not torch.equal(a, b) for a, b in zip(d_before, model.discriminator.parameters()))
    with pytest.raises(NeuralzooError, match="diff_augment: unknown rotation; choices: translation"):
        digits_model(name, diff_augment=("rotation",))


def test_conditional_batch_norm_scales_and_shifts_per_class():
    """gamma_y BN(x) + beta_y (de Vries et al. 2017) in the 1 + gain form: plain batch norm at
    initialisation, then each sample gets its class's row; mixed labels mix the rows."""
    from neuralzoo.models.gan_layers import ConditionalBatchNorm2d

    layer, plain = ConditionalBatchNorm2d(3, 4), torch.nn.BatchNorm2d(3)
    x, y = torch.randn(6, 3, 5, 5), torch.tensor([0, 1, 2, 3, 1, 0])
    labels = torch.nn.functional.one_hot(y, 4).float()
    torch.testing.assert_close(layer(x, labels), plain(x))
    with torch.no_grad():
        layer.gain.weight.copy_(torch.randn(3, 4))
        layer.shift.weight.copy_(torch.randn(3, 4))
    gain, shift = 1 + layer.gain.weight.T[y], layer.shift.weight.T[y]   # (B, C)
    torch.testing.assert_close(layer(x, labels), plain(x) * gain[:, :, None, None] + shift[:, :, None, None])
    halfway = torch.full((6, 4), 0.25)
    torch.testing.assert_close(layer(x, halfway), plain(x) * (1 + layer.gain.weight.mean(1))[:, None, None]
                               + layer.shift.weight.mean(1)[:, None, None])


def test_dcgan_with_conditional_batch_norm_trains_samples_and_reloads(tmp_path):
    from neuralzoo.training.checkpoint import save_checkpoint

    config = resolve("dcgan", overrides={"data": "digits", "conditional": True,
                                         "conditional_batch_norm": True, "width": 8})
    data = load_dataset(config.data)
    model, cfg = build_model(config, data.info), config.train
    norms = [m for m in model.generator.modules() if type(m).__name__ == "ConditionalBatchNorm2d"]
    assert len(norms) == 1   # 8x8 digits: one upsampling stage, one batch norm before it
    optimizers = finite_steps(model, data, cfg, 3)
    assert norms[0].gain.weight.abs().sum() > 0   # the class tables learn
    save_checkpoint(tmp_path / "m.safetensors", model, optimizers,
                    replace(config, data_info=data.info).to_dict(), {"step": 3})
    loaded = neuralzoo.load(tmp_path / "m.safetensors")
    model.eval()
    draws = [m.sample(4, labels=3, generator=torch.Generator().manual_seed(0)) for m in (model, loaded)]
    assert draws[0].shape == (4, 1, 8, 8)
    torch.testing.assert_close(*draws)
    with pytest.raises(NeuralzooError, match="conditional_batch_norm needs conditional"):
        digits_model("dcgan", conditional=False, conditional_batch_norm=True)
