"""ONNX export: every registered model that has an exportable capability, against PyTorch in ONNX
Runtime at batch 1 and 17 (and a second sequence length for recurrent models); self-contained files
with the preprocessing constants; the CLI, its check, and its errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from extras import requires  # noqa: E402

pytestmark = requires("onnx", "onnxruntime", "onnxscript", extra="onnx")

import neuralzoo  # noqa: E402
from neuralzoo.cli import main  # noqa: E402
from neuralzoo.errors import NeuralzooError  # noqa: E402
from neuralzoo.export import check as onnx_check  # noqa: E402
from neuralzoo.export import export_model  # noqa: E402
from neuralzoo.registry import model_names  # noqa: E402

SEQUENCES = ("rnn", "lstm", "gru")


class TwoStepRuns:
    """``runs / name``: that model trained 2 steps, on first use (the fast subset exports a few)."""

    def __init__(self, folder: Path):
        self.folder = folder

    def __truediv__(self, name: str) -> Path:
        out = self.folder / name
        if not out.exists():
            data = "digits-rows" if name in SEQUENCES else "digits"
            neuralzoo.train(name, out=out, data=data, max_steps=2, progress=False, verbose=False,
                            baselines=False)
        return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return TwoStepRuns(tmp_path_factory.mktemp("export"))


def session(path) -> "onnxruntime.InferenceSession":  # noqa: F821 (imported below)
    """A session that logs ONNX Runtime's warnings whatever the process default (the exporter must
    not lower it to pass these tests)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 2
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def assert_no_runtime_warnings(capfd) -> None:
    # ONNX Runtime logs from C++ to file descriptor 2, e.g. "[W:onnxruntime:, execution_frame.cc:943
    # VerifyOutputSizes] Expected shape from model of {-1,3,45} does not match actual shape ..."
    err = capfd.readouterr().err
    assert not re.search(r"\[[WE]:onnxruntime", err), err


def reference(model, graph: str, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """What PyTorch gives for the graph's input, through the model's own methods."""
    with torch.no_grad():
        if graph == "classifier":
            logits = model(x).float()
            return logits, torch.softmax(logits, 1)
        if graph == "encoder":
            return model.posterior(x) if hasattr(model, "posterior") else (model.encode(x),)
        if graph == "decoder":
            return (model.decode(x),)
        return (model(x),)


@pytest.mark.parametrize("name", model_names())
def test_every_model_exports_and_onnx_runtime_matches_pytorch(runs, name, tmp_path, capfd):
    import onnx

    model = neuralzoo.load(runs / name)
    files = export_model(model, tmp_path / "onnx")
    capfd.readouterr()
    expected = ({"classifier"} if hasattr(model, "predict_proba") else
                {"encoder", "decoder"} if hasattr(model, "decode") else
                {"encoder"} if hasattr(model, "encode") else {"generator"})   # encode only: pretext
    assert {f.stem for f in files} == expected
    assert sorted(p.name for p in (tmp_path / "onnx").iterdir()) == sorted(
        [f.name for f in files] + ["README.txt"])   # self-contained: no external data files
    generator = torch.Generator().manual_seed(0)
    for path in files:
        proto = onnx.load(str(path))
        meta = json.loads({p.key: p.value for p in proto.metadata_props}["neuralzoo"])
        assert meta["neuralzoo_model"] == name and meta["input_shape"] == list(model.info.input_shape)
        runtime = session(path)
        feed = runtime.get_inputs()[0]
        shapes = [(1,), (17,)] if name not in SEQUENCES else [(1, 8), (17, 5)]   # second length: 5 rows
        for leading in shapes:
            rest = [d for d in feed.shape[len(leading):]]
            x = (model.noise(leading[0], generator=generator) if path.stem == "generator" else
                 torch.randn(*leading, *rest, generator=generator) if path.stem == "decoder" else
                 torch.rand(*leading, *rest, generator=generator))
            got = runtime.run(None, {feed.name: x.numpy()})
            for ours, theirs in zip(got, reference(model, path.stem, x)):
                assert ours.shape == tuple(theirs.shape)
                assert np.abs(ours - theirs.float().numpy()).max() <= 1e-4, (path.stem, leading)
    assert all(f.name in (tmp_path / "onnx" / "README.txt").read_text() for f in files)
    assert_no_runtime_warnings(capfd)   # at both batch sizes (and both lengths): no axis declared fixed


def test_cli_exports_checks_and_refuses_clearly(runs, tmp_path, capsys, monkeypatch):
    assert main(["export", str(runs / "cnn"), "--output", str(tmp_path / "cnn"), "--check"]) == 0
    out = capsys.readouterr().out
    assert "classifier.onnx" in out and "within 1e-4" in out
    assert main(["export", str(runs / "cnn"), "--format", "tflite"]) == 2
    assert "unknown export format; formats: onnx" in capsys.readouterr().err
    with pytest.raises(NeuralzooError, match="unknown export format 'tflite'"):
        export_model(neuralzoo.load(runs / "cnn"), tmp_path / "x", format="tflite")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)   # the extra not installed
    assert main(["export", str(runs / "cnn")]) == 2
    assert "pip install 'neuralzoo[onnx]'" in capsys.readouterr().err


