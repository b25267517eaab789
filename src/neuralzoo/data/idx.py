"""IDX files (LeCun's MNIST format) and the MNIST loader, with a checked, atomic download.

IDX layout (http://yann.lecun.com/exdb/mnist/): a 4-byte big-endian magic number ``0x00 0x00 dtype
ndim``, then ``ndim`` big-endian uint32 sizes, then the values row-major and big-endian. Every
check below turns a bad file into one ``NeuralzooError`` line naming the file and the problem.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import math
import os
import tempfile
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import torch

from ..errors import NeuralzooError
from .files import SourceArrays

IDX_DTYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
MAGIC_LABELS, MAGIC_IMAGES = 0x0801, 0x0803   # uint8 with 1 and 3 dimensions

MNIST_FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
               "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
# md5 of the UNCOMPRESSED files (as published by torchvision): the gzip bytes differ by mirror.
MNIST_MD5 = {"train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
             "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
             "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
             "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637"}
MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "https://storage.googleapis.com/cvdf-datasets/mnist/")
DATA_ENV = "NEURALZOO_DATA"            # folder holding data sets (default ~/.cache/neuralzoo)
MIRROR_ENV = "NEURALZOO_MNIST_MIRROR"  # comma-separated mirror URLs (or local folders) to use instead
OFFLINE_ENV = "NEURALZOO_OFFLINE"      # "1": never try to download
DOWNLOAD_TIMEOUT = 15.0                # seconds without data before a mirror is given up


def read_idx_bytes(path: Path | str) -> bytes:
    """The uncompressed bytes of an IDX file; ``.gz`` (by name or gzip magic) is decompressed."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise NeuralzooError(f"{path}: cannot read file ({exc.strerror or exc})") from None
    if path.suffix == ".gz" or data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise NeuralzooError(f"{path}: corrupt or truncated gzip file ({exc})") from None
    return data


def parse_idx(data: bytes, path: Path | str, magic: int | None = None) -> np.ndarray:
    """Header-checked array from IDX bytes; ``magic`` (e.g. 0x0803) pins the dtype and rank."""
    if len(data) < 4:
        raise NeuralzooError(f"{path}: not an IDX file (only {len(data)} bytes)")
    found = int.from_bytes(data[:4], "big")
    dtype, ndim = IDX_DTYPES.get(data[2]), data[3]
    if data[:2] != b"\0\0" or dtype is None or ndim == 0:
        raise NeuralzooError(f"{path}: not an IDX file (bad magic number 0x{found:08X})")
    if magic is not None and found != magic:
        raise NeuralzooError(f"{path}: wrong magic number 0x{found:08X}, expected 0x{magic:08X} "
                             f"({magic & 0xFF}-D {IDX_DTYPES[magic >> 8 & 0xFF]})")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise NeuralzooError(f"{path}: truncated IDX header ({len(data)} bytes, need {header})")
    shape = tuple(int(size) for size in np.frombuffer(data, ">u4", ndim, 4))
    expected = math.prod(shape) * dtype.itemsize   # Python integers: four 2^32 sizes do not overflow
    if len(data) - header != expected:
        problem = "truncated" if len(data) - header < expected else "has trailing bytes"
        raise NeuralzooError(f"{path}: {problem}: header says shape {shape} = {expected} data "
                             f"bytes, file has {len(data) - header}")
    array = np.frombuffer(data, dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))   # a writable, native-endian copy


def read_idx(path: Path | str, magic: int | None = None) -> np.ndarray:
    """Read an IDX file (raw or ``.gz``); optionally require a magic number such as 0x0803."""
    return parse_idx(read_idx_bytes(path), path, magic)


def check_pair(images: np.ndarray, labels: np.ndarray, images_path: Path, labels_path: Path) -> None:
    """Images and labels must describe the same samples."""
    if len(images) != len(labels):
        raise NeuralzooError(f"{images_path} holds {len(images)} images but {labels_path} holds "
                             f"{len(labels)} labels")


def data_root(data_dir: str | None) -> Path:
    """Protocol: explicit ``data_dir``, else ``$NEURALZOO_DATA``, else ``~/.cache/neuralzoo``."""
    return Path(data_dir or os.environ.get(DATA_ENV) or Path.home() / ".cache" / "neuralzoo")


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):   # raw first: no decompression
        if candidate.is_file():
            return candidate
    return None


def mnist_folder(root: Path) -> Path:
    """The folder holding (or to receive) MNIST: ``root`` or its ``mnist/`` sub-folder."""
    candidates = [root] if root.name == "mnist" else [root, root / "mnist"]
    counts = [sum(_find(c, n) is not None for n in MNIST_FILES.values()) for c in candidates]
    return candidates[counts.index(max(counts))] if max(counts) else candidates[-1]


