"""The command line's bad input of every kind (corrupt files, unknown names, bad flag values, foreign
checkpoints) ends in exactly one line on stderr naming the file or field, exit code 2, no traceback;
checkpoints are never unpickled.

File corruption and unknown names/flags run the real ``python -m neuralzoo`` in subprocesses
(started together, as each pays the torch import); the other error cases call ``main`` in-process.
"""

from __future__ import annotations

import gzip
import json
import os
import pickle
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch

import neuralzoo
from neuralzoo.cli import main
from neuralzoo.registry import model_names

MNIST_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
HAS_MNIST = (MNIST_DIR / "t10k-labels-idx1-ubyte.gz").is_file()
MNIST_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
               "t10k-labels-idx1-ubyte")
TINY = ["--max-steps", "1", "--epochs", "1", "--no-progress"]


# ----------------------------------------------------------------------------------- fixtures

def _mnist_folder(folder: Path, name: str, content: bytes, *, raw: bool) -> Path:
    """The real MNIST files (linked), except ``name``, which gets ``content``."""
    folder.mkdir(parents=True)
    for other in MNIST_NAMES:
        if other != name:
            (folder / f"{other}.gz").symlink_to(MNIST_DIR / f"{other}.gz")
    (folder / (name if raw else f"{name}.gz")).write_bytes(content)
    return folder


