"""``.npz`` data files: arrays ``x``/``X`` (+ ``y``/``Y``), optionally ``x_val``/``y_val`` and
``x_test``/``y_test``, read without unpickling anything and with every array's header checked against the
bytes the file holds before NumPy allocates it."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np

from ..errors import NeuralzooError
from .files import SourceArrays, array_to_samples, labels_vector

SPLIT_KEYS = {"train": ("x", "X", "y", "Y"), "val": ("x_val", "X_val", "y_val", "Y_val"),
              "test": ("x_test", "X_test", "y_test", "Y_test")}


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file, never unpickling anything.

    Anything that is not a readable zip of ``.npy`` arrays (random bytes, a truncated download, an
    object array) becomes one ``NeuralzooError`` naming the file.
    """
    try:
        if not zipfile.is_zipfile(path):   # else numpy guesses "pickle" and says so, confusingly
            raise NeuralzooError(f"{path}: not an .npz file (not a zip archive; truncated or another "
                                 "format)")
        check_npy_sizes(path)
        with np.load(path, allow_pickle=False) as archive:   # no pickles: data files must not run code
            return {key: archive[key] for key in archive.files}
    except NeuralzooError:
        raise
    except Exception as exc:   # zipfile and numpy's .npy parser raise a dozen types on corrupt data
        raise NeuralzooError(f"{path}: cannot read .npz file ({type(exc).__name__}: {exc})") from None



def check_npy_sizes(path: Path) -> None:
    """Every array's header against the bytes the archive holds for it, before NumPy allocates the
    shape a header claims (a few corrupt bytes can claim terabytes)."""
    from numpy.lib import format as npy

    with zipfile.ZipFile(path) as archive:
        for member in archive.infolist():
            if not member.filename.endswith(".npy"):
                continue
            with archive.open(member) as stream:
                version = npy.read_magic(stream)
                read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
                shape, _, dtype = read_header(stream)
                claimed, held = math.prod(shape) * dtype.itemsize, member.file_size - stream.tell()
            if claimed > held:
                raise NeuralzooError(f"{path}: array {member.filename[:-4]!r} claims shape {shape} of "
                                     f"{dtype} ({claimed:,} bytes) but the file holds {max(held, 0):,}")



def missing_x_error(path: Path, keys) -> NeuralzooError:
    return NeuralzooError(f"{path}: no 'x' (or 'X') array; the file has keys: "
                          f"{', '.join(sorted(keys)) or 'none'}")



def load_npz(path: Path) -> SourceArrays:
    """Arrays ``x``/``X`` (+ ``y``/``Y``), optionally ``x_val``/``y_val`` and ``x_test``/``y_test``;
    with ``lengths`` (+ ``lengths_val``/``lengths_test``) ``x`` holds padded sequences (N, T, F)."""
    arrays = read_npz(path)
    if "x" not in arrays and "X" not in arrays:
        raise missing_x_error(path, arrays)
    result = SourceArrays(origin=f"npz file {path}", scaling="", single_file=True)
    for split, (x_key, x_upper, y_key, y_upper) in SPLIT_KEYS.items():
        x_name = x_key if x_key in arrays else x_upper if x_upper in arrays else None
        y_name = y_key if y_key in arrays else y_upper if y_upper in arrays else None
        if x_name is None:
            if y_name is not None:
                raise NeuralzooError(f"{path}: has {y_name!r} but no {x_key!r} array")
            continue
        source = str(path) if split == "train" else f"{path} [{x_name}]"
        if "lengths" in arrays:   # padded variable-length sequences (data/sequences.py)
            from .sequences import sequence_part

            x, result.lengths[split] = sequence_part(arrays, split, x_name, path)
            scaling = "values kept as given (float32); padding after each length set to 0"
        else:
            x, scaling = array_to_samples(arrays[x_name], source, x_name)
        y = None if y_name is None else labels_vector(arrays[y_name], source, y_name)
        result.parts[split] = (x, y, source)
        result.scaling = result.scaling or scaling
        result.scaled_to_unit = scaling.startswith("integer")
    shapes = {split: tuple(part[0].shape[1:]) for split, part in result.parts.items()}
    if len(set(shapes.values())) > 1:
        raise NeuralzooError(f"{path}: splits have different sample shapes: {shapes}")
    return result
