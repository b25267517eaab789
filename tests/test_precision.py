"""Inference precision (``--precision bf16`` / ``load(..., precision=)``): bf16 autocast is really
applied, its outputs come back in float32 close to float32's, evaluation records it, and a device
without native bf16 gets a warning instead of a silent slowdown."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

import neuralzoo
from neuralzoo.errors import NeuralzooError
from neuralzoo.models import base


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("precision")
    neuralzoo.train("cnn", out=folder / "cnn", data="digits", epochs=3, progress=False, verbose=False)
    neuralzoo.train("vae", out=folder / "vae", data="digits", max_steps=20, progress=False, verbose=False)
    return folder


def quiet_load(path, **options):
    with warnings.catch_warnings():   # the AVX2 machines warn that bf16 is emulated; tested below
        warnings.simplefilter("ignore", RuntimeWarning)
        return neuralzoo.load(path, **options)


def test_bf16_classifier_runs_in_bf16_and_agrees_with_float32(runs, digits):
    x = digits.test.x
    full = neuralzoo.load(runs / "cnn").predict_proba(x)
    half = quiet_load(runs / "cnn", precision="bf16").predict_proba(x)
    assert half.dtype == torch.float32 and half.shape == full.shape
    difference = (half - full).abs().max().item()
    assert 0 < difference < 0.1   # rounded (bf16 keeps 8 bits of mantissa), yet close
    agree = (half.argmax(1) == full.argmax(1)).float().mean().item()
    assert agree >= 0.97
    assert torch.allclose(half.sum(1), torch.ones(len(x)), atol=1e-5)   # softmax in float32


def test_bf16_generative_paths_return_float32(runs, digits):
    model = quiet_load(runs / "vae", precision="bf16")
    with model.autocast():
        samples = model.sample(5, generator=torch.Generator().manual_seed(0)).float()
    assert samples.shape == (5, *model.info.input_shape) and samples.dtype == torch.float32
    codes = model.infer(model.encode, digits.test.x[:7])
    reference = neuralzoo.load(runs / "vae").infer(model.encode, digits.test.x[:7])
    assert codes.dtype == torch.float32 and codes.shape == reference.shape
    assert 0 < (codes - reference).abs().max().item() < 0.2


def test_precision_unknown_and_emulated(runs, monkeypatch):
    with pytest.raises(NeuralzooError, match=r"precision 'fp8': unknown; precisions: float32, bf16"):
        neuralzoo.load(runs / "cnn", precision="fp8")
    monkeypatch.setattr(base, "native_cpu_bf16", lambda: False)
    with pytest.warns(RuntimeWarning, match="no native bf16.*emulated: slower than float32"):
        neuralzoo.load(runs / "cnn", precision="bf16")
    monkeypatch.setattr(base, "native_cpu_bf16", lambda: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # native: no warning
        neuralzoo.load(runs / "cnn", precision="bf16")


def test_cli_evaluate_records_the_precision(runs, cli, tmp_path):
    code, out, err = cli(["evaluate", runs / "cnn", "--precision", "bf16", "--out", tmp_path])
    assert code == 0, err
    protocol = json.loads((tmp_path / "eval.json").read_text())["protocol"]
    assert protocol["precision"] == "bf16"
    code, out, err = cli(["sample", runs / "vae", "--precision", "bf16", "--n", "4",
                          "--output", tmp_path / "s.png"])
    assert code == 0 and (tmp_path / "s.npz").is_file(), err
    code, out, err = cli(["predict", runs / "cnn", "--precision", "fp16", "--input", tmp_path / "s.png"])
    assert code == 2 and "invalid choice: 'fp16'" in err
