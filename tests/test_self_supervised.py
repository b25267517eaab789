"""Self-supervised pretext tasks and probes: exact rotations, the NT-Xent loss against its formula and
its closed-form minimum, masks that never leak, balanced reproducible label draws, a probe that never
sees test labels, and trained encoders that beat random ones."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import neuralzoo
from neuralzoo.evaluation.probe import balanced_draw, baseline_features, model_features, probe, summarise
from neuralzoo.models.contrastive import nt_xent, view_maps
from neuralzoo.models.inpaint import draw_masks
from neuralzoo.models.rotation import all_rotations, rotate

QUIET = {"progress": False, "verbose": False}


def test_rotations_are_exact_and_invert():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).view(2, 1, 4, 4)
    for k in range(4):
        expected = np.rot90(x.numpy(), k, axes=(2, 3))   # numpy's counter-clockwise quarter turns
        assert np.array_equal(rotate(x, k).numpy(), expected)
        assert torch.equal(rotate(rotate(x, k), -k), x)
    per_image = rotate(x, torch.tensor([1, 3]))
    assert torch.equal(per_image[0], rotate(x[:1], 1)[0]) and torch.equal(per_image[1], rotate(x[1:], 3)[0])
    turned, labels = all_rotations(x)
    assert labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    for image, label, source in zip(turned, labels, x.repeat(4, 1, 1, 1)):
        assert torch.equal(rotate(image[None], -int(label))[0], source)   # the label undoes the turn


def test_nt_xent_matches_its_formula_and_its_minimum():
    torch.manual_seed(0)
    z, t = torch.randn(6, 5), 0.3
    unit = z / z.norm(dim=1, keepdim=True)
    n, total = 3, 0.0
    for i in range(2 * n):   # eq. 1 of Chen et al. 2020, anchor by anchor
        partner = (i + n) % (2 * n)
        logits = [float(unit[i] @ unit[k]) / t for k in range(2 * n) if k != i]
        total += -(float(unit[i] @ unit[partner]) / t - math.log(sum(math.exp(v) for v in logits)))
    assert float(nt_xent(z, t)) == pytest.approx(total / (2 * n), rel=1e-5)
    # two identical views of orthogonal images: exp(1/t) against 2N - 2 negatives at exp(0)
    views = torch.eye(4)[:, :4].repeat(2, 1)
    closed = math.log(1 + (2 * 4 - 2) * math.exp(-1 / t))
    assert float(nt_xent(views, t)) == pytest.approx(closed, rel=1e-5)
    assert float(nt_xent(views, t)) < float(nt_xent(torch.randn(8, 4), t))


def test_views_keep_the_whole_image_at_the_identity_draw():
    class Config:
        crop_scale, max_degrees = 0.5, 15.0

    # area 1, aspect 1, angle 0, centred: the identity map
    theta = view_maps(torch.tensor([[1.0, 0.5, 0.5, 0.5]]), Config())
    assert torch.allclose(theta, torch.tensor([[[1.0, 0, 0], [0, 1.0, 0]]]), atol=1e-6)
    small = view_maps(torch.tensor([[0.0, 0.5, 0.5, 0.0]]), Config())   # half the area, a corner
    assert torch.allclose(small[0, 0, 0], torch.tensor(math.sqrt(0.5)), atol=1e-6)


@pytest.mark.parametrize("mask", ["patches", "block"])
def test_masks_hide_their_share_and_never_leak(mask, digits):
    model = neuralzoo.models.inpaint.Inpaint(neuralzoo.models.inpaint.InpaintConfig(
        mask=mask, mask_ratio=0.5, patch_size=2, channels=(8,)), digits.info)
    x = digits.train.x[:16]
    batch = {"x": x, "noise_seed": torch.tensor(7)}
    masks = draw_masks(batch, 16, (8, 8), model.config)
    assert torch.equal(masks, draw_masks(batch, 16, (8, 8), model.config))   # seeded: reproducible
    # patches: 8 of the 16 2x2 patches; block: a 6x6 square (side 8 * sqrt(0.5), rounded)
    assert (masks.flatten(1).sum(1) == (8 * 4 if mask == "patches" else 6 * 6)).all()
    # the encoder's input during training is the same whatever the hidden pixels hold
    seen = []
    model.backbone.register_forward_pre_hook(lambda _m, args: seen.append(args[0].clone()))
    model.loss(batch)
    model.loss({**batch, "x": x + masks * torch.rand_like(x)})
    assert torch.equal(seen[0], seen[1])
    assert torch.equal(seen[0][:, 1:], masks) and (seen[0][:, :1] * masks == 0).all()


def test_label_draws_are_balanced_and_reproducible():
    labels = np.repeat(np.arange(10), 50)
    first = balanced_draw(labels, 100, seed=0)
    assert np.array_equal(first, balanced_draw(labels, 100, seed=0))
    assert not np.array_equal(first, balanced_draw(labels, 100, seed=1))
    assert np.bincount(labels[first]).tolist() == [10] * 10 and len(set(first)) == 100
    assert np.bincount(labels[balanced_draw(labels, 25, 0)]).tolist() == [3] * 5 + [2] * 5
    with pytest.raises(neuralzoo.NeuralzooError, match="class 0 has only 50"):
        balanced_draw(labels, 1000, 0)


def test_the_probe_never_looks_at_test_labels(digits):
    train, test = baseline_features("pca", digits.train.x, digits.test.x, components=20)
    y, test_y = digits.train.y.numpy(), digits.test.y.numpy()
    honest = probe(train, y, test, test_y, [100, None], draws=2)
    shuffled = probe(train, y, test, np.random.default_rng(0).permutation(test_y), [100, None], draws=2)
    # everything chosen (C per draw) is the same; only the scores on the test labels move
    assert [r.chosen_c for r in honest] == [r.chosen_c for r in shuffled]
    assert all(s.linear_error > h.linear_error + 0.3 for h, s in zip(honest, shuffled))
    rows = summarise(honest)
    assert [r["labels"] for r in rows] == [100, len(y)] and rows[0]["draws"] == 2 and rows[1]["draws"] == 1
    assert rows[1]["linear_error"]["mean"] < 10   # PCA-20 + logistic regression on 8x8 digits


@pytest.mark.slow
def test_a_pretrained_encoder_beats_its_random_initialisation(tmp_path, digits):
    neuralzoo.train("contrastive", out=tmp_path / "simclr", data="digits", epochs=30, channels=(32, 64),
                    batch_size=128, seed=0, **QUIET)
    trained = neuralzoo.load(tmp_path / "simclr")
    untrained = neuralzoo.models.contrastive.Contrastive(trained.config, trained.info).eval()

    def error(model) -> float:
        features = model_features(model, digits.train.x).numpy(), model_features(model, digits.test.x).numpy()
        results = probe(features[0], digits.train.y.numpy(), features[1], digits.test.y.numpy(), [50], 3)
        return summarise(results)[0]["linear_error"]["mean"]

    random_error, trained_error = error(untrained), error(trained)
    assert trained_error < random_error - 5, (trained_error, random_error)


def test_pretrain_and_probe_commands(cli, tmp_path):
    run = tmp_path / "rotation"
    # a small encoder: the probe's logistic regressions on 16 features take a fraction of the time
    code, out, err = cli(["pretrain", "rotation", "--data", "digits", "--max-steps", "3",
                          "--channels", "4,8,16", "--out", run, "--no-progress"])
    assert code == 0, err
    assert neuralzoo.load(run).encode(torch.rand(2, 1, 8, 8)).shape == (2, 16)   # channels[-1]
    code, _, err = cli(["pretrain", "cnn", "--data", "digits"])
    assert code == 2 and "unknown" in err and "contrastive" in err
    code, _, err = cli(["pretrain", "rotation", "--data", "digits", "--temperature", "1"])
    assert code == 2 and "neuralzoo pretrain: error: unrecognized arguments: --temperature" in err
    code, out, err = cli(["probe", run, "--labels", "50,all", "--draws", "2"])
    assert code == 0, err
    report = json.loads((run / "probe.json").read_text())
    assert [r["labels"] for r in report["results"]] == [50, 1437] and report["feature_dim"] == 16
    assert (run / "probe.png").stat().st_size > 1000
    code, out, err = cli(["probe", "pixels", "--labels", "100", "--draws", "1",
                          "--output", tmp_path / "px.json"])
    assert code == 0 and "100 labels: linear" in out and (tmp_path / "px.png").exists()
    code, _, err = cli(["probe", "pixels", "--labels", "0,x"])
    assert code == 2 and "--labels" in err


def test_probe_label_pool_is_the_whole_mnist_training_split(cli, mnist_dir, tmp_path):
    """MNIST's loader skips its training files when asked for test data only: the probe must not."""
    out = tmp_path / "px.json"
    code, _, err = cli(["probe", "pixels", "--data", "mnist", "--data-dir", mnist_dir, "--labels", "100",
                        "--draws", "1", "--output", out])
    assert code == 0, err
    report = json.loads(out.read_text())
    assert report["protocol"]["train_samples"] == 60000 and report["protocol"]["test_samples"] == 10000
