"""Images standardised per channel on request (``--standardise on``): torchvision's ``Normalize``
with constants fitted on the training part, kept by the model for every later input, and
augmentation that fills uncovered pixels with the background rather than the mean grey."""

from __future__ import annotations

import torch

import neuralzoo
from neuralzoo.data import DataConfig, load_dataset, read_inputs
from neuralzoo.data.standardise import apply_standardise, invert_standardise
from neuralzoo.evaluation import evaluate_run
from neuralzoo.training.augment import augment_images


def test_one_mean_and_std_per_channel_from_the_training_pixels_only():
    raw = load_dataset(DataConfig(data="digits", standardise="off"))
    data = load_dataset(DataConfig(data="digits", standardise="on"))
    spec = data.info.standardise
    mean, std = raw.train.x.double().mean().item(), raw.train.x.double().std(correction=0).item()
    assert len(spec.mean) == len(spec.std) == 1 and "per channel" in spec.fitted_on
    assert abs(spec.mean[0] - mean) < 1e-9 and abs(spec.std[0] - std) < 1e-9
    assert abs(data.train.x.mean().item()) < 1e-4 and abs(data.train.x.std(correction=0).item() - 1) < 1e-4
    for name in ("val", "test"):   # the training constants, never refitted on these parts
        torch.testing.assert_close(getattr(data, name).x, (getattr(raw, name).x - mean) / std)
    assert data.train.x.shape == raw.train.x.shape and "inputs standardised" in data.info.description
    torch.testing.assert_close(invert_standardise(data.test.x, spec), raw.test.x, atol=1e-6, rtol=0)
    assert abs(data.train.background[0] + mean / std) < 1e-6 and raw.train.background is None


def test_three_channels_each_get_their_own_constants():
    x = torch.rand(50, 3, 4, 4) * torch.tensor([1.0, 10.0, 100.0]).view(1, 3, 1, 1) + torch.tensor(
        [0.0, -5.0, 40.0]).view(1, 3, 1, 1)
    from neuralzoo.data.standardise import fit_standardise

    spec = fit_standardise(x, "synthetic")
    z = apply_standardise(x, spec)
    torch.testing.assert_close(z.mean((0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(z.std((0, 2, 3), correction=0), torch.ones(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(invert_standardise(z, spec), x, atol=1e-4, rtol=1e-5)


def test_a_trained_model_standardises_raw_images_it_is_given(tmp_path):
    run = neuralzoo.train("cnn", out=tmp_path / "run", data="digits", standardise="on", epochs=2,
                          channels=(8,), pool_after=(1,), dense_sizes=(16,), progress=False, baselines=False)
    model = neuralzoo.load(run["run_dir"])
    assert model.info.standardise is not None
    raw = load_dataset(DataConfig(data="digits", standardise="off")).test.x[:20]
    import numpy as np

    np.savez(tmp_path / "images.npz", x=raw.numpy())
    read = read_inputs(str(tmp_path / "images.npz"), model.info).x
    torch.testing.assert_close(read, apply_standardise(raw, model.info.standardise))
    assert read.min() < 0   # what the network saw in training, not the raw pixels
    test = evaluate_run(run["run_dir"], "test", baselines=False)   # the test split alone, standardised
    assert test["metrics"]["accuracy"] > 0.5


def test_augmentation_fills_uncovered_pixels_with_the_background():
    background = -0.42   # a raw 0 pixel after standardisation
    x = torch.full((64, 1, 8, 8), background)
    torch.manual_seed(0)
    moved = augment_images(x, "affine", max_shift_pixels=3, fill=(background,))
    torch.testing.assert_close(moved, x)   # an empty image stays empty wherever it moved
    torch.manual_seed(0)
    assert (augment_images(x, "affine", max_shift_pixels=3) - background).abs().max() > 0.3   # zeros: grey
    ink = torch.zeros(1, 1, 8, 8)
    ink[0, 0, 3:5, 3:5] = 1.0   # with fill None: the raw-pixel behaviour, ink conserved on a shift
    torch.manual_seed(1)
    assert abs(augment_images(ink, "shift", max_shift_pixels=1).sum().item() - 4.0) < 1e-4
