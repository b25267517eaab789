"""The faults a training run survives: a stop signal, a second writer, a non-finite step.

* ``GracefulStop``: the first SIGTERM / SIGINT asks the loop to stop after the current step (it then
  writes ``last`` and exits with 128 + the signal number); a second one stops at once. Nothing is torn
  either way: every file is written whole and renamed into place (``checkpoint.atomic_write``).
* ``RunLock``: one writer per run directory, an ``fcntl`` lock on ``RUN_DIR/.lock`` that records the
  writer's pid. The kernel drops the lock when its process dies, however it dies, so a lock left by a
  killed run is free again without anyone having to clean it up.
* ``NonFiniteStep``: raised by ``StepContext.update`` when a loss or gradient is NaN or infinite; the
  loop turns it into a stop, a skipped step or a rollback (``--on-nonfinite``).
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from ..errors import NeuralzooError


class NonFiniteStep(Exception):
    """A step produced a NaN/inf ``metric`` (``value``); the optimizer has not applied it."""

    def __init__(self, metric: str, value: float) -> None:
        super().__init__(f"{metric} is {value}")
        self.metric, self.value = metric, value


class StopTraining(Exception):
    """Raised by an epoch callback to end training after this epoch (its checkpoints are still
    written); ``reason`` becomes the run's stop reason (a hyperparameter search: ``"pruned"``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StopRequested(SystemExit):
    """The second stop signal: leave now, through every ``finally`` (temporary files are removed)."""


class GracefulStop:
    """Install SIGTERM/SIGINT handlers for the life of a ``with`` block (main thread only; elsewhere,
    e.g. a training call from a worker thread, signals keep their usual meaning)."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, announce: bool = True) -> None:
        self.signum: int | None = None
        self.announce = announce
        self.previous: dict[int, Any] = {}

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:   # the second signal: stop now
            raise StopRequested(128 + signum)
        self.signum = signum
        if self.announce:
            print(f"\n{signal.Signals(signum).name}: stopping after this step and saving the run "
                  "(send it again to stop at once)", file=sys.stderr, flush=True)

    def __enter__(self) -> "GracefulStop":
        try:
            for sig in self.SIGNALS:
                self.previous[sig] = signal.signal(sig, self.handle)
        except ValueError:   # not the main thread
            self.previous.clear()
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    @property
    def exit_code(self) -> int | None:
        return None if self.signum is None else 128 + self.signum


class RunLock:
    """Exclusive use of a run directory by one process: ``with RunLock(run_dir, "training"):``."""

    def __init__(self, run_dir: Path, purpose: str) -> None:
        self.path = Path(run_dir) / ".lock"
        self.purpose = purpose
        self.file: Any = None

    def holder(self) -> str:
        try:
            return self.path.read_text().strip() or "another process"
        except OSError:
            return "another process"

    def acquire(self) -> "RunLock":
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        file = open(self.path, "a+")
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.close()
            raise NeuralzooError(f"{self.path.parent}: in use by {self.holder()}; wait for it to finish or "
                                 "stop it (a lock left by a killed process is taken over)") from None
        file.seek(0)
        file.truncate()
        file.write(f"pid {os.getpid()} on {socket.gethostname()} ({self.purpose})\n")
        file.flush()
        self.file = file
        return self

    def release(self) -> None:
        if self.file is not None:
            self.file.close()   # closing drops the flock; the file stays, harmless
            self.file = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def check_not_in_use(run_dir: Path, purpose: str) -> None:
    """Refuse to write into a run directory a live process is training in (its lock is held)."""
    if (Path(run_dir) / ".lock").exists():
        RunLock(run_dir, purpose).acquire().release()
