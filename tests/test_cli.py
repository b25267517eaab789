"""The commands write what they promise: list, train --config/--help, predict, evaluate, demo (the
one-line errors of bad input are in test_cli_errors.py)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import neuralzoo
from neuralzoo.cli import main
from neuralzoo.config import TrainConfig
from neuralzoo.fields import field_types, flag
from neuralzoo.data import DataConfig
from neuralzoo.registry import MODELS, model_names


def test_list_prints_one_line_per_model(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines] == model_names()
    for line, name in zip(lines, model_names()):
        assert MODELS[name].card.summary in line


def _help_entries(text: str) -> dict[str, str]:
    """argparse help -> {first flag of each option: its whole (unwrapped) entry}."""
    entries: dict[str, str] = {}
    current = None
    for line in text.split("options:", 1)[1].splitlines():
        if line.startswith("  -"):
            current = line.split()[0].rstrip(",")
            entries[current] = line
        elif line.startswith("      ") and current:
            entries[current] += " " + line.strip()
        else:
            current = None
    return {k: " ".join(v.split()) for k, v in entries.items()}


@pytest.mark.parametrize("name", model_names())
def test_train_model_help_lists_every_field_with_its_default(name, cli):
    code, out, err = cli(["train", name, "--help"])
    assert code == 0 and not err
    entries = _help_entries(out)
    cls = MODELS[name]
    defaults = cls.Config()
    for field_name in field_types(cls.Config):
        entry = entries.get(flag(field_name))
        assert entry, f"{flag(field_name)} missing from train {name} --help"
        value = getattr(defaults, field_name)
        if value is None:   # decided from the data (e.g. conditional): the help says how, in words
            assert "(default: " in entry and "(default: None)" not in entry, entry
            continue
        shown = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
        assert f"(default: {shown})" in entry, entry
    for config_cls in (TrainConfig, DataConfig):   # shared flags: present, with a default stated
        for field_name in field_types(config_cls):
            assert "(default:" in entries.get(flag(field_name), ""), flag(field_name)
    assert "--preset" in entries


def test_train_from_json_and_toml_config_explicit_flags_win(tmp_path, capsys):
    (tmp_path / "c.json").write_text(json.dumps(
        {"model": "mlp", "epochs": 2, "lr": 0.01, "max_steps": 2, "hidden_sizes": [16, 8],
         "progress": False, "val_fraction": 0.2}))
    (tmp_path / "c.toml").write_text(
        'model = "mlp"\n[model_config]\nhidden_sizes = [12]\ndropout = 0.1\n'
        '[train]\nepochs = 2\nlr = 0.01\nmax_steps = 2\nprogress = false\n[data]\nval_fraction = 0.2\n')
    for name in ("c.json", "c.toml"):
        out = tmp_path / name.replace(".", "-")
        assert main(["train", "--config", str(tmp_path / name), "--lr", "0.02",
                     "--out", str(out)]) == 0
        config = json.loads((out / "config.json").read_text())
        assert config["model"] == "mlp"
        assert config["train"]["lr"] == 0.02                              # the flag beats the file
        assert config["train"]["epochs"] == config["train"]["max_steps"] == 2   # from the file
        assert config["data"]["val_fraction"] == 0.2
        assert config["model_config"]["hidden_sizes"] == ([16, 8] if name == "c.json" else [12])
        assert (out / "checkpoints" / "last.safetensors").is_file()
    toml_run = json.loads((tmp_path / "c-toml" / "config.json").read_text())
    assert toml_run["model_config"]["dropout"] == 0.1
    capsys.readouterr()


def _read_predictions(path: Path, classes: list[str]) -> list[dict]:
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["input", "predicted", *[f"prob_{c}" for c in classes]]
    out = []
    for row in rows[1:]:
        probs = np.array(row[2:], dtype=float)
        assert abs(probs.sum() - 1) < 1e-4 and (probs >= 0).all()
        assert row[1] == classes[int(probs.argmax())]
        out.append({"input": row[0], "probs": probs})
    return out


def test_predict_image_folder_and_npz(run_dir, tmp_path, digits, capsys):
    model = neuralzoo.load(run_dir)
    classes = model.info.class_names
    x = digits.test.x[:6]   # (6, 1, 8, 8) in [0, 1]
    folder = tmp_path / "images"
    folder.mkdir()
    pixels = (x[:, 0].numpy() * 255).round().astype(np.uint8)
    for i, image in enumerate(pixels):
        Image.fromarray(image).save(folder / f"digit{i}.png")
    Image.fromarray(np.kron(pixels[0], np.ones((3, 3), np.uint8))).convert("RGB").save(
        folder / "large-rgb.png")   # 24x24 colour: converted to grey and resized to 8x8
    (folder / "notes.txt").write_text("not an image")
    assert main(["predict", str(run_dir), "--input", str(folder),
                 "--output", str(tmp_path / "f.csv")]) == 0
    rows = _read_predictions(tmp_path / "f.csv", classes)
    assert [r["input"] for r in rows] == ["digit0.png", "digit1.png", "digit2.png", "digit3.png",
                                          "digit4.png", "digit5.png", "large-rgb.png"]
    expected = model.predict_proba(torch.from_numpy(pixels[:, None] / 255.0).float()).numpy()
    assert np.allclose([r["probs"] for r in rows[:6]], expected, atol=2e-6)

    np.savez(tmp_path / "x.npz", x=x.numpy())
    assert main(["predict", str(run_dir), "--input", str(tmp_path / "x.npz")]) == 0   # default --output
    rows = _read_predictions(run_dir / "predictions.csv", classes)
    assert [r["input"] for r in rows] == [f"row{i}" for i in range(6)]
    assert np.allclose([r["probs"] for r in rows], model.predict_proba(x).numpy(), atol=2e-6)
    assert "wrote 6 predictions" in capsys.readouterr().out


@pytest.mark.slow
def test_evaluate_with_data_writes_eval_json_and_confusion(run_dir, tmp_path, digits, capsys):
    x_train, y_train = digits.train.x.numpy(), digits.train.y.numpy()
    x_test, y_test = digits.test.x.numpy(), digits.test.y.numpy()
    np.savez(tmp_path / "d.npz", x=x_train, y=y_train, x_test=x_test, y_test=y_test)
    out = tmp_path / "eval"
    assert main(["evaluate", str(run_dir), "--data", str(tmp_path / "d.npz"), "--split-seed", "7",
                 "--out", str(out)]) == 0
    result = json.loads((out / "eval.json").read_text())
    assert (out / "confusion.png").stat().st_size > 1000
    model = neuralzoo.load(run_dir)
    predicted = model.predict_proba(torch.from_numpy(x_test)).argmax(1).numpy()
    assert result["accuracy"] == pytest.approx(float(np.mean(predicted == y_test)))
    assert set(result["per_class"]) == set(model.info.class_names)
    for scores in result["per_class"].values():
        assert {"precision", "recall", "f1", "support"} <= set(scores)
    protocol = result["protocol"]
    assert protocol["split"] == "test" and protocol["samples"] == len(y_test) == 360
    assert protocol["data"] == str(tmp_path / "d.npz")
    assert protocol["training_seed"] == 0 and protocol["split_seed"] == 7   # the seed actually used
    assert json.loads(capsys.readouterr().out)["protocol"]["samples"] == 360

    # data holding only some classes keeps the model's class indices (3 stays 3, not 0)
    keep = np.isin(y_test, [3, 5])
    np.savez(tmp_path / "some.npz", x=x_test[keep], y=y_test[keep])
    assert main(["evaluate", str(run_dir / "checkpoints" / "best.safetensors"), "--data",
                 str(tmp_path / "some.npz"), "--split", "train", "--val-fraction", "0", "--test-fraction",
                 "0"]) == 0
    result = json.loads((run_dir / "eval.json").read_text())   # beside the checkpoint's run dir
    assert result["accuracy"] == pytest.approx(float(np.mean(predicted[keep] == y_test[keep])))
    assert result["per_class"]["3"]["support"] + result["per_class"]["5"]["support"] == keep.sum()
    capsys.readouterr()


@pytest.mark.slow
def test_demo_writes_every_model_and_a_summary(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--max-steps", "3", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    table = (out / "summary.md").read_text()
    assert [row["model"] for row in summary["models"]] == model_names()
    digits_models = [n for n in model_names() if MODELS[n].card.demo.get("data", "digits").startswith("digits")]
    for row in summary["models"]:   # each row states the protocol of its own evaluation
        assert "training seed 0" in row["protocol"]
        assert ("test 360" in row["protocol"]) == (row["model"] in digits_models), row
    assert "Protocol (" in table and "test 360" in table
    # each classifier beside its logistic regression on the same split (3 steps: behind it)
    assert "| logistic regression: accuracy 0." in table.split("| cnn |")[1].splitlines()[0]
    page = (out / "index.html").read_text()   # the demo's report: every run on one page
    assert f"wrote {out / 'index.html'}" in printed and all(f"{n} ({n})" in page for n in model_names())
    for name in model_names():
        assert f"| {name} |" in table and f"| {name} |" in printed
        run = out / name
        assert (run / "checkpoints" / "best.safetensors").is_file()
        assert (run / "metrics.jsonl").is_file() and (run / "eval.json").is_file()
        assert (run / "curves.png").stat().st_size > 1000
        if hasattr(MODELS[name], "reconstruct"):   # autoencoder / VAE pictures
            assert (run / "reconstructions.png").stat().st_size > 100
        elif hasattr(MODELS[name], "latent_walk"):   # GANs: a sample grid per epoch and at the end
            assert (run / "samples.png").is_file() and list((run / "samples").glob("epoch_*.png"))
        elif hasattr(MODELS[name], "encode"):   # self-supervised encoders: their features probed
            assert 0 < json.loads((run / "eval.json").read_text())["knn_accuracy"] <= 1
        elif name in digits_models:   # classifiers of the digits (images or rows)
            assert (run / "confusion.png").stat().st_size > 1000
        assert json.loads((run / "config.json").read_text())["train"]["max_steps"] == 3
        row = next(r for r in summary["models"] if r["model"] == name)   # which checkpoint it scored
        validated = json.loads((run / "config.json").read_text())["data"]["val_fraction"] > 0
        assert row["protocol"].endswith("best-validation checkpoint" if validated else
                                        "last checkpoint (no validation split)"), row


@pytest.mark.parametrize("argv", [["--help"], ["list"], ["evaluate", "--help"]])
def test_help_and_list_import_no_torch(argv):
    """The command line's start-up: --help and list answer without importing torch (or numpy's
    heavier companions), which is most of a second of every command that does not need them."""
    code = ("import sys; from neuralzoo.cli import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            "heavy = sorted(m for m in ('torch', 'sklearn', 'matplotlib') if m in sys.modules)\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out, out[-300:]