@pytest.fixture(scope="module")
def bad(tmp_path_factory, run_dir) -> Path:
    """Every kind of bad input file, built once."""
    d = tmp_path_factory.mktemp("bad")
    rng = np.random.default_rng(0)
    if HAS_MNIST:
        packed = (MNIST_DIR / "t10k-images-idx3-ubyte.gz").read_bytes()
        _mnist_folder(d / "mnist-truncated", "t10k-images-idx3-ubyte", packed[: len(packed) // 2],
                      raw=False)
        labels = gzip.decompress((MNIST_DIR / "t10k-labels-idx1-ubyte.gz").read_bytes())
        _mnist_folder(d / "mnist-magic", "t10k-labels-idx1-ubyte", b"\0\0\x08\x03" + labels[4:],
                      raw=True)   # an images magic number on the labels file
        _mnist_folder(d / "mnist-count", "t10k-labels-idx1-ubyte",   # a valid IDX file of 9999 labels
                      b"\0\0\x08\x01" + (9999).to_bytes(4, "big") + labels[8:-1], raw=True)
    x = rng.random((20, 64), dtype=np.float32)
    y = np.arange(20) % 2
    np.savez(d / "no-keys.npz", a=x, b=y)
    np.savez(d / "count.npz", x=x, y=y[:-1])
    x_nan = x.copy()
    x_nan[3, 5] = np.nan
    np.savez(d / "nan.npz", x=x_nan, y=y)
    rows = ["f0,f1,f2,label"] + [f"1,2,{'nan' if i == 4 else 3},{i % 2}" for i in range(10)]
    (d / "nan.csv").write_text("\n".join(rows) + "\n")
    np.savez(d / "wrong-shape.npz", x=rng.random((3, 5), dtype=np.float32))
    np.savez(d / "unlabelled.npz", x=rng.random((30, 1, 8, 8), dtype=np.float32))
    np.savez(d / "strange-classes.npz", x=rng.random((30, 1, 8, 8), dtype=np.float32),
             y=np.array(["cat", "dog", "3"] * 10))
    np.savez_compressed(d / "good.npz", x=rng.random((30, 1, 8, 8), dtype=np.float32))
    (d / "truncated.npz").write_bytes((d / "good.npz").read_bytes()[:-100])
    (d / "random.npz").write_bytes(rng.bytes(500))
    (d / "random.safetensors").write_bytes(rng.bytes(1000))
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    save_file({"w": torch.zeros(3)}, d / "foreign.safetensors")   # valid, but not ours
    ckpt = run_dir / "checkpoints" / "best.safetensors"
    (d / "truncated.safetensors").write_bytes(ckpt.read_bytes()[:-500])
    with safe_open(ckpt, "pt") as f:
        meta = f.metadata()
    config = json.loads(meta["config"])
    config["model"] = "nope"   # our format, but a model this installation does not know
    save_file(load_file(ckpt), d / "unknown-model.safetensors",
              metadata={**meta, "config": json.dumps(config)})
    (d / "not-a-run").mkdir()
    (d / "bad-config-run").mkdir()
    (d / "bad-config-run" / "config.json").write_text('{"model": "mlp", "train": ')
    (d / "bad.json").write_text('{"epochs": 3,}')
    (d / "unknown-key.json").write_text('{"model": "mlp", "nope": 1}')
    (d / "bad.toml").write_text("epochs = = 3\n")
    # degenerate data: valid files a model cannot learn from
    np.savez(d / "one-class.npz", x=x, y=np.full(20, 7))
    for i in range(4):
        (d / "one-class-images" / "cat").mkdir(parents=True, exist_ok=True)
        from PIL import Image
        picture = Image.fromarray((rng.random((8, 8)) * 255).astype(np.uint8))
        picture.save(d / "one-class-images" / "cat" / f"{i}.png")
    np.savez(d / "empty-test.npz", x=x, y=y, x_test=x[:0], y_test=y[:0])
    (d / "constant.csv").write_text("value\n" + "5.0\n" * 120)
    (d / "short-series.csv").write_text("value\n" + "".join(f"{np.sin(i):.3f}\n" for i in range(12)))
    (d / "short.txt").write_text("abc " * 12)
    return d


# --------------------------------------------------------------------------------- checkers

def check_one_line(code: int, stderr: str, parts: tuple[str, ...], argparse_flag: str | None):
    """Exit code 2, no traceback, and one line naming every part (argparse's own errors: usage lines,
    then a last line naming the flag)."""
    assert "Traceback" not in stderr, stderr
    assert code == 2, (code, stderr)
    lines = stderr.strip().splitlines()
    assert lines and all(line.strip() for line in lines), stderr
    if argparse_flag is None:
        assert len(lines) == 1, stderr
        assert lines[0].startswith("neuralzoo: error: "), lines[0]
    else:
        assert lines[0].startswith("usage: "), stderr
        assert "error:" in lines[-1] and argparse_flag in lines[-1], lines[-1]
    for part in parts:
        assert part in lines[-1], f"{part!r} not in {lines[-1]!r}"


class Case:
    """A bad command line: ``parts`` must all appear in the error line; ``argparse_flag`` marks
    argparse's own errors (usage lines allowed); ``mnist`` cases need the real MNIST files."""

    def __init__(self, argv: list, *parts, argparse_flag: str | None = None, mnist: bool = False):
        self.argv, self.parts = [str(a) for a in argv], tuple(str(p) for p in parts)
        self.argparse_flag, self.mnist = argparse_flag, mnist


# ------------------------------------------------------------- real subprocesses, in parallel

def _subprocess_cases(b: Path, run: Path) -> dict[str, Case]:
    train = ["train", "mlp", *TINY, "--out", b / "never-written"]

    def mnist(folder: str, *parts) -> Case:
        return Case([*train, "--data", "mnist", "--data-dir", b / folder], *parts, mnist=True)

    return {
        "truncated-gzip": mnist("mnist-truncated", b / "mnist-truncated" / "t10k-images-idx3-ubyte.gz",
                                "truncated gzip"),
        "wrong-magic": mnist("mnist-magic", b / "mnist-magic" / "t10k-labels-idx1-ubyte",
                             "wrong magic number"),
        "count-mismatch-idx": mnist("mnist-count", b / "mnist-count" / "t10k-labels-idx1-ubyte",
                                    "10000 images", "9999 labels"),
        "unknown-model": Case(["train", "nope"], "unknown model 'nope'", *model_names()),
        "unknown-data": Case([*train, "--data", "nope"], "'nope'", "no such data set", "digits"),
        "unknown-flag": Case([*train, "--bogus", "3"], "unrecognized arguments", "--bogus",
                             argparse_flag="--bogus"),
        "random-checkpoint": Case(["evaluate", b / "random.safetensors"], b / "random.safetensors",
                                  "not a readable neuralzoo checkpoint"),
        "truncated-npz-input": Case(["predict", run, "--input", b / "truncated.npz"],
                                    b / "truncated.npz", "not an .npz file"),
    }


@pytest.fixture(scope="module")
def subprocess_results(bad, run_dir, tmp_path_factory):
    cwd = tmp_path_factory.mktemp("cwd")
    env = {**os.environ, "NEURALZOO_OFFLINE": "1", "NEURALZOO_DATA": str(cwd / "cache"),
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env.pop("NEURALZOO_DEBUG", None)

    def run(argv):
        return subprocess.run([sys.executable, "-m", "neuralzoo", *argv], capture_output=True,
                              text=True, cwd=cwd, env=env, timeout=180)

    cases = {k: c for k, c in _subprocess_cases(bad, run_dir).items() if HAS_MNIST or not c.mnist}
    with ThreadPoolExecutor(max_workers=4) as pool:   # each start-up mostly waits on imports
        futures = {key: pool.submit(run, case.argv) for key, case in cases.items()}
        return {key: future.result() for key, future in futures.items()}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(_subprocess_cases(Path("b"), Path("r"))))
def test_bad_input_subprocess_one_line_exit_2(case, bad, run_dir, subprocess_results):
    spec = _subprocess_cases(bad, run_dir)[case]
    if spec.mnist and not HAS_MNIST:
        pytest.skip(f"MNIST files not found in {MNIST_DIR}")
    result = subprocess_results[case]
    assert "Traceback" not in result.stdout
    check_one_line(result.returncode, result.stderr, spec.parts, spec.argparse_flag)
    assert not (bad / "never-written").exists()   # bad input fails before a run directory appears


# --------------------------------------------------------------------- in-process error cases

def _inprocess_cases(b: Path, run: Path) -> dict[str, Case]:
    never = b / "never-written"
    train = ["train", "mlp", *TINY, "--out", never]
    ckpt = run / "checkpoints" / "best.safetensors"
    not_run = "not a neuralzoo run directory"
    return {
        # data files
        "npz-without-keys": Case([*train, "--data", b / "no-keys.npz"], b / "no-keys.npz", "no 'x'",
                                 "keys: a, b"),
        "count-mismatch-npz": Case([*train, "--data", b / "count.npz"], b / "count.npz",
                                   "20 samples but 19 labels"),
        "nan-npz": Case([*train, "--data", b / "nan.npz"], b / "nan.npz", "NaN", "sample 3"),
        "nan-csv": Case([*train, "--data", b / "nan.csv"], b / "nan.csv", "column 'f2'", "line 6",
                        "'nan'", "NaN"),
        "random-npz": Case([*train, "--data", b / "random.npz"], b / "random.npz", "not an .npz"),
        # degenerate data: one line before training starts
        "one-class-npz": Case([*train, "--data", b / "one-class.npz"], b / "one-class.npz", "1 class ('7')",
                              "at least two"),
        "one-class-images": Case(["train", "cnn", *TINY, "--out", never, "--data", b / "one-class-images"],
                                 b / "one-class-images", "1 class ('cat')"),
        "empty-test-part": Case([*train, "--data", b / "empty-test.npz"], b / "empty-test.npz",
                                "[x_test]", "shape (0, 64)", "N > 0"),
        "constant-series": Case(["train", "lstm", *TINY, "--out", never, "--data", b / "constant.csv",
                                 "--lookback", "8"],
                                b / "constant.csv", "constant", "value = 5"),
        "series-shorter-than-window": Case(["train", "lstm", *TINY, "--out", never, "--data",
                                            b / "short-series.csv", "--lookback", "24"],
                                           b / "short-series.csv", "need at least 26 training steps",
                                           "the series has 12"),
        "series-empty-val": Case(["train", "lstm", *TINY, "--out", never, "--data", b / "short-series.csv",
                                  "--lookback", "4", "--val-fraction", "0.01"], b / "short-series.csv",
                                 "val part (0.01 of 12 steps = 0)", "--val-fraction >= 0.0833"),
        "text-shorter-than-window": Case(["train", "lstm", *TINY, "--out", never, "--data", b / "short.txt"],
                                         b / "short.txt", "fewer than seq_len + 1 = 65"),
        "text-empty-val": Case(["train", "lstm", *TINY, "--out", never, "--data", b / "short.txt",
                                "--seq-len", "16", "--val-fraction", "0.02"], b / "short.txt",
                               "val part", "shorter than one window"),
        # flag values and names
        "epochs-0": Case([*train, "--epochs", "0"], "epochs", "positive", "0"),
        "lr-abc": Case([*train, "--lr", "abc"], "lr", "'abc'", "float"),
        "hidden-sizes-abc": Case([*train, "--hidden-sizes", "16,abc"], "hidden_sizes", "'abc'", "int"),
        "val-fraction-2": Case([*train, "--val-fraction", "2"], "val_fraction", "[0, 1)"),
        "bad-choice": Case([*train, "--optimizer", "nope"], "--optimizer", "'nope'",
                           argparse_flag="--optimizer"),
        "unknown-command": Case(["nope"], "COMMAND", "'nope'", argparse_flag="COMMAND"),
        "evaluate-unknown-flag": Case(["evaluate", run, "--bogus"], "--bogus", argparse_flag="--bogus"),
        "demo-bad-int": Case(["demo", "--max-steps", "abc"], "'abc'", argparse_flag="--max-steps"),
        "unknown-preset": Case([*train, "--preset", "nope"], "preset", "'nope'"),
        "demo-unknown-model": Case(["demo", "--models", "mlp,nope", "--out", never],
                                   "unknown model 'nope'"),
        "demo-max-steps-0": Case(["demo", "--max-steps", "0", "--out", never], "max_steps"),
        # config files
        "config-bad-json": Case(["train", "--config", b / "bad.json"], b / "bad.json", "not valid JSON"),
        "config-bad-toml": Case(["train", "mlp", "--config", b / "bad.toml"], b / "bad.toml",
                                "not valid TOML"),
        "config-unknown-key": Case(["train", "--config", b / "unknown-key.json", *TINY],
                                   b / "unknown-key.json", "unknown setting 'nope'"),
        "config-missing": Case(["train", "mlp", "--config", b / "missing.json"], b / "missing.json",
                               "not found"),
        # runs and checkpoints that are not ours
        "resume-not-a-run": Case(["train", "--resume", b / "not-a-run"], b / "not-a-run", not_run,
                                 "config.json"),
        "resume-corrupt-config": Case(["train", "--resume", b / "bad-config-run"],
                                      b / "bad-config-run" / "config.json", "not a neuralzoo run config"),
        "resume-other-model": Case(["train", "cnn", "--resume", run], run, "'mlp'", "'cnn'"),
        "foreign-safetensors": Case(["evaluate", b / "foreign.safetensors"], b / "foreign.safetensors",
                                    "not a neuralzoo checkpoint"),
        "truncated-checkpoint": Case(["predict", b / "truncated.safetensors", "--input", b / "good.npz"],
                                     b / "truncated.safetensors", "not a readable neuralzoo checkpoint"),
        "checkpoint-unknown-model": Case(["evaluate", b / "unknown-model.safetensors"],
                                         b / "unknown-model.safetensors", "unknown model 'nope'"),
        "evaluate-not-a-run": Case(["evaluate", b / "not-a-run"], b / "not-a-run", not_run),
        "predict-not-a-run": Case(["predict", b / "not-a-run", "--input", b / "good.npz"],
                                  b / "not-a-run", not_run),
        "evaluate-missing-path": Case(["evaluate", b / "nowhere"], b / "nowhere", "no such run"),
        # prediction inputs
        "predict-wrong-shape": Case(["predict", run, "--input", b / "wrong-shape.npz"],
                                    b / "wrong-shape.npz", "(5,)", "(1, 8, 8)"),
        "predict-csv-for-images": Case(["predict", run, "--input", b / "nan.csv"], b / "nan.csv",
                                       "images"),
        "predict-nan-npz": Case(["predict", run, "--input", b / "nan.npz"], b / "nan.npz", "NaN"),
        "predict-random-npz": Case(["predict", run, "--input", b / "random.npz"], b / "random.npz",
                                   "not an .npz"),
        "predict-no-keys": Case(["predict", run, "--input", b / "no-keys.npz"], b / "no-keys.npz",
                                "no 'x'"),
        "predict-missing-input": Case(["predict", ckpt, "--input", b / "nowhere.png"],
                                      b / "nowhere.png", "no such file"),
        # evaluation data
        "evaluate-unlabelled": Case(["evaluate", run, "--data", b / "unlabelled.npz", "--split", "val",
                                     "--out", never], b / "unlabelled.npz", "no labels"),
        "evaluate-missing-split": Case(["evaluate", run, "--data", b / "unlabelled.npz", "--test-fraction",
                                        "0", "--out", never], "'test'", "train, val"),
        "evaluate-other-shape": Case(["evaluate", run, "--data", b / "count.npz", "--split", "train",
                                      "--out", never], b / "count.npz"),
        "evaluate-unknown-classes": Case(["evaluate", run, "--data", b / "strange-classes.npz",
                                          "--split", "val", "--out", never], "cat, dog", "not trained on"),
    }


@pytest.mark.parametrize("case", list(_inprocess_cases(Path("b"), Path("r"))))
def test_bad_input_one_line_exit_2(case, bad, run_dir, cli):
    spec = _inprocess_cases(bad, run_dir)[case]
    try:
        code, out, err = cli(spec.argv)
    finally:   # bad input fails before any output folder appears (cleaned up so cases stay apart)
        written = (bad / "never-written").exists()
        shutil.rmtree(bad / "never-written", ignore_errors=True)
    assert "Traceback" not in out
    check_one_line(code, err, spec.parts, spec.argparse_flag)
    assert not written


def test_debug_variable_shows_the_traceback(bad, monkeypatch):
    from neuralzoo.errors import NeuralzooError

    monkeypatch.setenv("NEURALZOO_DEBUG", "1")
    with pytest.raises(NeuralzooError, match="not a neuralzoo checkpoint"):
        main(["evaluate", str(bad / "foreign.safetensors")])


def test_checkpoints_are_never_unpickled(run_dir, bad, monkeypatch, tmp_path, capsys):
    def refuse(*args, **kwargs):
        raise AssertionError("a checkpoint or input was unpickled")

    class Refusing(pickle.Unpickler):
        def __init__(self, *args, **kwargs):
            refuse()

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", Refusing)
    for which in ("best", "last"):
        model = neuralzoo.load(run_dir, which)
        assert model.run_config.model == "mlp" and not model.training
    neuralzoo.load(run_dir / "checkpoints" / "last.safetensors")
    assert main(["predict", str(run_dir), "--input", str(bad / "good.npz"),
                 "--output", str(tmp_path / "p.csv")]) == 0


# ------------------------------------------------------------------------------- what works
