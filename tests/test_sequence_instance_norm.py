"""Reversible instance normalisation (RevIN, Kim et al. ICLR 2022) of the recurrent forecasters:
scale equivariance (with the skip, ensembles, the affine and a transform), amplitudes beyond the
training range, the least-squares skip in the normalised space, and config errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuralzoo.config import TrainConfig
from neuralzoo.data import DataConfig, DataInfo, load_dataset
from neuralzoo.errors import NeuralzooError
from neuralzoo.registry import get_model_class
from neuralzoo.training.context import StepContext


def make(info: DataInfo, **config):
    cls = get_model_class("gru")
    torch.manual_seed(0)
    return cls(cls.Config(**config), info)


def series(tmp_path, values, **data):
    (tmp_path / "s.csv").write_text("v\n" + "".join(f"{v}\n" for v in values))
    return load_dataset(DataConfig(data=str(tmp_path / "s.csv"), val_fraction=0.0, **data))


def fit(model, batch, steps=300, lr=1e-2):
    opt = model.optimizers(TrainConfig(lr=lr))
    ctx = StepContext(loss=model.loss, device=torch.device("cpu"), use_bf16=False)
    model.train()
    for _ in range(steps):
        model.train_step(batch, opt, ctx)
    model.eval()


@pytest.mark.parametrize("options", [{}, {"linear_skip": True}, {"members": 3},
                                     {"linear_skip": True, "members": 2, "instance_affine": True}])
@pytest.mark.parametrize("mode,moves", [("standardise", ((3.0, 5.0), (0.5, -20.0))),
                                        ("level", ((3.0, 0.0), (0.5, 0.0)))])
def test_forecasts_are_scale_and_shift_equivariant(tmp_path, options, mode, moves):
    """forecast(a*x + b) == a*forecast(x) + b (a > 0; b = 0 for level) in the data's units, for
    one model with fixed training statistics: holds with instance_norm (the affine included),
    fails without it."""
    data = series(tmp_path, 50 + 40 * np.sin(np.arange(200) / 3), lookback=8)
    history = torch.from_numpy(30 + 20 * np.cos(np.arange(8) / 2) + np.arange(8))   # (8,) unseen
    for norm in ("none", mode):
        model = make(data.info, hidden_size=8, instance_norm=norm,
                     **{k: v for k, v in options.items() if norm != "none" or k != "instance_affine"})
        if norm != "none" and options.get("instance_affine"):   # away from its identity init
            with torch.no_grad():
                for member in [model, *getattr(model, "others", [])]:
                    member.norm_log_scale.fill_(0.4)
                    member.norm_shift.fill_(-0.3)
        base = model.forecast(history, 1)[0, 0].item()
        for a, b in moves:
            moved = model.forecast(a * history + b, 1)[0, 0].item()
            assert (moved == pytest.approx(a * base + b, rel=1e-4, abs=1e-3)) == (norm != "none"), \
                (norm, a, b, moved, base)


def test_level_keeps_the_zero_floor_visible(tmp_path):
    """level divides by the window's mean level and does not shift: forecasts of a shifted window
    are not the shifted forecast, unlike standardise (the network sees where zero is)."""
    data = series(tmp_path, 50 + 40 * np.sin(np.arange(200) / 3), lookback=8)
    model = make(data.info, hidden_size=8, instance_norm="level")
    history = torch.from_numpy(30 + 20 * np.cos(np.arange(8) / 2))
    z, _ = model.normalise(((history[:, None] - model.mean) / model.std)[None].float())
    assert torch.allclose(z[0, :, 0].double(), history / history.abs().mean(), atol=1e-5)
    shifted = model.forecast(history + 40, 1)[0, 0].item()
    assert shifted != pytest.approx(model.forecast(history, 1)[0, 0].item() + 40, rel=1e-3)


def test_equivariance_holds_in_the_transformed_space(tmp_path):
    """With --transform sqrt the network sees sqrt(values): scaling and shifting sqrt(history)
    scales and shifts sqrt(forecast); the forecast itself is in the data's units (squared back)."""
    data = series(tmp_path, 50 + 40 * np.sin(np.arange(200) / 3), lookback=8, transform="sqrt")
    model = make(data.info, hidden_size=8, linear_skip=True, instance_norm="standardise")
    root = torch.from_numpy(5 + 2 * np.sin(np.arange(8) / 2))   # sqrt of an unseen history
    base = model.forecast(root ** 2, 1)[0, 0].item()
    moved = model.forecast((2.0 * root + 1.0) ** 2, 1)[0, 0].item()
    assert moved >= 0 and np.sqrt(moved) == pytest.approx(2.0 * np.sqrt(base) + 1.0, rel=1e-4)


