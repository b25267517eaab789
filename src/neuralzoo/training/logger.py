"""RUN_DIR/metrics.jsonl (one JSON object per log event) and optional TensorBoard event files."""

from __future__ import annotations

import json
import math
import sys
import types
from pathlib import Path
from typing import Any, Callable

from ..errors import NeuralzooError
from .checkpoint import atomic_write


class RunLogger:
    """Appends one JSON line per event. The file stays open, line-buffered, so every event reaches
    the OS as it is written (a killed run loses nothing logged) without reopening it per event."""

    def __init__(self, run_dir: Path, enabled: bool = True, tensorboard: bool = False,
                 resume_step: int | None = None) -> None:
        self.path = Path(run_dir) / "metrics.jsonl"
        self.file = None
        self.writer = None
        self.enabled = enabled
        if not enabled:
            return
        if resume_step is not None:
            self.truncate_after(resume_step)
        if tensorboard:
            # event files need no TensorFlow: TensorBoard's own switch to its stub API
            # ("tensorboard.compat.notf") keeps an installed TensorFlow from being imported just to
            # write them (5 s of CPU and TensorFlow's start-up lines on stderr), unless already loaded
            if "tensorflow" not in sys.modules:
                sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise NeuralzooError("--tensorboard needs the tensorboard package: "
                                     "pip install 'neuralzoo[tensorboard]'") from None
            self.writer = SummaryWriter(str(Path(run_dir) / "tensorboard"), flush_secs=10)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = self.path.open("a", buffering=1)

    def truncate_after(self, step: int) -> None:
        """On resume or rollback: drop events logged after the checkpoint, which the run will redo."""
        if not self.enabled or not self.path.exists():
            return
        events = [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
        keep = [e for e in events if e.get("step", 0) <= step and e.get("event") not in ("end", "stop")]
        self.write(lambda: atomic_write(self.path, "".join(json.dumps(e) + "\n" for e in keep).encode()))
        if self.file is not None:   # the rewrite is a new file: append to it, not to the old one
            self.file.close()
            self.file = self.path.open("a", buffering=1)

    def log(self, event: str, step: int, **values: Any) -> None:
        if self.file is None:
            return
        record = {"event": event, "step": step, **{k: _clean(v) for k, v in values.items()}}
        self.write(lambda: self.file.write(json.dumps(record) + "\n"))
        if self.writer is not None:
            for key, value in record.items():
                if isinstance(value, (int, float)) and key != "step":
                    self.writer.add_scalar(f"{event}/{key}", value, step)

    def write(self, action: Callable[[], Any]) -> None:
        try:
            action()
        except OSError as e:   # a full disk, an I/O error: the checkpoints written so far stay intact
            raise NeuralzooError(f"{self.path}: could not write the metrics ({e.strerror or e}); "
                                 "training stopped, the last checkpoint is intact") from None

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        if self.writer is not None:
            self.writer.close()


def _clean(v: Any) -> Any:
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    return v


def read_metrics(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        raise NeuralzooError(f"{path}: not found (is {run_dir} a neuralzoo run directory?)")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
