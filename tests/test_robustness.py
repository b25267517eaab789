"""Adversarial robustness and membership inference: PGD stays in its box, eps 0 is the identity, an
undefended model falls under attack while an adversarially trained one holds, AutoAttack (torchattacks)
agrees, adversarial training resumes exactly, the membership audit sees overfitting, bad input is one line."""

from __future__ import annotations

import json

import pytest
import torch

import neuralzoo
from neuralzoo.errors import NeuralzooError
from neuralzoo.evaluation import eval_data_config, load_eval_data
from neuralzoo.evaluation.membership import audit_data, membership_inference
from neuralzoo.evaluation.robustness import AttackSettings, robust_accuracy
from neuralzoo.training.adversarial import linf_pgd

from cli_helpers import one_line_error
from run_helpers import crash_at_step_call
from neuralzoo.cli import main

# 15 epochs of batch 32 on the 1,437 8x8 digits: ~95% test accuracy in a few seconds
COMMON = dict(data="digits", epochs=15, batch_size=32, hidden_sizes=(128,), lr=3e-3, baselines=False,
              verbose=False, progress=False)
PGD = dict(method="pgd", steps=20, step_size=0.02, limit=None)


RUNS = {"plain": COMMON, "robust": dict(COMMON, adversarial="fgsm-rs", adversarial_eps=0.1),
        # 90 training samples, a wide net, many epochs, no regularisation: memorised
        "overfit": dict(COMMON, epochs=60, hidden_sizes=(256,), limit=100)}


class TrainedRuns:
    """``runs / name``: the run of RUNS[name], trained the first time a test of the module asks for
    it (the fast subset asks only for the plain one)."""

    def __init__(self, root):
        self.root = root

    def __truediv__(self, name: str):
        if not (self.root / name).exists():
            neuralzoo.train("mlp", out=self.root / name, **RUNS[name])
        return self.root / name


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return TrainedRuns(tmp_path_factory.mktemp("robust"))


def eval_data(model):
    return load_eval_data(model, eval_data_config(model, {}), need_validation=True)


def test_pgd_stays_in_the_ball_and_the_range_and_eps_zero_is_the_identity():
    torch.manual_seed(0)
    x = torch.rand(64, 20)
    x[:8] = 0.0
    x[8:16] = 1.0   # at the range's edges the ball is cut by the range
    weight = torch.randn(20, 3)

    def loss_of(inputs):
        return torch.nn.functional.cross_entropy(inputs @ weight, torch.zeros(64, dtype=torch.long))

    for eps, steps, size in ((0.1, 10, 0.05), (0.3, 40, 0.01), (0.05, 1, 0.5)):
        adversarial = linf_pgd(loss_of, x, eps, steps, size, 0.0, 1.0)
        assert (adversarial - x).abs().max() <= eps + 1e-6
        assert adversarial.min() >= 0 and adversarial.max() <= 1
        assert loss_of(adversarial) > loss_of(x)   # it did ascend
    assert torch.equal(linf_pgd(loss_of, x, 0.0, 10, 0.05, 0.0, 1.0), x)


def test_undefended_model_falls_and_eps_zero_changes_nothing(runs):
    model = neuralzoo.load(runs / "plain")
    data = eval_data(model)
    result = robust_accuracy(model, data.test.x, data.test.y, AttackSettings(eps=(0.0, 0.3), **PGD))
    assert result["clean_accuracy"] > 90
    assert result["robust_accuracy"]["0"] == result["clean_accuracy"]
    assert result["robust_accuracy"]["0.3"] < 3
    original, adversarial = result["examples"]
    assert (adversarial - original).abs().max() <= 0.3 + 1e-6


@pytest.fixture(scope="module")
def plain_model(runs):
    return neuralzoo.load(runs / "plain")


@pytest.mark.parametrize("version", ["apgd", "standard"])
def test_autoattack_at_eps_03_leaves_almost_nothing(plain_model, version):
    pytest.importorskip("torchattacks")
    data = eval_data(plain_model)
    result = robust_accuracy(plain_model, data.test.x, data.test.y,
                             AttackSettings(method="autoattack", version=version, eps=(0.3,), limit=100))
    assert result["clean_accuracy"] > 90 and result["robust_accuracy"]["0.3"] <= 2


def test_adversarial_training_keeps_robust_accuracy(runs, plain_model):
    robust = neuralzoo.load(runs / "robust")
    data = eval_data(robust)
    settings = AttackSettings(eps=(0.1,), **PGD)
    defended = robust_accuracy(robust, data.test.x, data.test.y, settings)
    undefended = robust_accuracy(plain_model, data.test.x, data.test.y, settings)
    assert defended["clean_accuracy"] > 90
    # measured: 77% against 52% (PGD-20, eps 0.1, the 360 test digits)
    assert defended["robust_accuracy"]["0.1"] > undefended["robust_accuracy"]["0.1"] + 12


