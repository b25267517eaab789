"""Every reader, fed generated files: each ends in a correct load or a one-line ``NeuralzooError``
naming the file, never another exception, a hang or a memory blow-up.

Hypothesis profiles (``tests/conftest.py``): ``ci`` (default; fixed seed, a bounded example count per
reader, over 200 in all) and ``thorough`` (``pytest tests/test_fuzz.py --hypothesis-profile thorough``).
Outcome counts per reader are written to ``$NEURALZOO_FUZZ_REPORT`` when set (``benchmarks/faults.py``).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import struct
import time
import tracemalloc
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import neuralzoo
from neuralzoo.api import resolve
from neuralzoo.data import DataConfig, load_dataset
from neuralzoo.data.idx import read_idx
from neuralzoo.data.inputs import read_inputs
from neuralzoo.errors import NeuralzooError
from neuralzoo.training.checkpoint import describe

OUTCOMES: dict[str, Counter] = {}
FILES = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
MEMORY_LIMIT = 64 << 20   # bytes NumPy/Python may allocate for a file of at most a few KB


def attempt(reader: str, call, path: Path) -> None:
    """``call()`` loads or raises a one-line NeuralzooError naming ``path``; bounded time and memory."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        call()
        outcome = "loaded"
    except NeuralzooError as error:
        message = str(error)
        assert path.name in message, f"{message!r} does not name {path.name}"
        assert "\n" not in message.strip(), message
        outcome = "NeuralzooError"
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert time.perf_counter() - start < 20, f"{reader} took {time.perf_counter() - start:.1f}s"
    assert peak < MEMORY_LIMIT, f"{reader} allocated {peak / 2**20:.0f} MiB for {path.name}"
    OUTCOMES.setdefault(reader, Counter())[outcome] += 1


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    if os.environ.get("NEURALZOO_FUZZ_REPORT"):
        Path(os.environ["NEURALZOO_FUZZ_REPORT"]).write_text(json.dumps(OUTCOMES, indent=2))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def fresh(workspace: Path, name: str) -> Path:
    """An empty folder for one example (examples of one test reuse the name: cleared first)."""
    import shutil

    folder = workspace / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    return folder


# ----------------------------------------------------------------------------- byte mutations

@st.composite
def mutated(draw, valid: bytes) -> bytes:
    """``valid`` left alone, truncated, with bytes overwritten, or with junk appended."""
    kind = draw(st.sampled_from(["same", "same", "truncate", "overwrite", "append"]))
    data = bytearray(valid)
    if kind == "truncate":
        return bytes(data[:draw(st.integers(0, max(len(data) - 1, 0)))])
    if kind == "overwrite" and data:
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    if kind == "append":
        data += draw(st.binary(min_size=1, max_size=64))
    return bytes(data)


# ---------------------------------------------------------------------------------------- IDX

IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@st.composite
def idx_files(draw) -> bytes:
    code = draw(st.sampled_from(sorted(IDX_TYPES)))
    shape = draw(st.lists(st.integers(0, 6), min_size=1, max_size=4))
    body = np.zeros(shape, IDX_TYPES[code]).tobytes()
    header = bytes([0, 0, code, len(shape)]) + b"".join(struct.pack(">I", n) for n in shape)
    data = draw(mutated(header + body))
    if draw(st.booleans()) and len(data) >= 8:   # a count that claims far more than the file holds
        data = data[:4] + struct.pack(">I", draw(st.sampled_from([2**31, 2**32 - 1, 60000]))) + data[8:]
    return data


@FILES
@given(data=idx_files(), compress=st.booleans())
def test_idx_files(workspace, data, compress):
    path = fresh(workspace, "idx") / ("images.idx.gz" if compress else "images.idx")
    path.write_bytes(gzip.compress(data) if compress and data else data)
    attempt("IDX (raw and gzip)", lambda: read_idx(path), path)


# ------------------------------------------------------------------------------ .npz and .csv

ARRAY_KEYS = ["x", "X", "y", "Y", "x_val", "y_val", "x_test", "y_test", "lengths", "other"]


@st.composite
def arrays(draw) -> np.ndarray:
    dtype = draw(st.sampled_from([np.float32, np.float64, np.uint8, np.int64, np.bool_, "U3"]))
    shape = tuple(draw(st.lists(st.integers(0, 5), min_size=0, max_size=4)))
    values = np.asarray(draw(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32),
                                      min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))))
    if dtype == "U3":
        return values.astype("U3").reshape(shape)
    if np.dtype(dtype).kind in "iub":   # integer arrays: no NaN, values clipped into the type's range
        values = np.clip(np.nan_to_num(values), -100, 100)
    return values.astype(dtype).reshape(shape)