@pytest.mark.parametrize("name, data", [("gru", "sunspots"), ("lstm", "fable"), ("rnn", "fable")])
def test_forecasters_and_language_models_export_with_their_state(name, data, tmp_path, capfd):
    import onnx

    run = tmp_path / "run"
    neuralzoo.train(name, out=run, data=data, max_steps=2, progress=False, verbose=False)
    model = neuralzoo.load(run)
    (path,) = export_model(model, tmp_path / "onnx")
    meta = json.loads({p.key: p.value for p in onnx.load(str(path)).metadata_props}["neuralzoo"])
    runtime = session(path)
    declared = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
                for v in onnx.load(str(path)).graph.output}
    if data == "fable":   # the step count was declared as the example's (3), not as the ids' steps
        assert declared["logits"] == ["batch", "steps", len(model.vocabulary)]
    capfd.readouterr()
    generator = torch.Generator().manual_seed(0)
    for batch, steps in ((1, 7), (17, 12)):   # two batch sizes, two sequence lengths
        with torch.no_grad():
            if data == "sunspots":
                assert path.name == "forecaster.onnx"
                assert meta["series"]["horizon"] == model.info.series.horizon
                # the default forecaster's linear term reads exactly its lookback
                length = model.info.series.lookback if model.config.linear_skip else steps
                window = torch.randn(batch, length, 1, generator=generator)
                got = runtime.run(None, {"window": window.numpy()})
                expected = (model(window),)
            else:
                assert path.name == "step.onnx" and meta["vocabulary"] == model.info.text.vocabulary
                ids = torch.randint(len(model.vocabulary), (batch, steps), generator=generator)
                h = torch.randn(model.config.num_layers, batch, model.config.hidden_size, generator=generator)
                state = (h, torch.randn(h.shape, generator=generator)) if name == "lstm" else h
                feeds = {"ids": ids, "h": h, **({"c": state[1]} if name == "lstm" else {})}
                got = runtime.run(None, {k: v.numpy() for k, v in feeds.items()})
                outputs, _, new = model.recur(ids, None, state)
                expected = (model.head(outputs), *(new if isinstance(new, tuple) else (new,)))
        for ours, theirs in zip(got, expected, strict=True):
            assert np.abs(ours - theirs.float().numpy()).max() <= 1e-4
    assert_no_runtime_warnings(capfd)
    assert main(["export", str(run), "--check", "--output", str(tmp_path / "checked")]) == 0
    assert "within 1e-4" in capfd.readouterr().out


def test_int8_models_keep_their_accuracy_at_a_fraction_of_the_size(tmp_path, capsys, monkeypatch):
    import onnxruntime

    from neuralzoo.data import DataConfig, load_dataset

    test = load_dataset(DataConfig(data="digits", val_fraction=0)).test
    for name, share in (("cnn", 0.35), ("mlp", 0.35)):   # static QDQ per channel; dynamic int8
        run = tmp_path / name
        neuralzoo.train(name, out=run, data="digits", epochs=15, progress=False, verbose=False,
                        baselines=False)
        assert main(["export", str(run), "--quantize", "int8", "--calibration", "256", "--check"]) == 0
        checked = capsys.readouterr().out
        folder = run / "onnx"
        accuracy = {}
        for kind in ("classifier", "classifier.int8"):
            session = onnxruntime.InferenceSession(str(folder / f"{kind}.onnx"),
                                                   providers=["CPUExecutionProvider"])
            probabilities = session.run(None, {"x": test.x.numpy()})[1]
            accuracy[kind] = float((probabilities.argmax(1) == test.y.numpy()).mean())
        assert accuracy["classifier.int8"] >= accuracy["classifier"] - 0.02, accuracy   # 360 test images
        size = {k: (folder / f"{k}.onnx").stat().st_size for k in accuracy}
        assert size["classifier.int8"] <= share * size["classifier"], size
        assert "operators left in float" in (folder / "README.txt").read_text()
        # --check scores the int8 graph beside float32 on the same test samples
        assert (f"classifier.int8.onnx on 360 test samples: accuracy {accuracy['classifier.int8']:.1%} "
                f"against {accuracy['classifier']:.1%} in float32") in checked
    monkeypatch.setattr(onnx_check, "ACCURACY_DROP", -1.0)   # a bound no int8 graph can meet
    assert main(["export", str(tmp_path / "mlp"), "--quantize", "int8", "--check"]) == 0
    assert re.search(r"neuralzoo: warning: classifier.int8.onnx: accuracy .* passes the bound \(a drop of "
                     r"at most 1 point\)", capsys.readouterr().err)
    assert main(["export", str(tmp_path / "cnn"), "--quantize", "int8", "--calibration", "0"]) == 2


