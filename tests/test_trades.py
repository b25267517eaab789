"""TRADES (Zhang et al. 2019): the classifier's loss gains beta times the batch-mean KL divergence of the
adversarial inputs' predictions from the clean ones; the inner maximisation stays in the eps-ball and
the input range and raises that divergence; a TRADES-trained MLP holds under PGD where a plain one falls."""

from __future__ import annotations

import contextlib

import pytest
import torch
import torch.nn.functional as F

import neuralzoo
from neuralzoo.config import TrainConfig
from neuralzoo.errors import NeuralzooError
from neuralzoo.evaluation import eval_data_config, load_eval_data
from neuralzoo.evaluation.robustness import AttackSettings, robust_accuracy
from neuralzoo.training.adversarial import AdversarialTraining, linf_pgd

from cli_helpers import one_line_error

COMMON = dict(data="digits", epochs=15, batch_size=32, hidden_sizes=(128,), lr=3e-3, baselines=False,
              verbose=False, progress=False)


class PlainContext:
    """The step context's one member the attack reads: float32, no autocast."""

    def autocast(self):
        return contextlib.nullcontext()


@pytest.fixture(scope="module")
def model_and_batch(tmp_path_factory):
    run = tmp_path_factory.mktemp("trades") / "mlp"
    neuralzoo.train("mlp", out=run, **dict(COMMON, epochs=2))
    model = neuralzoo.load(run)
    data = load_eval_data(model, eval_data_config(model, {}), need_validation=True)
    return model, {"x": data.test.x[:64], "y": data.test.y[:64]}


def test_the_loss_adds_beta_times_the_divergence_from_the_clean_predictions(model_and_batch):
    model, batch = model_and_batch
    model.train()
    torch.manual_seed(0)
    moved = (batch["x"] + 0.2 * torch.randn_like(batch["x"])).clamp(0, 1)
    plain = model.loss(batch)
    same = model.loss({**batch, "adversarial_x": batch["x"], "adversarial_weight": torch.tensor(6.0)})
    assert same["robust_kl"].abs() < 1e-6 and torch.allclose(same["loss"], plain["loss"])
    out = model.loss({**batch, "adversarial_x": moved, "adversarial_weight": torch.tensor(2.5)})
    with torch.no_grad():
        p, q = F.softmax(model(batch["x"]), 1), F.softmax(model(moved), 1)
    divergence = (p * (p.log() - q.log())).sum(1).mean()   # KL(p || q), one row at a time, averaged
    assert divergence > 1e-3
    assert torch.allclose(out["robust_kl"], divergence, rtol=1e-4)
    assert torch.allclose(out["loss"], plain["loss"] + 2.5 * divergence, rtol=1e-4)


def test_the_inner_maximisation_stays_in_the_ball_and_raises_the_divergence(model_and_batch):
    model, batch = model_and_batch
    cfg = TrainConfig(adversarial="trades", adversarial_eps=0.1, adversarial_steps=10,
                      adversarial_step_size=0.025, adversarial_beta=3.0)
    adversary = AdversarialTraining(model, cfg)
    torch.manual_seed(0)
    out = adversary(batch, PlainContext())
    x, adversarial = batch["x"], out["adversarial_x"]
    assert torch.equal(out["x"], x) and out["adversarial_weight"].item() == 3.0
    assert (adversarial - x).abs().max() <= 0.1 + 1e-6 and adversarial.min() >= 0 and adversarial.max() <= 1
    with torch.no_grad():
        clean = F.softmax(model(x), 1)
        start = F.kl_div(F.log_softmax(model((x + 1e-3 * torch.randn_like(x)).clamp(0, 1)), 1), clean,
                         reduction="batchmean")
        reached = F.kl_div(F.log_softmax(model(adversarial), 1), clean, reduction="batchmean")
    assert reached > 20 * max(start.item(), 1e-6)
    assert "trades" in adversary.describe() and "KL weight 3" in adversary.describe()


def test_a_given_start_is_projected_onto_the_ball():
    x = torch.full((4, 5), 0.5)
    start = x + torch.tensor([0.5, -0.5, 0.05, 0.0, 0.2])   # partly outside the ball of 0.1
    out = linf_pgd(lambda v: v.sum(), x, eps=0.1, steps=0, step_size=0.01, low=0, high=1, start=start)
    assert torch.allclose(out[0], torch.tensor([0.6, 0.4, 0.55, 0.5, 0.6]))


@pytest.mark.slow
def test_a_trades_trained_mlp_holds_where_a_plain_one_falls(tmp_path):
    settings = AttackSettings(eps=(0.1,), method="pgd", steps=20, step_size=0.02, limit=None)
    figures = {}
    for name, extra in (("plain", {}), ("trades", dict(adversarial="trades", adversarial_eps=0.1,
                                                        adversarial_steps=5, adversarial_step_size=0.03))):
        neuralzoo.train("mlp", out=tmp_path / name, **COMMON, **extra)
        model = neuralzoo.load(tmp_path / name)
        data = load_eval_data(model, eval_data_config(model, {}), need_validation=True)
        figures[name] = robust_accuracy(model, data.test.x, data.test.y, settings)
    # measured: clean 94.7% against 95.8%; under PGD-20 at eps 0.1 78.6% against 51.7%
    assert figures["trades"]["clean_accuracy"] > 85
    assert (figures["trades"]["robust_accuracy"]["0.1"]
            > figures["plain"]["robust_accuracy"]["0.1"] + 12), figures


def test_bad_beta_is_one_line(capsys):
    with pytest.raises(NeuralzooError, match="adversarial_beta must be a positive number, got 0"):
        TrainConfig(adversarial="trades", adversarial_eps=0.3, adversarial_beta=0.0)
    one_line_error(["train", "mlp", "--adversarial", "trades", "--adversarial-eps", "0.1",
                    "--adversarial-beta", "-1"], capsys, "adversarial_beta must be a positive number")
