"""Differentially private training (DP-SGD through Opacus): accounting, clipping, exact resume, refusals,
learning. Runs are tiny (8x8 digits, a few epochs) and use the RDP accountant where the accountant is
not the subject: PRV's calibration takes seconds, RDP's a fraction of one."""

from __future__ import annotations

import json
import math
import sys

import pytest
import torch

from extras import requires  # noqa: E402

pytestmark = requires("opacus", extra="privacy")

import neuralzoo  # noqa: E402
from neuralzoo.config import TrainConfig  # noqa: E402
from neuralzoo.errors import NeuralzooError  # noqa: E402
from neuralzoo.evaluation import evaluate_run  # noqa: E402
from neuralzoo.training.checkpoint import read_checkpoint  # noqa: E402
from neuralzoo.training.privacy import Privacy  # noqa: E402
from neuralzoo.training.privacy_checks import default_delta  # noqa: E402

from run_helpers import crash_at_step_call  # noqa: E402

QUIET = dict(progress=False, verbose=False, baselines=False)
# 1,293 training digits; SGD with a large step and tanh, the recipe of Papernot et al. 2021
RECIPE = dict(data="digits", optimizer="sgd", lr=0.5, momentum=0.9, batch_size=128, activation="tanh",
              hidden_sizes=(64,), schedule="constant", dp_accountant="rdp", **QUIET)


def test_the_spent_epsilon_is_opacus_own_accountant_for_the_schedule_run(tmp_path):
    """The run's epsilon is what Opacus's PRV accountant gives for (sigma, q, steps actually taken), the
    calibrated sigma spends the target within the tolerance, and RDP (looser) says more."""
    from opacus.accountants import PRVAccountant, RDPAccountant

    run = neuralzoo.train("mlp", out=tmp_path / "run", data="digits", epochs=2, batch_size=64,
                          dp_epsilon=2.0, **QUIET)
    spent = run["privacy"]
    n_train = 1293
    assert spent["steps"] == run["steps"] == 2 * math.ceil(n_train / 64)
    assert spent["sample_rate"] == pytest.approx(64 / n_train) and spent["delta"] == 1e-5
    prv, rdp = PRVAccountant(), RDPAccountant()
    prv.history = rdp.history = [(spent["noise_multiplier"], 64 / n_train, run["steps"])]
    assert spent["epsilon"] == pytest.approx(prv.get_epsilon(delta=1e-5), rel=1e-9)
    assert 2.0 - 0.011 <= spent["epsilon"] <= 2.0
    assert rdp.get_epsilon(delta=1e-5) > spent["epsilon"]
    # logged after every epoch, growing; and in the checkpoint's metadata
    logged = [json.loads(line).get("dp_epsilon") for line in (tmp_path / "run" / "metrics.jsonl").open()]
    per_epoch = [e for e in logged if e is not None]
    assert len(per_epoch) == 2 and 0 < per_epoch[0] < per_epoch[1] == pytest.approx(spent["epsilon"])
    state = read_checkpoint(tmp_path / "run" / "checkpoints" / "last.safetensors")[2]
    assert state["privacy"]["history"] == [[spent["noise_multiplier"], 64 / n_train, run["steps"]]]


@pytest.mark.parametrize("bf16", [False, True])
def test_clipping_bounds_each_sample_gradient(bf16):
    """With the noise off, a one-sample batch's update is that sample's gradient clipped to C (its raw
    norm is far above C), and a batch's update is at most (samples x C) / expected batch; under bf16
    autocast too (the per-sample gradients come in bf16, their norms are taken in float32)."""
    torch.manual_seed(0)
    clip, batch = 0.05, 8
    cfg = TrainConfig(dp_epsilon=1.0, batch_size=batch, dp_max_grad_norm=clip, dp_accountant="rdp")
    privacy = Privacy(cfg, samples=1000, planned_steps=10)
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    [optimizer] = privacy.wrap(model, [torch.optim.SGD(model.parameters(), lr=0.0)])
    optimizer.noise_multiplier = 0.0
    x, y = 5 * torch.randn(batch, 6), torch.randint(0, 3, (batch,))

    def update(rows: slice) -> tuple[float, float]:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(x[rows]).float()
        loss = torch.nn.functional.cross_entropy(logits, y[rows])
        loss.backward()
        raw = torch.nn.utils.get_total_norm([p.grad for p in model.parameters()]).item()
        privacy.rows = len(x[rows])
        optimizer.step()   # lr 0: the weights stay, p.grad holds the private update
        private = torch.nn.utils.get_total_norm([p.grad for p in model.parameters()]).item() * batch
        optimizer.zero_grad()
        return raw, private

    for i in range(batch):
        raw, private = update(slice(i, i + 1))
        assert raw > 4 * clip and private == pytest.approx(clip, rel=1e-4)
    raw, private = update(slice(0, batch))
    assert private <= batch * clip * (1 + 1e-5) < raw * batch
    assert privacy.steps == batch + 1   # every update counted