@st.composite
def npz_files(draw) -> bytes:
    keys = draw(st.lists(st.sampled_from(ARRAY_KEYS), unique=True, max_size=4))
    if draw(st.booleans()):
        keys = ["x", "y", *keys]   # mostly near-valid files
    contents = {key: draw(arrays()) for key in dict.fromkeys(keys)}
    if draw(st.booleans()) and "x" in contents:
        n = draw(st.integers(1, 12))
        contents["x"] = np.asarray(draw(st.lists(st.floats(0, 1, width=32), min_size=n * 4, max_size=n * 4)),
                                   np.float32).reshape(n, 4)
        contents["y"] = np.arange(n) % draw(st.integers(1, 3))
    buffer = io.BytesIO()
    np.savez(buffer, **contents)
    return draw(mutated(buffer.getvalue()))


def data_file(workspace: Path, reader: str, name: str, content: bytes | str, **settings) -> None:
    """``content`` written to a file ``name`` and loaded as a data set (``settings``: DataConfig)."""
    path = fresh(workspace, name.split(".")[-1]) / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    attempt(reader, lambda: load_dataset(DataConfig(data=str(path), **settings)), path)


@FILES
@given(data=npz_files())
def test_npz_data_files(workspace, data):
    data_file(workspace, ".npz data", "data.npz", data, val_fraction=0)


CELLS = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.integers().map(str),
                  st.sampled_from(["", "nan", "NA", "x", '"1,2"', " 3 ", "1e999", "-0"]),
                  st.text(max_size=4))


@st.composite
def tables(draw, min_columns: int = 1) -> str:
    columns = draw(st.integers(min_columns, 4))
    header = draw(st.lists(st.sampled_from(["a", "b", "c", "label", "time", "value", "", "a"]),
                           min_size=columns, max_size=columns))
    if draw(st.booleans()):   # a well-formed numeric table: the path that loads
        number = st.floats(-1e3, 1e3).map(lambda v: f"{v:.3g}")
        rows = draw(st.lists(st.lists(number, min_size=columns, max_size=columns), min_size=1, max_size=30))
        for i, row in enumerate(rows):   # labels as small integers in the last column
            row[-1] = str(i % 3)
    else:
        rows = draw(st.lists(st.lists(CELLS, min_size=max(columns - 1, 0), max_size=columns + 1),
                             max_size=12))
    return "\n".join(",".join(row) for row in [header, *rows]) + draw(st.sampled_from(["", "\n", "\r\n"]))


@FILES
@given(text=tables())
def test_csv_arrays(workspace, text):
    data_file(workspace, ".csv arrays", "table.csv", text, val_fraction=0)


@FILES
@given(text=tables(), lookback=st.integers(1, 6))
def test_time_series_csv(workspace, text, lookback):
    data_file(workspace, "time-series .csv", "series.csv", text, lookback=lookback)


# ----------------------------------------------------------------------------------- images

@st.composite
def image_bytes(draw) -> tuple[str, bytes]:
    mode = draw(st.sampled_from(["L", "RGB", "RGBA", "P", "I;16", "1", "LA"]))
    size = (draw(st.integers(1, 12)), draw(st.integers(1, 12)))
    suffix = draw(st.sampled_from([".png", ".jpg"]))
    image = Image.new(mode, size, color=draw(st.integers(0, 255)) if mode != "RGB" else (1, 2, 3))
    buffer = io.BytesIO()
    if suffix == ".jpg" and mode not in ("L", "RGB"):
        image = image.convert("RGB")
    image.save(buffer, format="PNG" if suffix == ".png" else "JPEG")
    kind = draw(st.sampled_from(["valid", "valid", "truncated", "empty", "junk"]))
    data = buffer.getvalue()
    if kind == "truncated":
        data = data[:draw(st.integers(1, len(data) - 1))]
    return suffix, {"valid": data, "truncated": data, "empty": b"",
                    "junk": draw(st.binary(min_size=1, max_size=64))}[kind]


@FILES
@given(classes=st.lists(st.lists(image_bytes(), min_size=0, max_size=3), min_size=1, max_size=3),
       image_size=st.sampled_from([None, 8]))
def test_image_folders(workspace, classes, image_size):
    root = fresh(workspace, "images") / "pictures"
    for c, files in enumerate(classes):
        (root / f"class{c}").mkdir(parents=True)
        for i, (suffix, data) in enumerate(files):
            (root / f"class{c}" / f"{i}{suffix}").write_bytes(data)
    root.mkdir(exist_ok=True)
    attempt("image folders", lambda: load_dataset(DataConfig(data=str(root), image_size=image_size,
                                                             val_fraction=0)), root)


# ------------------------------------------------------------------------------------- text

