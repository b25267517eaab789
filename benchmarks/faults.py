"""Faults, tried for every family: runs interrupted by SIGKILL and SIGTERM at random steps and resumed,
against an uninterrupted run; the readers fed generated files; the checkpoint writes made to fail.

Interruptions: for each registered model, its ``neuralzoo demo`` recipe on its demo data, cut to
``--steps`` steps (one thread, float32, a checkpoint every 5 steps, a log line every step), is trained
once without interruption, then twice more: once killed with SIGKILL ``--kills`` times at random steps
(drawn with ``--seed``), resumed with ``neuralzoo train --resume`` after each kill, and once stopped with
SIGTERM as many times. A run passes when every SIGTERM exits with 143 and a resume line, and the final
checkpoint's tensors (weights, optimizer state, EMA) equal the uninterrupted run's bit for bit.
Fuzzing: ``tests/test_fuzz.py`` under its ``ci`` profile (or ``--fuzz-profile``), counting outcomes per
reader. Write failures: the injected-failure tests of ``tests/test_faults.py`` (disk full half-way
through a write, or a failed rename, at each of the first four writes of a run; a failed metrics write).

    python benchmarks/faults.py [--models mlp,vae] [--kills 3] [--steps 40] [--fuzz-profile ci]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import environment, write_json  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "NEURALZOO_OFFLINE": "1"}


def train_argv(name: str, steps: int, out: Path) -> list[str]:
    """``neuralzoo train`` with the model's demo recipe, cut to ``steps`` steps."""
    from neuralzoo.registry import get_model_class

    settings = {**get_model_class(name).card.demo, "epochs": 1000, "max_steps": steps, "checkpoint_every": 5,
                "log_every": 1, "threads": 1, "bf16": "off", "device": "cpu", "sample_every": 0}
    argv = [sys.executable, "-m", "neuralzoo", "train", name, "--out", str(out), "--no-progress"]
    for key, value in settings.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            argv.append(flag if value else "--no-" + key.replace("_", "-"))
        elif isinstance(value, (tuple, list)):
            argv += [flag, ",".join(map(str, value))]
        else:
            argv += [flag, str(value)]
    return argv


def logged_step(run: Path) -> int:
    try:
        lines = (run / "metrics.jsonl").read_text().splitlines()
        return max((json.loads(line)["step"] for line in lines if line.strip()), default=0)
    except (OSError, ValueError):
        return 0


def interrupted(name: str, steps: int, out: Path, signum: int, at: list[int]) -> dict:
    """Run to the end, sending ``signum`` once the log reaches each step in ``at``, resuming after each."""
    events, argv, reached = [], train_argv(name, steps, out), 0
    for target in at:
        # past the step the last interruption reached: the resumed process has started training (its
        # stop handler is in place) and rewritten the log from its checkpoint
        target = max(target, reached + 1)
        if target >= steps:
            break
        process = subprocess.Popen(argv, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while process.poll() is None and logged_step(out) < target:
            time.sleep(0.002)
        reached = logged_step(out)
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=300)
        reached = max(reached, logged_step(out))   # a stop saves (and logs) the step it finished
        events.append({"signal": signal.Signals(signum).name, "at_step": reached,
                       "exit_code": process.returncode,
                       "said_how_to_resume": "neuralzoo train --resume" in stdout,
                       "traceback": "Traceback" in stderr})
        argv = [sys.executable, "-m", "neuralzoo", "train", "--resume", str(out), "--no-progress"]
    final = subprocess.run(argv, env=ENV, capture_output=True, text=True)
    if final.returncode:
        raise SystemExit(f"{name}: the last resume failed:\n{final.stderr[-2000:]}")
    return {"events": events}


def same_tensors(a: Path, b: Path) -> tuple[bool, str]:
    x, y = (load_file(run / "checkpoints" / "last.safetensors") for run in (a, b))
    if x.keys() != y.keys():
        return False, "different tensors"
    for key in x:   # weights, optimizer state, EMA, RNG state: everything the run carries
        if not torch.equal(x[key], y[key]):
            return False, f"{key} differs by {(x[key].double() - y[key].double()).abs().max():.3g}"
    return True, ""


