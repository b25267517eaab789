"""Character text from any UTF-8 file -> next-character windows (``DataInfo.task == "text"``).

Protocol (written to ``DataInfo.description``): the text is split chronologically, the last
``test_fraction`` of its characters for testing and the ``val_fraction`` before them for
validation. The vocabulary is the sorted characters of the training part plus U+FFFD, which stands
for any held-out character the training part never shows (counted in the description). Training
windows of ``seq_len`` + 1 characters start every ``seq_len // 2`` characters; held-out windows tile
their part so each of its characters is predicted exactly once (from up to ``seq_len`` - 1 previous
characters; the first from the preceding part's last character), so the mean loss over them, in bits,
is the bits per character of that part (a final piece shorter than ``seq_len`` is left out).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import NeuralzooError
from .base import ArrayData, DataConfig, DataInfo, DataSplits, TextInfo

BUNDLED = Path(__file__).parent / "bundled"
TEXT_DATASETS = {"fable": BUNDLED / "fable.txt"}   # a short English fable written for neuralzoo
TEXT_SUFFIXES = (".txt", ".text", ".md")
UNKNOWN = "\ufffd"


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise NeuralzooError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except OSError as exc:
        raise NeuralzooError(f"{path}: cannot read text file ({exc.strerror})") from None


def text_windows(ids: torch.Tensor, start: int, end: int, seq_len: int, stride: int,
                 source: str) -> ArrayData | None:
    """Windows predicting characters [start, end): x (N, seq_len) ids, y the next ids."""
    first = max(start, 1)
    spans = ids[first - 1:end]
    if len(spans) < seq_len + 1:
        return None
    windows = spans.unfold(0, seq_len + 1, stride)   # (N, seq_len + 1)
    return ArrayData(windows[:, :-1].contiguous(), windows[:, 1:].contiguous(), source)


def load_text(cfg: DataConfig) -> DataSplits:
    path = TEXT_DATASETS.get(cfg.data) or Path(cfg.data).expanduser()
    text = read_text(path)
    n, seq_len = len(text), cfg.seq_len
    test, val = round(n * cfg.test_fraction), round(n * cfg.val_fraction)
    train_end, val_end = n - test - val, n - test
    if train_end < seq_len + 1:
        raise NeuralzooError(f"{path}: the training part has {train_end} of {n} characters, fewer than "
                             f"seq_len + 1 = {seq_len + 1}; give more text or a smaller --seq-len")
    vocabulary = "".join(sorted(set(text[:train_end]) - {UNKNOWN})) + UNKNOWN
    lookup = {c: i for i, c in enumerate(vocabulary)}
    unknown_id = len(vocabulary) - 1
    ids = torch.tensor([lookup.get(c, unknown_id) for c in text], dtype=torch.long)
    unseen = int((ids[train_end:] == unknown_id).sum())
    parts = {"train": text_windows(ids, 0, train_end, seq_len, max(1, seq_len // 2), f"{path} [train]"),
             "val": text_windows(ids, train_end, val_end, seq_len, seq_len, f"{path} [val]"),
             "test": text_windows(ids, val_end, n, seq_len, seq_len, f"{path} [test]")}
    for name, fraction in (("val", cfg.val_fraction), ("test", cfg.test_fraction)):
        if fraction > 0 and parts[name] is None:
            raise NeuralzooError(f"{path}: the {name} part ({fraction:g} of {n} characters) is shorter than "
                                 f"one window of seq_len {seq_len} + 1; give more text, a smaller "
                                 f"--seq-len or a larger --{name}-fraction")
    counts = {k: 0 if v is None else len(v) * seq_len for k, v in parts.items()}
    description = (f"text {path} ({n} characters); chronological split: train characters "
                   f"1-{train_end}, val {train_end + 1}-{val_end}, test {val_end + 1}-{n}; vocabulary "
                   f"{len(vocabulary)} (training characters + U+FFFD for {unseen} unseen held-out "
                   f"characters); windows of {seq_len} (train stride {max(1, seq_len // 2)}; held-out "
                   f"characters predicted once: val {counts['val']}, test {counts['test']})")
    info = DataInfo(name=cfg.data, input_shape=(seq_len,), value_range=(0.0, len(vocabulary) - 1.0),
                    description=description, task="text",
                    text=TextInfo(vocabulary, seq_len))
    return DataSplits(train=parts["train"], val=parts["val"], test=parts["test"], info=info)