@FILES
@given(data=st.one_of(st.binary(max_size=400), st.text(max_size=400).map(str.encode)),
       seq_len=st.integers(1, 40))
def test_text_files(workspace, data, seq_len):
    data_file(workspace, "text files", "corpus.txt", data, seq_len=seq_len)


# --------------------------------------------------------------------------------- configs

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                max_size=3), max_leaves=8)
SETTINGS = st.dictionaries(st.sampled_from(["epochs", "lr", "hidden_sizes", "model", "train", "data",
                                            "batch_size", "dropout", "schedule", "model_config", "x"]),
                           JSON, max_size=4)


@FILES
@given(content=st.one_of(SETTINGS.map(json.dumps), JSON.map(json.dumps), st.text(max_size=80)),
       suffix=st.sampled_from([".json", ".toml"]))
def test_config_files(workspace, content, suffix):
    path = fresh(workspace, "config") / f"settings{suffix}"
    try:   # settings written as a .toml file: the same keys as TOML assignments
        settings_ = json.loads(content) if suffix == ".toml" else None
    except ValueError:
        settings_ = None
    if isinstance(settings_, dict):
        content = "\n".join(f"{k} = {json.dumps(v)}" for k, v in settings_.items())
    path.write_text(content)
    attempt("--config JSON/TOML", lambda: resolve("mlp", config_file=str(path)), path)


# ------------------------------------------------------------------------------ checkpoints

@pytest.fixture(scope="module")
def checkpoint(run_dir) -> Path:
    return run_dir / "checkpoints" / "last.safetensors"


def edit_header(data: bytes, change) -> bytes:
    """Apply ``change`` to a safetensors file's JSON header (tensor dtypes, shapes, metadata)."""
    length = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + length])
    change(header)
    encoded = json.dumps(header).encode()
    return struct.pack("<Q", len(encoded)) + encoded + data[8 + length:]


@st.composite
def checkpoint_edits(draw, valid: bytes) -> bytes:
    kind = draw(st.sampled_from(["bytes", "shape", "dtype", "config", "state", "drop"]))
    if kind == "bytes":
        return draw(mutated(valid))
    header = json.loads(valid[8:8 + struct.unpack("<Q", valid[:8])[0]])
    tensor = draw(st.sampled_from(sorted(k for k in header if k != "__metadata__")))

    def change(h):
        meta = h["__metadata__"]
        if kind == "shape":
            h[tensor]["shape"] = draw(st.lists(st.integers(0, 300), max_size=3))
        elif kind == "dtype":
            h[tensor]["dtype"] = draw(st.sampled_from(["F16", "I64", "BOOL", "U8", "F64", "XX"]))
        elif kind == "drop":
            del h[tensor]
        else:
            blob = json.loads(meta[kind])
            key = draw(st.sampled_from(sorted(blob)))
            blob[key] = draw(JSON)
            meta[kind] = json.dumps(blob) if draw(st.booleans()) else json.dumps(blob)[:-1]

    return edit_header(valid, change)


@FILES
@given(data=st.data())
def test_checkpoint_files(workspace, checkpoint, data):
    path = fresh(workspace, "checkpoint") / "model.safetensors"
    path.write_bytes(data.draw(checkpoint_edits(checkpoint.read_bytes())))
    attempt("checkpoints (load)", lambda: neuralzoo.load(path), path)
    attempt("checkpoints (inspect)", lambda: describe(path), path)


# ------------------------------------------------------------------------------ predict inputs

@FILES
@given(kind=st.sampled_from(["npz", "csv", "image"]), data=st.data())
def test_predict_inputs(workspace, run_dir, kind, data):
    model = neuralzoo.load(run_dir)   # an MLP on 8x8 digits: (1, 8, 8) images
    folder = fresh(workspace, "predict")
    if kind == "npz":
        path = folder / "rows.npz"
        path.write_bytes(data.draw(npz_files()))
    elif kind == "csv":
        path = folder / "rows.csv"
        path.write_text(data.draw(tables()))
    else:
        suffix, content = data.draw(image_bytes())
        path = folder / f"digit{suffix}"
        path.write_bytes(content)
    attempt("predict inputs", lambda: read_inputs(str(path), model.info), path)


def test_a_header_claiming_two_billion_images_allocates_nothing(tmp_path):
    path = tmp_path / "huge-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 8, 3]) + struct.pack(">III", 2**31, 28, 28) + bytes(784))
    tracemalloc.start()
    with pytest.raises(NeuralzooError, match="truncated: header says shape"):
        read_idx(path)
    assert tracemalloc.get_traced_memory()[1] < 1 << 20
    tracemalloc.stop()
    gz = tmp_path / "huge-idx3-ubyte.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    with pytest.raises(NeuralzooError, match="truncated"):
        read_idx(gz)