def test_a_private_cnns_per_sample_gradients_are_each_samples_own(tmp_path, monkeypatch):
    """The per-sample gradients of a private run's first step, every layer of a CNN whose second
    convolution reads 4 channels, equal each sample's gradient computed alone. (Opacus unfolds a
    convolution's input for them, which on a channels-last input with several channels gives wrong
    values, so private runs keep image batches in the contiguous layout.)"""
    from neuralzoo.models.cnn import CNN

    seen: dict = {}
    count_step, loss = Privacy.count_step, CNN.loss

    def recording_count_step(self, optimizer):
        seen.setdefault("grad_samples", [p.grad_sample.detach().clone() for p in optimizer.params])
        return count_step(self, optimizer)

    def recording_loss(self, batch):
        if "x" not in seen and self.training and torch.is_grad_enabled():   # the first training step
            seen.update(x=batch["x"].clone(), y=batch["y"].clone(),
                        state={k: v.detach().clone() for k, v in self.state_dict().items()})
        return loss(self, batch)

    monkeypatch.setattr(Privacy, "count_step", recording_count_step)
    monkeypatch.setattr(CNN, "loss", recording_loss)
    run = neuralzoo.train("cnn", out=tmp_path / "dp", data="digits", dp_epsilon=5.0, epochs=1, max_steps=1,
                          channels=(4, 8), pool_after=(1,), dense_sizes=(16,), batch_size=16, bf16="off",
                          label_smoothing=0.0, progress=False, baselines=False)
    model = neuralzoo.load(run["run_dir"])
    model.load_state_dict(seen["state"])
    model.train()
    x, y = seen["x"], seen["y"]
    assert len(x) > 4 and len(seen["grad_samples"]) == len(list(model.parameters()))
    for i in range(len(x)):
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(x[i:i + 1].contiguous()), y[i:i + 1]).backward()
        for p, per_sample in zip(model.parameters(), seen["grad_samples"]):
            torch.testing.assert_close(per_sample[i], p.grad, atol=1e-6, rtol=1e-4)


def test_a_resumed_private_run_ends_bit_identical(tmp_path, monkeypatch):
    """Crash mid-epoch, resume: weights, optimizer state, RNG and the accountant's history match."""
    run = dict(RECIPE, epochs=2, dp_epsilon=4.0, checkpoint_every=5, dropout=0.2)
    reference = neuralzoo.train("mlp", out=tmp_path / "ref", **run)
    crash_at_step_call(monkeypatch, "mlp", 13, tmp_path / "run", **run)   # 3 steps after the one at 10
    resumed = neuralzoo.train(resume=tmp_path / "run", **QUIET)
    assert resumed["privacy"] == reference["privacy"] and resumed["final"] == reference["final"]
    (ref, _, ref_state), (res, _, res_state) = (read_checkpoint(tmp_path / r / "checkpoints" / "last.safetensors")
                                                for r in ("ref", "run"))
    assert ref.keys() == res.keys() and [k for k in ref if not torch.equal(ref[k], res[k])] == []
    assert ref_state["privacy"] == res_state["privacy"]
    with pytest.raises(NeuralzooError, match="keeps its privacy settings"):
        neuralzoo.train(resume=tmp_path / "run", dp_epsilon=8.0, epochs=3, **QUIET)


def test_a_private_run_learns_the_digits_and_evaluates_with_its_epsilon(tmp_path, capsys):
    """Epsilon 8 on 1,293 digits, batch norm swapped for group norm (said once), then evaluate: the
    rebuilt model has the same layers, eval.json carries the spent epsilon."""
    run = neuralzoo.train("mlp", out=tmp_path / "run", **{**RECIPE, "verbose": True}, epochs=10,
                          dp_epsilon=8.0, batch_norm=True)
    out = capsys.readouterr().out
    assert "BatchNorm1d -> GroupNorm (net.2)" in out and "epsilon 8 at delta 1e-05" in out
    assert run["final"]["accuracy"] > 0.6   # chance: 0.1
    result = evaluate_run(tmp_path / "run", baselines=False)
    assert result["metrics"]["accuracy"] > 0.6
    assert result["privacy"]["epsilon"] == pytest.approx(run["privacy"]["epsilon"])
    assert 7.9 < result["privacy"]["epsilon"] <= 8.0 and result["privacy"]["accountant"] == "rdp"