def interruption_rows(models: list[str], kills: int, steps: int, seed: int) -> list[dict]:
    rng, rows = random.Random(seed), []
    for name in models:
        with tempfile.TemporaryDirectory() as folder:
            work = Path(folder)
            subprocess.run(train_argv(name, steps, work / "reference"), env=ENV, check=True,
                           capture_output=True)
            for signum in (signal.SIGKILL, signal.SIGTERM):
                at = sorted(rng.sample(range(1, steps), kills))
                run = work / signal.Signals(signum).name
                started = time.perf_counter()
                result = interrupted(name, steps, run, signum, at)
                equal, why = same_tensors(work / "reference", run)
                expected_code = -signal.SIGKILL if signum == signal.SIGKILL else 143
                ok = equal and all(e["exit_code"] == expected_code and not e["traceback"]
                                   for e in result["events"])
                if signum == signal.SIGTERM:
                    ok = ok and all(e["said_how_to_resume"] for e in result["events"])
                rows.append({"model": name, "signal": signal.Signals(signum).name, "steps": steps,
                             "interrupted_at": [e["at_step"] for e in result["events"]],
                             "exit_codes": sorted({e["exit_code"] for e in result["events"]}),
                             "final_checkpoint_identical": equal, "difference": why, "passed": ok,
                             "seconds": round(time.perf_counter() - started, 1)})
                print(f"{name:12s} {rows[-1]['signal']:8s} at {rows[-1]['interrupted_at']}  exit "
                      f"{rows[-1]['exit_codes']}  identical {equal}  {'ok' if ok else 'FAILED ' + why}",
                      flush=True)
    return rows


def pytest_counts(args: list[str], env: dict[str, str] | None = None) -> dict:
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                            cwd=ROOT, env=env or ENV, capture_output=True, text=True)
    counts = dict((word, int(n)) for n, word in re.findall(r"(\d+) (passed|failed|error)", result.stdout))
    return {"command": "pytest " + " ".join(args), **counts}


def main() -> None:
    from neuralzoo.registry import model_names

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(model_names()))
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fuzz-profile", default="ci")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "faults.json"))
    args = parser.parse_args()
    rows = interruption_rows(args.models.split(","), args.kills, args.steps, args.seed)
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "fuzz.json"
        fuzz = pytest_counts(["tests/test_fuzz.py", "--hypothesis-profile", args.fuzz_profile],
                             {**ENV, "NEURALZOO_FUZZ_REPORT": str(report)})
        fuzz["outcomes"] = json.loads(report.read_text()) if report.exists() else {}
    fuzz["inputs"] = sum(sum(c.values()) for c in fuzz["outcomes"].values())
    print(f"fuzzing ({args.fuzz_profile}): {fuzz['inputs']} generated inputs; {fuzz.get('passed', 0)} "
          f"reader tests passed, {fuzz.get('failed', 0)} failed")
    for reader, outcome in fuzz["outcomes"].items():
        print(f"  {reader:24s} {json.dumps(outcome)}")
    writes = pytest_counts(["tests/test_faults.py", "-k", "failed_checkpoint or failed_metrics"])
    print(f"write failures injected: {writes.get('passed', 0)} cases passed, "
          f"{writes.get('failed', 0)} failed")
    passed = sum(r["passed"] for r in rows)
    print(f"interruptions: {passed} of {len(rows)} runs resumed to the uninterrupted run's final checkpoint")
    write_json(Path(args.output), {
        "benchmark": "faults", "command": "python benchmarks/faults.py " + " ".join(sys.argv[1:]),
        "protocol": __doc__, "environment": environment(), "interruptions": rows,
        "fuzzing": fuzz, "write_failures": writes})


if __name__ == "__main__":
    main()
