"""Tests of ``neuralzoo.data``: real MNIST (skipped when absent), the download path through a local
``file://`` mirror, every file format and every error message (which must name file and problem)."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from neuralzoo.data import DATASETS, DataConfig, DataInfo, load_dataset, read_idx, read_inputs
from neuralzoo.data import idx as idx_module
from neuralzoo.errors import NeuralzooError

MNIST_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
needs_mnist = pytest.mark.skipif(not (MNIST_DIR / "train-images-idx3-ubyte.gz").is_file(),
                                 reason=f"MNIST not found in {MNIST_DIR}")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch, tmp_path):
    """No test may reach the internet or the user's cache."""
    monkeypatch.setenv("NEURALZOO_OFFLINE", "1")
    monkeypatch.setenv("NEURALZOO_DATA", str(tmp_path / "cache"))
    monkeypatch.delenv("NEURALZOO_MNIST_MIRROR", raising=False)


def _error(match_parts: list[str], call, *args, **kwargs) -> str:
    with pytest.raises(NeuralzooError) as caught:
        call(*args, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    for part in match_parts:
        assert part in message, f"{part!r} not in {message!r}"
    return message


def _idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
    header = bytes([0, 0, code, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture(scope="module")
def mnist():
    return load_dataset(DataConfig(data="mnist", data_dir=str(MNIST_DIR), val_fraction=0.1))


@pytest.mark.slow
@needs_mnist
def test_mnist_real_files(mnist):
    assert len(read_idx(MNIST_DIR / "train-labels-idx1-ubyte.gz")) == 60000
    assert len(read_idx(MNIST_DIR / "t10k-labels-idx1-ubyte.gz", magic=0x0801)) == 10000
    assert len(mnist.train) + len(mnist.val) == 60000 and len(mnist.val) == 6000
    assert len(mnist.test) == 10000
    assert mnist.train.x.shape[1:] == (1, 28, 28) and mnist.train.x.dtype == torch.float32
    assert float(mnist.train.x.min()) == 0.0 and float(mnist.train.x.max()) == 1.0
    assert mnist.train.y.dtype == torch.int64 and set(mnist.test.y.tolist()) == set(range(10))
    assert mnist.info.input_shape == (1, 28, 28) and mnist.info.num_classes == 10
    assert "md5" in mnist.info.description and "10000" in mnist.info.description
    # Stratified validation split: class shares match the training part to within 0.5 %.
    train_share = torch.bincount(mnist.train.y, minlength=10) / len(mnist.train)
    val_share = torch.bincount(mnist.val.y, minlength=10) / len(mnist.val)
    assert (train_share - val_share).abs().max() < 0.005


@needs_mnist
def test_mnist_checksum_checked_on_load(tmp_path):
    for name in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / f"{name}.gz").symlink_to(MNIST_DIR / f"{name}.gz")
    labels = read_idx(MNIST_DIR / "train-labels-idx1-ubyte.gz")
    labels[0] = (labels[0] + 1) % 10   # still a valid IDX file, but not MNIST
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx_bytes(labels))
    _error(["train-labels-idx1-ubyte", "md5 checksum mismatch"],
           load_dataset, DataConfig(data="mnist", data_dir=str(tmp_path)))


@pytest.mark.slow
@needs_mnist
def test_mnist_download_from_file_mirror(tmp_path, monkeypatch):
    monkeypatch.delenv("NEURALZOO_OFFLINE")
    monkeypatch.setenv("NEURALZOO_MNIST_MIRROR", MNIST_DIR.as_uri())
    splits = load_dataset(DataConfig(data="mnist", data_dir=str(tmp_path), val_fraction=0.0))
    assert len(splits.train) == 60000 and len(splits.test) == 10000
    written = sorted(p.name for p in (tmp_path / "mnist").iterdir())
    assert written == sorted(f"{name}.gz" for name in idx_module.MNIST_MD5)   # no temp files left
    for name, digest in idx_module.MNIST_MD5.items():
        data = gzip.decompress((tmp_path / "mnist" / f"{name}.gz").read_bytes())
        assert hashlib.md5(data).hexdigest() == digest


@needs_mnist
def test_mnist_download_rejects_corrupted_mirror(tmp_path, monkeypatch):
    data, mirror = tmp_path / "data" / "mnist", tmp_path / "mirror"
    data.mkdir(parents=True)
    mirror.mkdir()
    for name in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (data / f"{name}.gz").symlink_to(MNIST_DIR / f"{name}.gz")
    good = gzip.decompress((MNIST_DIR / "train-labels-idx1-ubyte.gz").read_bytes())
    (mirror / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(good[:-1] + b"\x00"))
    monkeypatch.delenv("NEURALZOO_OFFLINE")
    monkeypatch.setenv("NEURALZOO_MNIST_MIRROR", str(mirror))
    with pytest.raises(NeuralzooError) as caught:
        load_dataset(DataConfig(data="mnist", data_dir=str(tmp_path / "data")))
    assert "train-labels-idx1-ubyte" in str(caught.value) and str(data) in str(caught.value)
    assert "md5 checksum mismatch" in caught.value.details   # the mirror's error: behind --verbose
    assert sorted(p.name for p in data.iterdir() if not p.is_symlink()) == []   # nothing written


def test_mnist_offline_error_says_what_and_where(tmp_path, monkeypatch):
    folder = tmp_path / "cache" / "mnist"
    _error(["t10k-images-idx3-ubyte", str(folder), "NEURALZOO_DATA", "NEURALZOO_OFFLINE"],
           load_dataset, DataConfig(data="mnist"))
    monkeypatch.delenv("NEURALZOO_OFFLINE")
    monkeypatch.setenv("NEURALZOO_MNIST_MIRROR", (tmp_path / "nowhere").as_uri())
    message = _error(["t10k-images-idx3-ubyte", str(folder), "download failed (1 mirror)"],
                     load_dataset, DataConfig(data="mnist"))
    assert "nowhere" not in message   # the mirror's URL and error are details (neuralzoo --verbose)
    with pytest.raises(NeuralzooError) as caught:
        load_dataset(DataConfig(data="mnist"))
    assert caught.value.details.startswith("train-images-idx3-ubyte: file:") and "nowhere" in caught.value.details


def test_idx_round_trip_and_errors(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    raw, packed = tmp_path / "images-idx3-ubyte", tmp_path / "images-idx3-ubyte.gz"
    raw.write_bytes(_idx_bytes(images))
    packed.write_bytes(gzip.compress(_idx_bytes(images)))
    assert np.array_equal(read_idx(raw), images) and np.array_equal(read_idx(packed, 0x0803), images)

    truncated = tmp_path / "truncated.gz"
    truncated.write_bytes(packed.read_bytes()[:-12])
    _error([str(truncated), "truncated gzip"], read_idx, truncated)
    garbage = tmp_path / "garbage.gz"
    garbage.write_bytes(b"\x1f\x8b" + b"not gzip at all" * 3)
    _error([str(garbage), "gzip"], read_idx, garbage)
    _error([str(raw), "wrong magic number 0x00000803", "0x00000801"], read_idx, raw, 0x0801)
    bad_magic = tmp_path / "bad-magic"
    bad_magic.write_bytes(b"\x12\x34\x08\x01" + bytes(8))
    _error([str(bad_magic), "bad magic number"], read_idx, bad_magic)
    short = tmp_path / "short"
    short.write_bytes(_idx_bytes(images)[:-5])
    _error([str(short), "truncated", "24"], read_idx, short)
    labels = tmp_path / "labels-idx1-ubyte"   # count mismatch: 2 images, 3 labels
    labels.write_bytes(_idx_bytes(np.zeros(3, np.uint8)))
    _error([str(raw), str(labels), "2 images", "3 labels"], idx_module.check_pair,
           read_idx(raw), read_idx(labels), raw, labels)


def test_npz_images_vectors_and_given_splits(tmp_path):
    path = tmp_path / "d.npz"
    x = np.random.default_rng(0).integers(0, 256, (20, 5, 6, 3), dtype=np.uint8)
    y = np.array(["cat", "dog"] * 10)
    np.savez(path, X=x, Y=y, x_test=x[:4], y_test=y[:4])
    splits = load_dataset(DataConfig(data=str(path), val_fraction=0.2))
    assert splits.info.input_shape == (3, 5, 6) and splits.info.class_names == ["cat", "dog"]
    assert (len(splits.train), len(splits.val), len(splits.test)) == (16, 4, 4)
    assert torch.allclose(splits.test.x, torch.from_numpy(x[:4]).permute(0, 3, 1, 2) / 255)
    vectors = tmp_path / "v.npz"
    np.savez(vectors, x=np.ones((10, 7), np.float64) * 3.5)
    unlabelled = load_dataset(DataConfig(data=str(vectors), val_fraction=0.0, standardise="off"))
    assert unlabelled.train.y is None and unlabelled.info.input_shape == (7,)
    assert unlabelled.info.value_range == (3.5, 3.5) and unlabelled.info.num_classes is None


def test_npz_errors(tmp_path):
    path = tmp_path / "keys.npz"
    np.savez(path, images=np.zeros((2, 3)), targets=np.zeros(2))
    _error([str(path), "no 'x'", "images", "targets"], load_dataset, DataConfig(data=str(path)))
    nan = tmp_path / "nan.npz"
    x = np.zeros((5, 3), np.float32)
    x[2, 1] = np.nan
    np.savez(nan, x=x, y=np.arange(5) % 2)
    _error([str(nan), "NaN", "sample 2"], load_dataset, DataConfig(data=str(nan), val_fraction=0))
    _error([str(tmp_path / "missing.npz"), "no such file"], load_dataset,
           DataConfig(data=str(tmp_path / "missing.npz")))


def test_csv_labels_and_errors(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,label,c\n" + "".join(f"{i},{i * 2},{i % 3 + 1},0.5\n" for i in range(30)))
    splits = load_dataset(DataConfig(data=str(path), val_fraction=0.2, test_fraction=0))
    assert splits.info.input_shape == (3,) and splits.info.class_names == ["1", "2", "3"]
    assert (len(splits.train), len(splits.val)) == (24, 6) and splits.test is None
    assert sorted(torch.bincount(splits.val.y).tolist()) == [2, 2, 2]   # stratified
    by_name = load_dataset(DataConfig(data=str(path), label_column="a", val_fraction=0,
                                      test_fraction=0))
    assert by_name.info.num_classes == 30
    nan = tmp_path / "nan.csv"
    nan.write_text("f1,f2,label\n1,2,0\n3,nan,1\n")
    _error([str(nan), "'f2'", "row 2", "NaN"], load_dataset, DataConfig(data=str(nan)))
    text = tmp_path / "text.csv"
    text.write_text("f1,f2,y\n1,2,0\n3,4,1\nfive,6,0\n")
    _error([str(text), "'f1'", "row 3", "'five'", "not a number"], load_dataset,
           DataConfig(data=str(text)))
    _error([str(text), "no label column 'z'"], load_dataset, DataConfig(data=str(text), label_column="z"))


def _write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_image_folder_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    pixels = {}
    for name in ("zebra", "ant"):
        for i in range(4):
            pixels[(name, i)] = rng.integers(0, 256, (6, 5), dtype=np.uint8)
            _write_png(tmp_path / "grey" / name / f"{i}.png", pixels[(name, i)])
    (tmp_path / "grey" / "ant" / "notes.txt").write_text("ignored")
    splits = load_dataset(DataConfig(data=str(tmp_path / "grey"), val_fraction=0.0))
    assert splits.info.class_names == ["ant", "zebra"] and splits.info.input_shape == (1, 6, 5)
    assert torch.equal(splits.train.y, torch.tensor([0] * 4 + [1] * 4))
    assert torch.allclose(splits.train.x[4, 0], torch.from_numpy(pixels[("zebra", 0)]) / 255)
    _write_png(tmp_path / "grey" / "ant" / "rgb.png", np.zeros((8, 8, 3), np.uint8))
    _error([str(tmp_path / "grey" / "ant" / "rgb.png"), "8x8", "share one size"], load_dataset,
           DataConfig(data=str(tmp_path / "grey")))
    resized = load_dataset(DataConfig(data=str(tmp_path / "grey"), image_size=4, val_fraction=0))
    assert resized.info.input_shape == (3, 4, 4) and len(resized.train) == 9   # one RGB -> RGB
    (tmp_path / "grey" / "zebra" / "broken.png").write_bytes(b"\x89PNG not really")
    _error([str(tmp_path / "grey" / "zebra" / "broken.png"), "cannot read image"], load_dataset,
           DataConfig(data=str(tmp_path / "grey"), image_size=4))


def test_unknown_data_name():
    message = _error(["'imagenet'", ".npz", ".csv", "image folder"], load_dataset,
                     DataConfig(data="imagenet"))
    assert all(name in message for name in DATASETS)


def test_digits_protocol():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    splits = load_dataset(DataConfig(data="digits"))
    assert (len(splits.train), len(splits.val), len(splits.test)) == (1293, 144, 360)
    assert splits.info.input_shape == (1, 8, 8) and splits.info.class_names == [str(d) for d in range(10)]
    digits = load_digits()
    _, x_test, _, y_test = train_test_split(digits.data, digits.target, test_size=0.2,
                                            stratify=digits.target, random_state=0)
    assert torch.equal(splits.test.y, torch.from_numpy(y_test))   # the exact shared rule
    assert torch.allclose(splits.test.x.reshape(360, 64), torch.from_numpy(x_test / 16).float())
    counts = torch.bincount(splits.val.y, minlength=10)
    assert int(counts.min()) >= 14 and int(counts.max()) <= 15   # stratified 144 over 10 classes
    small = load_dataset(DataConfig(data="digits", limit=100, val_fraction=0.2))
    again = load_dataset(DataConfig(data="digits", limit=100, val_fraction=0.2))
    assert (len(small.train), len(small.val)) == (80, 20)
    assert torch.equal(small.train.x, again.train.x)   # deterministic
    assert torch.bincount(small.train.y, minlength=10).min() >= 7


def test_read_inputs(tmp_path):
    info = DataInfo(name="t", input_shape=(1, 4, 4), num_classes=2)
    folder = tmp_path / "in"
    _write_png(folder / "b.png", np.full((8, 8, 3), 255, np.uint8))
    _write_png(folder / "a.png", np.zeros((4, 4), np.uint8))
    x, names, _ = read_inputs(str(folder / "b.png"), info)
    assert x.shape == (1, 1, 4, 4) and names == ["b.png"] and torch.allclose(x, torch.ones_like(x))
    x, names, _ = read_inputs(str(folder), info)
    assert names == ["a.png", "b.png"] and x.shape == (2, 1, 4, 4) and float(x[0].max()) == 0.0
    npz = tmp_path / "x.npz"
    np.savez(npz, x=np.zeros((3, 4, 4), np.uint8))
    x, names, _ = read_inputs(str(npz), info)
    assert x.shape == (3, 1, 4, 4) and names == ["row0", "row1", "row2"]
    _error([str(npz), "(1, 4, 4)", "(3, 4, 4)"], read_inputs, str(npz),
           DataInfo(name="t", input_shape=(3, 4, 4)))
    _error([str(folder / "b.png"), "vectors of 16 features"], read_inputs, str(folder / "b.png"),
           DataInfo(name="t", input_shape=(16,)))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"nothing")
    _error([str(broken), "cannot read image"], read_inputs, str(broken), info)
    _error([str(tmp_path / "none.png"), "no such file"], read_inputs, str(tmp_path / "none.png"), info)
