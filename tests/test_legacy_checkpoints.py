"""Checkpoints written before the evaluation layer moved (``tests/fixtures/checkpoints_v0_1``) still
load, rebuild the same networks and give the outputs the old code gave; the old forecasting
evaluation's baselines are reproduced by the new one, which fits them from the training part."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import neuralzoo
from neuralzoo.data import DataConfig, SeriesInfo, TextInfo, load_dataset
from neuralzoo.evaluation import evaluate_run

FIXTURES = Path(__file__).parent / "fixtures" / "checkpoints_v0_1"
EXPECTED = np.load(FIXTURES / "expected_outputs.npz")


def load(name: str):
    return neuralzoo.load(FIXTURES / f"{name}.safetensors")


def test_classifier_and_vae_give_the_old_outputs():
    digits = load_dataset(DataConfig(data="digits")).test.x[:4]
    assert np.allclose(load("cnn").predict_proba(digits).numpy(), EXPECTED["cnn_probabilities"], atol=1e-6)
    vae = load("vae")
    mu = vae.infer(vae.encode, digits)
    assert np.allclose(mu.numpy(), EXPECTED["vae_posterior_mean"], atol=1e-6)
    assert np.allclose(vae.infer(vae.decode, mu).numpy(), EXPECTED["vae_decoded"], atol=1e-6)


def test_sequence_checkpoints_read_their_legacy_dict_into_typed_infos():
    gru, lstm = load("gru"), load("lstm")
    assert isinstance(gru.info.series, SeriesInfo) and gru.info.text is None
    assert gru.info.series.lookback == 12 and gru.info.series.ar_order == 12
    assert gru.info.series.split == (216, 247, 309)
    assert isinstance(lstm.info.text, TextInfo) and lstm.info.text.vocabulary.endswith("\ufffd")
    sunspots = load_dataset(DataConfig(data="sunspots")).test.x[:4]
    assert np.allclose(gru.infer(gru, sunspots).numpy(), EXPECTED["gru_forecast_scaled"], atol=1e-6)
    fable = load_dataset(DataConfig(data="fable")).test.x[:2]
    assert np.allclose(lstm.infer(lstm, fable).numpy(), EXPECTED["lstm_logits"], atol=1e-5)


def test_gan_samples_are_the_old_ones():
    samples = load("dcgan").sample(4, labels=3, generator=torch.Generator().manual_seed(0))
    assert np.allclose(samples.numpy(), EXPECTED["dcgan_samples"], atol=1e-5)


def test_forecast_evaluation_reproduces_the_baselines_the_loader_used_to_store(tmp_path):
    old = json.loads((FIXTURES / "gru_eval.json").read_text())["forecast"]
    new = evaluate_run(FIXTURES / "gru.safetensors", out=tmp_path)["forecast"]
    assert new["mase_scale"] == pytest.approx(old["mase_scale"], rel=1e-6)
    assert set(new["metrics"]) == set(old["metrics"]) == {"model", "naive", "seasonal_naive_1", "ar_12"}
    for name, figures in old["metrics"].items():
        for key, value in figures.items():
            assert new["metrics"][name][key] == pytest.approx(value, rel=1e-5), (name, key)


def test_a_resaved_legacy_checkpoint_round_trips(tmp_path):
    """Loading upgrades the data description in memory; what a run saves next is the typed form."""
    info = load("gru").info
    again = type(info).from_dict(json.loads(json.dumps(info.to_dict())))
    assert again == info and "sequence" not in info.to_dict()