def test_int8_calibrates_on_mnist_training_files(tmp_path, mnist_dir):
    # MNIST's training files are read for calibration (test-only loading would leave nothing to calibrate)
    run = tmp_path / "cnn"
    neuralzoo.train("cnn", out=run, data="mnist", data_dir=str(mnist_dir), max_steps=2, progress=False,
                    verbose=False, baselines=False)
    assert main(["export", str(run), "--quantize", "int8", "--calibration", "64"]) == 0
    assert "calibrated on 64 training samples" in (run / "onnx" / "README.txt").read_text()


def test_export_leaves_the_model_in_its_inference_layout(runs, tmp_path):
    model = neuralzoo.load(runs / "cnn")
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    export_model(model, tmp_path / "onnx")   # the graphs are traced channels-first ...
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)   # ... the model is given back


def test_export_prints_nothing_from_the_libraries_it_uses(runs, tmp_path):
    # a fresh process: the exporter's registration logs and once-per-process warnings come back
    commands = [["export", str(runs / n), "--quantize", "int8", "--calibration", "32", "--output",
                 str(tmp_path / n)] for n in ("mlp", "lstm", "dcgan")]
    script = f"import sys; from neuralzoo.cli import main; sys.exit(max(map(main, {commands!r})))"
    source = str(Path(neuralzoo.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                          timeout=240)
    assert done.returncode == 0, done.stderr
    # before: a copyreg FutureWarning, torch's "torchvision is not installed" (without torchvision),
    # nn.LSTM's flat-weight UserWarning, onnxruntime's "Please consider to run pre-processing"
    assert done.stderr == ""
    assert "wrote" in done.stdout


def test_int8_is_skipped_where_nothing_is_quantized(runs, tmp_path, capsys):
    assert main(["export", str(runs / "gru"), "--quantize", "int8", "--output", str(tmp_path)]) == 0
    assert not (tmp_path / "classifier.int8.onnx").exists()   # a GRU operator stays float32
    out = capsys.readouterr().out
    assert "no classifier.int8.onnx: ONNX Runtime's int8 quantization covers" in out and "GRU" in out
    assert "classifier.int8.onnx: not written" in (tmp_path / "README.txt").read_text()


def test_generator_inputs_are_described_so_another_runtime_can_sample(runs, tmp_path):
    import onnx

    model = neuralzoo.load(runs / "dcgan")
    (path,) = export_model(model, tmp_path)
    layout = json.loads({p.key: p.value for p in onnx.load(str(path)).metadata_props}["neuralzoo"])["noise"]
    assert layout["size"] == 110 and layout["latent"]["columns"] == [0, 100]
    assert layout["class"]["columns"] == [100, 110] and len(layout["class"]["prior"]) == 10
    readme = (tmp_path / "README.txt").read_text()
    assert "columns 0-99 independent standard normal" in readme and "columns 100-109" in readme
    # sample from the metadata alone, as another runtime would, and compare with the model's noise()
    rng = np.random.default_rng(0)
    latent = rng.standard_normal((4, layout["latent"]["columns"][1])).astype(np.float32)
    classes = rng.choice(10, size=4, p=np.array(layout["class"]["prior"]) / sum(layout["class"]["prior"]))
    noise = np.concatenate([latent, np.eye(10, dtype=np.float32)[classes]], 1)
    (image,) = session(path).run(None, {"noise": noise})
    with torch.no_grad():
        expected = model(model.noise(4, labels=torch.from_numpy(classes), noise=torch.from_numpy(latent)))
    assert np.abs(image - expected.numpy()).max() <= 1e-4
