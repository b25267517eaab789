"""RUN_DIR/metrics.jsonl (one JSON object per log event) and optional TensorBoard event files."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..errors import NeuralzooError


class RunLogger:
    def __init__(self, run_dir: Path, enabled: bool = True, tensorboard: bool = False) -> None:
        self.path = Path(run_dir) / "metrics.jsonl"
        self.enabled = enabled
        self.writer = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise NeuralzooError("--tensorboard needs the tensorboard package: "
                                     "pip install 'neuralzoo[tensorboard]'") from None
            self.writer = SummaryWriter(str(Path(run_dir) / "tensorboard"))

    def truncate_after(self, step: int) -> None:
        """On resume: drop events logged after the checkpoint, which the resumed run will redo."""
        if not (self.enabled and self.path.exists()):
            return
        keep = [line for line in self.path.read_text().splitlines()
                if line.strip() and json.loads(line).get("step", 0) <= step
                and json.loads(line).get("event") != "end"]
        self.path.write_text("".join(line + "\n" for line in keep))

    def log(self, event: str, step: int, **values: Any) -> None:
        if not self.enabled:
            return
        record = {"event": event, "step": step, **{k: _clean(v) for k, v in values.items()}}
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for key, value in record.items():
                if isinstance(value, (int, float)) and key not in ("step",):
                    self.writer.add_scalar(f"{event}/{key}", value, step)
            self.writer.flush()

    def close(self) -> None:
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