def mirrors() -> list[str]:
    """Mirror base URLs: ``$NEURALZOO_MNIST_MIRROR`` (comma-separated) or :data:`MNIST_MIRRORS`."""
    listed = [m.strip() for m in os.environ.get(MIRROR_ENV, "").split(",") if m.strip()]
    urls = []
    for mirror in listed or list(MNIST_MIRRORS):
        if "://" not in mirror:   # a plain local folder
            mirror = Path(mirror).resolve().as_uri()
        urls.append(mirror if mirror.endswith("/") else mirror + "/")
    return urls


def download_file(name: str, folder: Path) -> str | None:
    """Fetch ``name.gz`` from the first mirror whose copy passes the md5 check; None on success.

    The file is written to a temporary name in ``folder`` and renamed (``os.replace`` is atomic),
    so an interrupted download never leaves a partial file that a later run would trust.
    """
    errors = []
    for base in mirrors():
        url = f"{base}{name}.gz"
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
                packed = response.read()
            digest = hashlib.md5(gzip.decompress(packed)).hexdigest()
        except (OSError, EOFError, zlib.error, ValueError, http.client.HTTPException) as exc:
            errors.append(f"{url}: {exc}")
            continue
        if digest != MNIST_MD5[name]:
            errors.append(f"{url}: md5 checksum mismatch (got {digest}, expected {MNIST_MD5[name]})")
            continue
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(packed)
                os.replace(temporary, folder / f"{name}.gz")
            finally:
                if os.path.exists(temporary):
                    os.unlink(temporary)
        except OSError as exc:
            return f"cannot write {folder / name}.gz ({exc})"
        return None
    return "; ".join(errors)


def _check_md5(data: bytes, path: Path, name: str) -> None:
    digest = hashlib.md5(data).hexdigest()
    if digest != MNIST_MD5[name]:   # e.g. Fashion-MNIST, which uses the same file names
        raise NeuralzooError(f"{path}: md5 checksum mismatch (got {digest}, expected "
                             f"{MNIST_MD5[name]}): not the standard MNIST file; delete it to download "
                             "it again")


def load_mnist(data_dir: str | None, read_train: bool = True) -> SourceArrays:
    """MNIST from IDX files (downloading missing ones); test split = the 10k ``t10k`` files.
    ``read_train=False``: only the test files are read and checked (evaluation of the test part)."""
    folder = mnist_folder(data_root(data_dir))
    missing = [name for name in MNIST_FILES.values() if _find(folder, name) is None]
    if missing:
        details = None
        if os.environ.get(OFFLINE_ENV, "") not in ("", "0"):
            problem = f"download skipped because {OFFLINE_ENV}={os.environ[OFFLINE_ENV]}"
        else:
            problem = ""
            for name in missing:   # stop at the first failure: the rest would only fail the same way
                error = download_file(name, folder)
                if error:   # each mirror's URL and network error: details, not the one line
                    problem = f"download failed ({len(mirrors())} mirror{'s' * (len(mirrors()) > 1)})"
                    details = f"{name}: {error} (mirrors: ${MIRROR_ENV}, comma-separated, or the defaults)"
                    break
        missing = [name for name in missing if _find(folder, name) is None]
        if missing:
            if len(missing) == len(MNIST_FILES):
                which, put = "no IDX files", ("put train-/t10k-images-idx3-ubyte and train-/t10k-labels-"
                                             "idx1-ubyte there")
            else:
                which, put = ", ".join(missing) + " missing", "put them there"
            raise NeuralzooError(f"MNIST: {which} in {folder}; {problem}; {put} (raw or .gz), or point "
                                 f"--data-dir or ${DATA_ENV} at them", details=details)
    splits = ("train", "test") if read_train else ("test",)
    paths = {key: _find(folder, name) for key, name in MNIST_FILES.items() if key.split("_")[0] in splits}
    # Structural checks (gzip, magic number, size, image/label counts) come before the checksum so a
    # damaged file is reported as what it is, not only as "not the standard MNIST file".
    raw = {key: read_idx_bytes(path) for key, path in paths.items()}
    arrays = {key: parse_idx(raw[key], paths[key],
                             MAGIC_IMAGES if key.endswith("images") else MAGIC_LABELS)
              for key in paths}
    for split in splits:
        check_pair(arrays[f"{split}_images"], arrays[f"{split}_labels"], paths[f"{split}_images"],
                   paths[f"{split}_labels"])
    for key, data in raw.items():
        _check_md5(data, paths[key], MNIST_FILES[key])
    del raw
    result = SourceArrays(origin=f"MNIST IDX files in {folder} (md5-verified)",
                          scaling="uint8 pixels / 255 -> [0, 1]", class_names=[str(d) for d in range(10)],
                          test_rule="the 10k t10k files")
    for split in splits:
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        x = torch.from_numpy(images).to(torch.float32).div_(255.0).unsqueeze(1)
        result.parts[split] = (x, labels.astype(np.int64), str(paths[f"{split}_images"]))
    return result


def is_mnist_folder(folder: Path) -> bool:
    """True when ``folder`` holds the four MNIST IDX files (so ``data=<folder>`` means MNIST)."""
    return all(_find(folder, name) is not None for name in MNIST_FILES.values())