def test_adversarial_training_resumes_exactly(tmp_path, monkeypatch):
    run = dict(COMMON, epochs=2, batch_size=64, checkpoint_every=5, adversarial="pgd",
               adversarial_eps=0.1, adversarial_steps=3, adversarial_step_size=0.05)
    neuralzoo.train("mlp", out=tmp_path / "ref", **run)
    # mid-epoch 2, three steps after the checkpoint at step 25
    crash_at_step_call(monkeypatch, "mlp", 28, tmp_path / "run", **run)
    neuralzoo.train(resume=tmp_path / "run")
    a, b = neuralzoo.load(tmp_path / "ref", "last"), neuralzoo.load(tmp_path / "run", "last")
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_membership_audit_sees_overfitting(runs, plain_model):
    overfit = neuralzoo.load(runs / "overfit")
    train, test = audit_data(overfit)
    leaky = membership_inference(overfit, train, test)
    assert leaky["samples_each"] == len(train) == 90   # the run's own 90 training samples
    general = membership_inference(plain_model, *audit_data(plain_model))
    for block in (leaky, general):
        assert 0 <= block["auc"] <= 1 and 0 <= block["advantage"] <= 1
    # measured: 0.68 against 0.54 (the overfitted run memorised its 90 samples; the other generalises)
    assert leaky["auc"] > 0.6 and leaky["auc"] > general["auc"] + 0.05
    assert leaky["mean_loss_members"] < leaky["mean_loss_non_members"]


def run_cli(*argv) -> int:
    return main([str(a) for a in argv])


def test_cli_attack_audit_and_evaluate(runs, capsys):
    assert run_cli(*["attack", runs / "plain", "--method", "fgsm", "--eps", "0,0.2", "--limit", "50"]) == 0
    out = capsys.readouterr().out
    assert "eps 0.2: robust accuracy" in out and "the first 50 of 360 test samples" in out
    saved = json.loads((runs / "plain" / "attack.json").read_text())
    assert set(saved["robust_accuracy"]) == {"0", "0.2"}
    assert all((runs / "plain" / name).is_file() for name in ("attack_curve.png", "attack_examples.png"))
    assert run_cli(*["evaluate", runs / "plain", "--no-baselines", "--robustness",
                     "--robustness-method", "fgsm", "--robustness-eps", "0.1", "--robustness-limit", "50"]) == 0
    capsys.readouterr()
    assert json.loads((runs / "plain" / "eval.json").read_text())["robustness"]["samples"] == 50
    assert (runs / "plain" / "robustness_curve.png").is_file()
    assert run_cli(*["audit", runs / "plain"]) == 0
    out = capsys.readouterr().out
    assert "AUC" in out and "not a DP run" in out and "robustness (fgsm, 50 samples)" in out
    assert run_cli(*["audit", runs / "plain", "--limit", "40"]) == 0
    assert "40 training vs 40 test samples" in capsys.readouterr().out


def test_audit_reports_the_epsilon_a_private_run_spent(tmp_path, capsys):
    pytest.importorskip("opacus")
    neuralzoo.train("mlp", out=tmp_path / "dp", dp_epsilon=3.0, **{**COMMON, "epochs": 2}, max_steps=10)
    assert run_cli(*["audit", tmp_path / "dp"]) == 0
    assert "-DP for each training sample" in capsys.readouterr().out
    saved = json.loads((tmp_path / "dp" / "audit.json").read_text())
    # the accountant's figure after the run, at most the target the noise was calibrated for
    assert 0 < saved["dp_epsilon"] <= 3.0 + 1e-6 and saved["privacy"]["delta"] > 0


def test_bad_input_is_one_line(runs, capsys, tmp_path):
    plain = runs / "plain"
    one_line_error(["attack", plain, "--method", "deepfool"], capsys, "deepfool", "fgsm, pgd, autoattack")
    one_line_error(["attack", plain, "--eps", "1.5"], capsys, "eps 1.5", "[0, 1]")
    one_line_error(["attack", plain, "--eps", "-0.1"], capsys, "eps -0.1", "outside the input range")
    one_line_error(["attack", plain, "--eps", "a,b"], capsys, "--eps")
    neuralzoo.train("autoencoder", out=tmp_path / "ae", data="digits", epochs=1, max_steps=2,
                    baselines=False, verbose=False, progress=False)
    one_line_error(["attack", tmp_path / "ae"], capsys, "not a classifier")
    one_line_error(["audit", tmp_path / "ae"], capsys, "not a classifier")
    one_line_error(["evaluate", tmp_path / "ae", "--no-baselines", "--quality-samples", "0", "--robustness"],
                   capsys, "not a classifier")
    with pytest.raises(NeuralzooError, match="adversarial_eps 2 is outside"):
        neuralzoo.train("mlp", out=tmp_path / "x", adversarial="pgd", adversarial_eps=2.0, **COMMON)
    with pytest.raises(NeuralzooError, match="adversarial and dp_epsilon"):
        neuralzoo.train("mlp", out=tmp_path / "z", adversarial="pgd", adversarial_eps=0.1, dp_epsilon=3.0,
                        **COMMON)
    with pytest.raises(NeuralzooError, match="adversarial_eps must be given"):
        neuralzoo.train("mlp", out=tmp_path / "y", adversarial="fgsm-rs", **COMMON)


def test_pgd_agrees_with_torchattacks(plain_model):
    attacks = pytest.importorskip("torchattacks")
    from neuralzoo.evaluation.robustness import UnitInputs

    data = eval_data(plain_model)
    ours = robust_accuracy(plain_model, data.test.x, data.test.y, AttackSettings(eps=(0.1,), **PGD))
    reference = attacks.PGD(UnitInputs(plain_model, 0.0, 1.0), eps=0.1, alpha=0.02, steps=20,
                            random_start=True)
    with torch.enable_grad():
        adversarial = reference(data.test.x, data.test.y)
    theirs = 100.0 * float((plain_model(adversarial).argmax(1) == data.test.y).float().mean())
    assert abs(ours["robust_accuracy"]["0.1"] - theirs) < 5, (ours["robust_accuracy"], theirs)
