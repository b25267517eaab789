"""Issue 34's smaller things: a collapsed latent code and a resized image are said in one line; long
error messages are one short line with the details behind --verbose; ``neuralzoo --help`` lists one
command per line, grouped by job."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import neuralzoo
from neuralzoo.errors import CollapseWarning, InputWarning
from neuralzoo.evaluation.traversal import latent_traversal


def traversal_warnings(model, digits) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        latent_traversal(model, digits.test.x[0], digits.test.x, steps=5)
    return [str(w.message) for w in caught if issubclass(w.category, CollapseWarning)]


def test_a_collapsed_vae_traversal_says_so(tmp_path, digits):
    # a heavy KL weight drives every posterior to the prior: KL ~0 nats, no active unit
    neuralzoo.train("vae", out=tmp_path / "collapsed", data="digits", latent_dim=4, beta=200.0, epochs=3,
                    progress=False, verbose=False, baselines=False)
    said = traversal_warnings(neuralzoo.load(tmp_path / "collapsed"), digits)
    assert len(said) == 1 and "posterior collapse: none of the 4 latent dimensions is active" in said[0]
    # a VAE that uses its code (KL ~0.9 nats in three dimensions here) draws its traversal in silence
    neuralzoo.train("vae", out=tmp_path / "used", data="digits", latent_dim=4, epochs=20, lr=3e-3,
                    batch_size=32, progress=False, verbose=False, baselines=False)
    model = neuralzoo.load(tmp_path / "used")
    assert traversal_warnings(model, digits) == []
    with torch.no_grad():   # the same model with a decoder that ignores its code: identical images
        next(m for m in model.decoder.modules() if isinstance(m, torch.nn.Linear)).weight.zero_()
    said = traversal_warnings(model, digits)
    assert len(said) == 1 and "near-identical" in said[0] and "decoder ignores its code" in said[0]


def test_explain_command_prints_the_collapse_on_one_line(tmp_path, cli):
    neuralzoo.train("vae", out=tmp_path / "v", data="digits", latent_dim=2, beta=200.0, epochs=2,
                    progress=False, verbose=False, baselines=False)
    code, out, err = cli(["explain", tmp_path / "v", "--samples", "1", "--output", tmp_path / "e"])
    assert code == 0 and "posterior collapse" in err and (tmp_path / "e" / "traversal_test0.png").is_file()


def test_a_larger_image_given_to_a_small_model_is_said(run_dir, tmp_path, digits, cli):
    pixels = (digits.test.x[0, 0].numpy() * 255).round().astype(np.uint8)   # 8x8
    Image.fromarray(np.kron(pixels, np.ones((4, 4), np.uint8))).save(tmp_path / "big.png")   # 32x32
    Image.fromarray(pixels).save(tmp_path / "fits.png")
    code, out, err = cli(["predict", run_dir, "--input", tmp_path / "big.png",
                          "--output", tmp_path / "big.csv"])
    assert code == 0 and "the 32x32 image shrunk to 8x8, the size the model was trained on" in err, err
    assert len([line for line in err.splitlines() if "shrunk" in line]) == 1
    code, out, err = cli(["predict", run_dir, "--input", tmp_path / "fits.png",
                          "--output", tmp_path / "fits.csv"])
    assert code == 0 and "shrunk" not in err and "resized" not in err
    folder = tmp_path / "folder"
    folder.mkdir()
    (tmp_path / "big.png").rename(folder / "big.png")
    (tmp_path / "fits.png").rename(folder / "fits.png")
    from neuralzoo.data import read_inputs

    with pytest.warns(InputWarning, match=r"1 of 2 images resized \(e.g. big.png, 32x32\) to 8x8"):
        x = read_inputs(str(folder), neuralzoo.load(run_dir).info).x
    assert x.shape == (2, 1, 8, 8)


def test_an_unknown_setting_in_a_config_file_is_one_short_line(tmp_path, cli):
    config = tmp_path / "settings.toml"
    config.write_text("lrr = 0.01\nepochs = 1\n")
    code, out, err = cli(["train", "mlp", "--data", "digits", "--config", config, "--out", tmp_path / "r"])
    line = err.strip()
    assert code == 2 and "\n" not in line and len(line) - len(str(config)) < 150, line   # short but the path
    assert f"unknown setting 'lrr' in {config}; did you mean 'lr'?" in line and "--help" in line
    assert "weight_decay" not in line   # the valid names are in --help, not the error
    config.write_text("zzzq = 1\n")   # nothing close: no guess
    code, out, err = cli(["train", "mlp", "--data", "digits", "--config", config, "--out", tmp_path / "r"])
    assert code == 2 and "did you mean" not in err and "neuralzoo train mlp --help lists the" in err


def test_a_failed_mnist_download_is_one_line_with_details_behind_verbose(tmp_path, cli, monkeypatch):
    monkeypatch.delenv("NEURALZOO_OFFLINE")
    mirrors = [(tmp_path / name).as_uri() for name in ("mirror-a", "mirror-b")]   # no such folders
    monkeypatch.setenv("NEURALZOO_MNIST_MIRROR", ",".join(mirrors))
    train = ["train", "mlp", "--data", "mnist", "--data-dir", tmp_path / "data", "--epochs", "1",
             "--out", tmp_path / "r"]
    code, out, err = cli(train)
    line = err.strip()
    assert code == 2 and "\n" not in line and len(line.replace(str(tmp_path), "")) < 260, line
    assert "download failed (2 mirrors)" in line and "mirror-a" not in line and "--verbose" in line
    code, out, err = cli(["--verbose", *train])
    error, details = err.strip().split("\n")
    assert code == 2 and error.startswith("neuralzoo: error: MNIST: no IDX files in")
    assert details.startswith("neuralzoo: details: train-images-idx3-ubyte: ") and "--verbose" not in error
    assert f"{mirrors[0]}/train-images-idx3-ubyte.gz" in details and f"{mirrors[1]}/" in details


def test_top_level_help_lists_one_command_per_line_grouped_by_job(cli):
    from neuralzoo.cli.base import COMMANDS, GROUPS

    code, out, err = cli(["--help"])
    assert code == 0
    lines = out.splitlines()
    for name, (help_, _) in COMMANDS.items():   # each command on its own line with its description
        assert sum(line.split()[:1] == [name] and line.strip().endswith(help_) for line in lines) == 1, name
    titles = [line for line in lines if line.endswith(":") and not line.startswith(" ")]
    assert titles[-len(GROUPS):] == [f"{title}:" for title in GROUPS]   # train, inspect, use, serve
    grouped = [name for names in GROUPS.values() for name in names]
    assert sorted(grouped) == sorted(COMMANDS)   # every command belongs to exactly one job
    assert out.index("   train ") < out.index("   evaluate ") < out.index("   predict ") < out.index("   serve ")
