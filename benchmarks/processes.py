"""One whole process, timed: wall seconds and that process's own peak RSS (``os.wait4``).

Shared by fixed_costs.py and peers.py. Imports nothing heavy, so the measuring process stays small
(a child's peak RSS counts the parent's pages until exec).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path


def timed_process(argv: list[str], env: dict[str, str] | None = None,
                  cwd: Path | None = None) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of running ``argv`` to its end; a failure stops the benchmark
    with the end of the process's stderr."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status):
        shown = " ".join(map(str, argv[:6]))
        raise SystemExit(f"{shown}... failed:\n{process.stderr.read().decode()[-3000:]}")
    return seconds, usage.ru_maxrss / 1024
