"""Helpers shared by the benchmarks: the environment of a run, machine peaks, memory, JSON output.

Every benchmark writes the protocol beside each number (data, split, sample counts, seed, threads,
batch size, precision, torch version, CPU model); :func:`environment` supplies the machine part.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import torch

from neuralzoo.training.context import native_cpu_bf16


def process_age_seconds() -> float:
    """Seconds since this process started (interpreter start), from /proc; 10 ms resolution."""
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(uptime - start_ticks / os.sysconf("SC_CLK_TCK"), 0.0)
    except (OSError, ValueError, IndexError):
        return float("nan")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags(wanted: tuple[str, ...] = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
              ) -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return [f for f in wanted if f in have]
    except OSError:
        pass
    return []


def load_average() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def environment() -> dict[str, Any]:
    return {
        "cpu_model": cpu_model(), "cpu_flags": cpu_flags(), "logical_cpus": os.cpu_count(),
        "torch": torch.__version__, "python": platform.python_version(),
        "torch_threads": torch.get_num_threads(),
        "bf16_native": native_cpu_bf16(),
        "load_average_1_5_15min_at_start": load_average(),
    }


def machine(env: dict[str, Any]) -> str:
    """The machine in words, from ``environment()``'s record: CPUs, model and vector extensions."""
    return (f"{env['logical_cpus']} logical CPUs, {env['cpu_model']} "
            f"({', '.join(env['cpu_flags']) or 'no AVX2'}); load at start {env['load_average_1_5_15min_at_start']}")


def max_rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports ru_maxrss in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def matmul_peak_gflops(dtype: torch.dtype, n: int = 4096, repeats: int = 5) -> dict[str, Any]:
    """Best-of-``repeats`` GFLOP/s of one n x n @ n x n matmul (2 n^3 flops) with torch's threads."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b  # warm-up: library dispatch, page faults
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    best = min(times)
    return {"dtype": str(dtype).replace("torch.", ""), "n": n, "repeats": repeats,
            "threads": torch.get_num_threads(), "best_seconds": round(best, 4),
            "gflops": round(2 * n ** 3 / best / 1e9, 1),
            "median_gflops": round(2 * n ** 3 / statistics.median(times) / 1e9, 1)}


def training_peaks() -> dict[str, Any]:
    """The matmul peaks of this run; ``training`` names the one that bounds the loop: bf16 where the
    CPU computes bf16 natively (the loop then trains under bf16 autocast), else fp32. Emulated bf16 is
    not measured: a 4096^3 bf16 matmul without AVX512-BF16/AMX takes minutes and bounds nothing."""
    fp32 = matmul_peak_gflops(torch.float32)
    if native_cpu_bf16():
        return {"bf16": matmul_peak_gflops(torch.bfloat16), "fp32": fp32, "training": "bf16"}
    return {"bf16": {"skipped": "no native bf16 on this CPU (emulated; neuralzoo trains in float32)"},
            "fp32": fp32, "training": "fp32"}


def training_precision(peaks: dict[str, Any]) -> str:
    return "bf16 autocast" if peaks["training"] == "bf16" else "float32"


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def summary(values: list[float], digits: int = 1) -> dict[str, Any]:
    return {"values": [round(v, digits) for v in values], "median": round(statistics.median(values), digits),
            "min": round(min(values), digits), "max": round(max(values), digits)}


def write_json(path: Path, result: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