@pytest.mark.slow
def test_instance_norm_forecasts_amplitudes_beyond_the_training_range(tmp_path):
    """A cycle whose amplitude triples after the training part (the sunspots' situation in the
    1950s): the saturating network alone cannot reach the new peaks, the instance-normalised one
    forecasts them from the shape it learned at the old amplitude."""
    t = np.arange(400)
    values = np.where(t < 320, 1.0, 3.0) * np.sin(2 * np.pi * t / 11)
    data = series(tmp_path, values, lookback=11, test_fraction=0.2)
    assert data.test.y.abs().max() > 2 * data.train.y.abs().max()
    errors = {}
    for norm in ("none", "standardise", "level"):
        model = make(data.info, hidden_size=16, instance_norm=norm, linear_skip=False)
        fit(model, data.train.batch(torch.arange(len(data.train))))
        with torch.no_grad():
            errors[norm] = (model(data.test.x) - data.test.y).pow(2).mean().item()
    assert max(errors["standardise"], errors["level"]) < 0.1 * errors["none"], errors


def test_least_squares_skip_is_fitted_in_the_normalised_space(tmp_path):
    """linear_fit least-squares with instance_norm: the frozen AR term maps normalised windows to
    normalised targets, so its de-normalised forecast is that least-squares fit."""
    rng = np.random.default_rng(0)
    data = series(tmp_path, 50 + 40 * np.sin(np.arange(300) / 3) + rng.standard_normal(300), lookback=6)
    model = make(data.info, hidden_size=8, linear_skip=True, linear_fit="least-squares", instance_norm="standardise")
    model.prepare(TrainConfig(), data.train)
    x, y = data.train.x[..., 0].double(), data.train.y[:, 0, 0].double()
    mu, sigma = x.mean(1, keepdim=True), (x.var(1, keepdim=True, unbiased=False) + 1e-5).sqrt()
    design = torch.cat([(x - mu) / sigma, torch.ones(len(x), 1, dtype=x.dtype)], 1)
    coef = torch.linalg.lstsq(design, (y[:, None] - mu) / sigma, driver="gelsd").solution[:, 0]
    # the normalised inputs sum to 0: the design is rank-deficient, the minimum-norm solution is kept
    assert torch.allclose(model.skip.weight[0].double(), coef[:-1], atol=1e-4)
    with torch.no_grad():
        linear = model.denormalise(model.skip(model.normalise(data.train.x)[0].flatten(1))[:, :, None],
                                   model.normalise(data.train.x)[1])[:, 0, 0].double()
    assert torch.allclose(linear, (design @ coef) * sigma[:, 0] + mu[:, 0], atol=1e-3)
    assert not model.skip.weight.requires_grad


def test_instance_norm_config_errors_name_the_field():
    with pytest.raises(NeuralzooError, match="instance_affine"):
        get_model_class("gru").Config(instance_affine=True, instance_norm="none")
    with pytest.raises(NeuralzooError, match="instance_norm"):
        make(DataInfo(name="t", input_shape=(7, 3), num_classes=4), instance_norm="standardise")
    with pytest.raises(NeuralzooError, match="instance_norm"):
        get_model_class("gru").Config(instance_norm="minmax")


@pytest.mark.slow
def test_scale_augment_reaches_amplitudes_beyond_the_training_range(tmp_path):
    """scale_augment: training windows rescaled about the data's zero by up to e^0.8 teach the
    network cycles twice as high as any it saw; the evaluation loss is never augmented."""
    t = np.arange(400)
    values = 10 + np.where(t < 320, 1.0, 2.0) * 5 * np.sin(2 * np.pi * t / 11)   # floor above 0
    data = series(tmp_path, values, lookback=11, test_fraction=0.2)
    errors = {}
    for augment in (0.0, 0.8):
        model = make(data.info, hidden_size=16, scale_augment=augment, linear_skip=False)
        fit(model, data.train.batch(torch.arange(len(data.train))), steps=400)
        batch = data.test.batch(torch.arange(len(data.test)))
        with torch.no_grad():
            errors[augment] = (model(data.test.x) - data.test.y).pow(2).mean().item()
            assert model.loss(batch)["loss"].item() == pytest.approx(errors[augment], rel=1e-5)
    assert errors[0.8] < 0.5 * errors[0.0], errors
    with pytest.raises(NeuralzooError, match="scale_augment"):
        get_model_class("gru").Config(scale_augment=-0.1)
    with pytest.raises(NeuralzooError, match="scale_augment"):
        make(DataInfo(name="t", input_shape=(7, 3), num_classes=4), scale_augment=0.5)
