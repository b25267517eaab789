"""The command registry: ``@command("name", help)`` on a function ``(argv) -> exit code``.

Its own module so that the command modules and the front door (``cli/__init__.py``, which imports
them to register their commands) never import each other in a circle.
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path
from typing import Callable

from ..errors import NeuralzooError

COMMANDS: dict[str, tuple[str, Callable[[list[str]], int]]] = {}


# ``neuralzoo --help`` lists the commands one per line under the job they serve, like ``git help``;
# a registered command missing here is listed under "other" (tests/test_small_fixes.py asks for none)
GROUPS: dict[str, tuple[str, ...]] = {
    "train models": ("train", "tune", "pretrain", "demo", "scratch"),
    "inspect runs": ("list", "inspect", "evaluate", "plot", "report", "explain", "probe", "attack", "audit"),
    "use a trained run": ("predict", "sample", "embed", "reconstruct", "interpolate", "detect", "forecast",
                          "generate", "export"),
    "serve": ("serve",),
}


def command_overview() -> str:
    """One line per registered command, grouped by job, for ``neuralzoo --help``."""
    listed = {name for names in GROUPS.values() for name in names}
    groups = {**GROUPS, "other": tuple(sorted(set(COMMANDS) - listed))}
    width = max(map(len, COMMANDS)) + 2
    lines = []
    for title, names in groups.items():
        names = [name for name in names if name in COMMANDS]
        if names:
            lines += ["", f"{title}:", *(f"   {name:<{width}}{COMMANDS[name][0]}" for name in names)]
    return "\n".join(lines[1:])


def command(name: str, help: str) -> Callable:
    def decorate(fn: Callable[[list[str]], int]) -> Callable[[list[str]], int]:
        COMMANDS[name] = (help, fn)
        return fn

    return decorate


def inference(fn: Callable[[list[str]], int]) -> Callable[[list[str]], int]:
    """Run a command without autograd graphs; torch is imported when the command runs, not when the
    command line starts (``neuralzoo --help`` and ``list`` import no torch)."""
    @functools.wraps(fn)
    def run(argv: list[str]) -> int:
        import torch

        with torch.no_grad():
            return fn(argv)

    return run


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    """The flags every command over a trained run shares: the run, its checkpoint, device, precision."""
    parser.add_argument("run", metavar="RUN_DIR", help="a run directory (or a checkpoint file)")
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best",
                        help="which checkpoint of the run (default: best)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--precision", choices=("float32", "bf16"), default="float32",
                        help="inference precision: bf16 autocast is faster where the device has native "
                             "bf16 (AVX512-BF16 / AMX CPUs, recent GPUs) and warns where it has not "
                             "(default: float32)")


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def output_paths(output: str | None, default: Path, **kinds: tuple[str, ...]) -> dict[str, Path]:
    """The files a command writes, one per kind (``picture=(".png", ".jpg")``, ``arrays=(".npz",)``),
    named after one stem: ``--output`` with the suffix of any of its kinds (or none) names them all
    (``samples.npz`` and ``samples.png`` both give samples.png + samples.npz); without it, ``default``.
    A kind keeps the user's suffix when it is one of its own, else takes its first. Folders are made."""
    path = Path(output).expanduser() if output else default
    suffix = path.suffix.lower()
    if suffix and not any(suffix in allowed for allowed in kinds.values()):
        every = [s for allowed in kinds.values() for s in allowed]
        raise NeuralzooError(f"--output {output}: give a file name ending in {', '.join(every)} (or no "
                             f"suffix); this command writes {' and '.join(a[0] for a in kinds.values())} "
                             "files beside each other")
    path.parent.mkdir(parents=True, exist_ok=True)
    stem = path.with_suffix("") if suffix else path
    return {kind: path if suffix in allowed else stem.with_suffix(allowed[0])
            for kind, allowed in kinds.items()}
