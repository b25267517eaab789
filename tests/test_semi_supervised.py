"""--labels N: the class-balanced label draw, the loop's semi-supervised batches, and FixMatch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import neuralzoo
from neuralzoo.api import resolve, train_loaded
from neuralzoo.data import DataConfig, DataInfo, arrays_dataset, load_dataset
from neuralzoo.data.labels import draw_walk, indices_sha256
from neuralzoo.errors import NeuralzooError
from neuralzoo.evaluation import evaluate_run
from neuralzoo.models.cnn import CNN
from neuralzoo.models.fixmatch import FixMatch
from neuralzoo.training.semi import LabelledStream

from cli_helpers import one_line_error
from run_helpers import crash_at_step_call

# a small semi-supervised run: 20 steps of 64 unlabelled + 16 labelled 8x8 digits
SEMI = dict(data="digits", labels=30, epochs=1, batch_size=64, labelled_batch_size=16, lr=3e-3,
            threshold=0.8, baselines=False, progress=False, verbose=False, log_every=1)

# the digits recipe of the learning test: batch norm, a one-cycle schedule, a lower threshold than the
# paper's 0.95 for a run of a few hundred steps; the CNN alone gets the same network and steps
FIXMATCH_RECIPE = dict(epochs=12, batch_size=128, labelled_batch_size=32, lr=1e-2, threshold=0.8,
                       batch_norm=True)
CNN_RECIPE = dict(epochs=1000, batch_size=32, lr=1e-2, batch_norm=True)


def test_the_label_draw_is_class_balanced_seeded_and_recorded():
    full = load_dataset(DataConfig())
    data = load_dataset(DataConfig(labels=25, label_seed=4))
    drawn = (data.train.y >= 0).nonzero().flatten()
    # the split is untouched, the kept labels are the true ones, every other one is -1
    assert torch.equal(data.train.x, full.train.x) and len(drawn) == 25
    assert torch.equal(data.train.y[drawn], full.train.y[drawn])
    assert set(data.train.y[data.train.y < 0].tolist()) == {-1}
    counts = torch.bincount(data.train.y[drawn], minlength=10)
    assert sorted(counts.tolist()) == [2] * 5 + [3] * 5   # 25 = 10 * 2 + 5 spread over five classes
    draw = data.info.label_draw
    assert draw.count == 25 and draw.seed == 4 and draw.per_class == counts.tolist()
    assert draw.indices == drawn.tolist() and draw.sha256 == indices_sha256(drawn)
    assert f"label_seed 4; indices sha256 {draw.sha256[:16]}" in data.info.description
    assert DataInfo.from_dict(data.info.to_dict()) == data.info   # what checkpoints keep
    assert load_dataset(DataConfig(labels=25, label_seed=4)).info.label_draw == draw   # seeded
    other = load_dataset(DataConfig(labels=25, label_seed=5)).info.label_draw
    assert other.sha256 != draw.sha256
    many = load_dataset(DataConfig(labels=1100)).info.label_draw   # large draws: the hash alone
    assert many.indices is None and len(many.sha256) == 64 and sum(many.per_class) == 1100


def test_bad_label_counts_and_data_are_refused_in_one_line(tmp_path, capsys):
    with pytest.raises(NeuralzooError, match="labels: 2000 is more than the 1293 samples of the training"):
        load_dataset(DataConfig(labels=2000))
    with pytest.raises(NeuralzooError, match="labels: 9 is fewer than the 10 classes"):
        load_dataset(DataConfig(labels=9))
    with pytest.raises(NeuralzooError, match="labels must be a positive integer"):
        DataConfig(labels=0)
    with pytest.raises(NeuralzooError, match="'sunspots' holds a time series"):
        load_dataset(DataConfig(data="sunspots", labels=10))
    np.savez(tmp_path / "plain.npz", x=np.random.default_rng(0).random((40, 1, 8, 8), dtype=np.float32))
    with pytest.raises(NeuralzooError, match="has no labels to keep"):
        load_dataset(DataConfig(data=str(tmp_path / "plain.npz"), labels=10))
    one_line_error(["train", "cnn", "--data", "digits", "--labels", "5", "--epochs", "1", "--out",
                    tmp_path / "r"], capsys, "labels: 5 is fewer than the 10 classes")
    one_line_error(["train", "fixmatch", "--data", "digits", "--labels", "30", "--epochs", "1",
                    "--adversarial", "fgsm-rs", "--adversarial-eps", "0.1", "--out", tmp_path / "r2"],
                   capsys, "adversarial cannot be combined with 'fixmatch'")
    assert not (tmp_path / "r2").exists()   # refused before the run directory is made


def test_the_labelled_stream_cycles_through_every_labelled_sample():
    labelled = load_dataset(DataConfig(labels=30)).train
    stream = LabelledStream(labelled.subset((labelled.y >= 0).nonzero().flatten()), 16, seed=0)
    seen = torch.cat([stream.indices(step) for step in range(15)])   # 240 draws = 8 passes of 30
    assert torch.equal(torch.bincount(seen, minlength=30), torch.full((30,), 8))
    assert not torch.equal(stream.indices(0), stream.indices(15))   # a new order on later passes
    assert torch.equal(stream.indices(7), LabelledStream(stream.labelled, 16, seed=0).indices(7))


def test_models_get_the_batches_the_convention_promises(tmp_path, monkeypatch):
    seen: list[dict] = []
    for cls in (FixMatch, CNN):
        original = cls.train_step

        def recording(self, batch, optimizers, ctx, original=original):
            seen.append({k: v.clone() for k, v in batch.items()})
            return original(self, batch, optimizers, ctx)

        monkeypatch.setattr(cls, "train_step", recording)
    summary = neuralzoo.train("fixmatch", out=tmp_path / "semi", **SEMI)
    truth = load_dataset(DataConfig()).train.y
    labelled_values = {int(v) for v in torch.unique(load_dataset(DataConfig(labels=30)).train.y) if v >= 0}
    assert summary["steps"] == len(seen) == 21   # ceil(1293 / 64): the epoch runs over every sample
    first = seen[0]
    assert first["x"].shape == (16, 1, 8, 8) and first["y"].shape == (16,) and first["y"].dtype == torch.int64
    assert first["unlabelled_x"].shape == (64, 1, 8, 8) and int(first["step"]) == 0
    assert set(first) == {"x", "y", "unlabelled_x", "step", "noise_seed"}
    assert all(set(b["y"].tolist()) <= labelled_values and (b["y"] >= 0).all() for b in seen)
    assert sum(len(b["unlabelled_x"]) for b in seen) == len(truth)
    # the plain CNN with --labels trains on the 30 labelled samples alone: 2 steps of 16 per epoch
    seen.clear()
    neuralzoo.train("cnn", out=tmp_path / "plain", **{k: v for k, v in SEMI.items()
                                                      if k not in ("threshold", "batch_size")}, batch_size=16)
    assert len(seen) == 2 and sum(len(b["y"]) for b in seen) == 30 and "unlabelled_x" not in seen[0]
    assert (torch.cat([b["y"] for b in seen]) >= 0).all()


def _train_on(x: torch.Tensor, y: np.ndarray, run_dir) -> tuple[object, torch.nn.Module]:
    cfg = DataConfig(labels=30, val_fraction=0.0, standardise="off")
    data = arrays_dataset(x, y, cfg, class_names=[str(d) for d in range(10)])
    run_config = resolve("fixmatch", overrides={**{k: v for k, v in SEMI.items() if k != "data"},
                                                "val_fraction": 0.0, "standardise": "off"})
    train_loaded(data, run_config, run_dir)
    return data.info.label_draw, neuralzoo.load(run_dir, "last")


def test_the_unlabelled_part_never_sees_its_labels(tmp_path):
    digits = load_dataset(DataConfig(val_fraction=0.0)).train
    x, y = digits.x, digits.y.numpy().copy()
    draw, model = _train_on(x, y, tmp_path / "a")
    # the draw walks a seeded permutation and stops at the last label it keeps: labels beyond that
    # point in the walk were never read, so shuffling them among themselves keeps the draw
    order = draw_walk(len(y), 10, 30, seed=0)[1]
    last = max(int((order == i).nonzero()) for i in draw.indices)
    unread = order[last + 1:].numpy()
    shuffled = y.copy()
    shuffled[unread] = np.random.default_rng(1).permutation(y[unread])
    assert (shuffled != y).sum() > len(y) // 2   # most labels changed
    same_draw, same_model = _train_on(x, shuffled, tmp_path / "b")
    assert same_draw == draw
    for key, value in model.state_dict().items():
        assert torch.equal(same_model.state_dict()[key], value), key


def test_a_semi_supervised_run_resumes_bit_identical(tmp_path, monkeypatch):
    settings = {**SEMI, "checkpoint_every": 4, "epochs": 2}
    reference = neuralzoo.train("fixmatch", out=tmp_path / "ref", **settings)
    # mid-epoch 2, three steps after the checkpoint at step 24
    crash_at_step_call(monkeypatch, "fixmatch", 27, tmp_path / "run", **settings)
    resumed = neuralzoo.train(resume=tmp_path / "run")
    assert resumed["final"] == reference["final"]
    a, b = neuralzoo.load(tmp_path / "ref", "last"), neuralzoo.load(tmp_path / "run", "last")
    assert a.info.label_draw == b.info.label_draw and a.info.label_draw.count == 30
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    # evaluation replays the draw: the training split is scored on its 30 labelled samples
    assert evaluate_run(tmp_path / "run", "train", baselines=False)["protocol"]["samples"] == 30


@pytest.mark.slow   # two trainings of 132 steps: ~12 s on 2 shared cores
def test_fixmatch_learns_from_unlabelled_digits_beyond_the_labels_alone(tmp_path):
    common = dict(data="digits", labels=30, baselines=False, progress=False, verbose=False,
                  schedule="one-cycle")
    semi = neuralzoo.train("fixmatch", out=tmp_path / "semi", **common, **FIXMATCH_RECIPE)
    # the same CNN on the 30 labels alone, with as many steps of the labelled batch size
    alone = neuralzoo.train("cnn", out=tmp_path / "alone", **common, **CNN_RECIPE,
                            max_steps=semi["steps"])
    assert semi["best"] > alone["best"] + 0.05, (semi["best"], alone["best"])


def test_distribution_alignment_moves_pseudo_labels_off_the_favoured_class():
    """ReMixMatch's alignment: with a uniform running mean nothing changes; once the model has been
    predicting class 0 for half of the batch, a prediction torn between 0 and 1 tips to 1."""
    import torch

    from neuralzoo.data.base import DataInfo
    from neuralzoo.models.fixmatch import FixMatch, FixMatchConfig

    info = DataInfo(name="toy", input_shape=(1, 8, 8), num_classes=4)
    model = FixMatch(FixMatchConfig(channels=(4,), pool_after=(1,), dense_sizes=(8,),
                                    distribution_alignment=True), info)
    probs = torch.tensor([[0.5, 0.4, 0.05, 0.05]])
    before = model.prediction_mean.clone()
    torch.testing.assert_close(model.aligned(torch.full((3, 4), 0.25)), torch.full((3, 4), 0.25))
    torch.testing.assert_close(model.prediction_mean, before)
    model.prediction_mean.copy_(torch.tensor([0.5, 0.2, 0.15, 0.15]))
    aligned = model.aligned(probs)
    assert aligned.argmax(1).item() == 1 and torch.allclose(aligned.sum(1), torch.ones(1))
    model.config = FixMatchConfig(channels=(4,), pool_after=(1,), dense_sizes=(8,),
                                  distribution_alignment=False)
    torch.testing.assert_close(model.aligned(probs), probs)