def test_recurrent_models_train_through_opacus_layers(tmp_path):
    run = neuralzoo.train("lstm", out=tmp_path / "run", data="digits-rows", epochs=1, max_steps=2,
                          hidden_size=8, dp_epsilon=5.0, dp_accountant="rdp", **QUIET)
    assert run["privacy"]["steps"] == 2
    tensors = read_checkpoint(tmp_path / "run" / "checkpoints" / "last.safetensors")[0]
    assert "model.rnn.l0.ih.weight" in tensors   # trained in Opacus's DPLSTM
    model = neuralzoo.load(tmp_path / "run")     # back in torch's LSTM: the same weights
    assert type(model.rnn) is torch.nn.LSTM
    assert torch.equal(model.rnn.weight_ih_l0, tensors["model.rnn.weight_ih_l0"])
    assert torch.equal(model.rnn.weight_ih_l0, tensors["model.rnn.l0.ih.weight"])
    assert model.predict(torch.rand(3, 8, 8)).shape == (3,)


@pytest.mark.parametrize("settings, message", [
    (dict(dp_epsilon=0), "dp_epsilon must be a positive number, got 0"),
    (dict(dp_epsilon=-1), "dp_epsilon must be a positive number"),
    (dict(dp_epsilon=1, dp_delta=1e-3), r"dp_delta 0.001 is not below 1/N = 0.000773 for the N = 1293"),
    (dict(dp_delta=1e-6), "give --dp-epsilon too"),
    (dict(dp_epsilon=1, dp_max_grad_norm=0), "dp_max_grad_norm must be a positive number"),
    (dict(dp_epsilon=1, class_weights="balanced"), "class_balance 'weights' cannot be combined"),
    (dict(dp_epsilon=1, class_balance="logit-adjust"), "class_balance 'logit-adjust' cannot be combined"),
    (dict(dp_epsilon=1, class_balance="resample"), "'resample' cannot be combined with dp_epsilon: "
                                                   "DP-SGD's accounting assumes uniform Poisson"),
])
def test_bad_privacy_settings_are_one_line_errors(tmp_path, settings, message):
    with pytest.raises(NeuralzooError, match=message) as error:
        neuralzoo.train("mlp", out=tmp_path / "run", data="digits", epochs=1, **QUIET, **settings)
    assert "\n" not in str(error.value) and not (tmp_path / "run").exists()   # refused before writing


def test_models_dp_sgd_cannot_bound_are_refused(tmp_path):
    with pytest.raises(NeuralzooError, match="'gan' trains 2 optimizers"):
        neuralzoo.train("gan", out=tmp_path / "gan", data="digits", epochs=1, dp_epsilon=1, **QUIET)
    # four rotations of each image are four rows, two views two: clipping each alone would not bound
    # the sample; refused before a run directory exists
    for name, rows in (("rotation", 8), ("contrastive", 4)):
        with pytest.raises(NeuralzooError, match=f"'{name}' computes its loss on {rows} rows for 2 samples"):
            neuralzoo.train(name, out=tmp_path / name, data="digits", epochs=1, dp_epsilon=1, **QUIET)
        assert not (tmp_path / name).exists()


def test_the_cli_refuses_a_bad_budget_with_exit_code_2(tmp_path, monkeypatch, capsys):
    from neuralzoo.cli import main

    assert main(["train", "mlp", "--data", "digits", "--epochs", "1", "--dp-epsilon", "0",
                 "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "dp_epsilon must be a positive number" in err[0]
    monkeypatch.setitem(sys.modules, "opacus", None)   # the extra not installed
    assert main(["train", "mlp", "--data", "digits", "--epochs", "1", "--dp-epsilon", "1",
                 "--out", str(tmp_path / "run")]) == 2
    assert "pip install 'neuralzoo[privacy]'" in capsys.readouterr().err


def test_default_delta_follows_the_data_size():
    assert default_delta(1000) == 1e-5 and default_delta(60000) == pytest.approx(1 / 600000)
