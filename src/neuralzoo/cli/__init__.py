"""``neuralzoo`` command line: list, train, tune, evaluate, predict, plot, demo, scratch; the latent-model
jobs sample, embed, reconstruct, interpolate, detect; the sequence jobs forecast, generate.

Bad input ends in one line on stderr and exit code 2 (``neuralzoo --verbose COMMAND ...`` adds an
error's details, ``NEURALZOO_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from ..errors import NeuralzooError, NeuralzooWarning
from .base import COMMANDS, command_overview

_python_show_warning = warnings.showwarning


def top_parser() -> argparse.ArgumentParser:
    from ..version import __version__

    parser = argparse.ArgumentParser(
        prog="neuralzoo", description="Train, evaluate and use classic deep-learning models.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"{command_overview()}\n\nRun 'neuralzoo COMMAND --help' for a command's options.")
    parser.add_argument("--version", action="version", version=f"neuralzoo {__version__}")
    parser.add_argument("--verbose", action="store_true", help="errors with their details (each "
                        "mirror's download error, ...)")
    parser.add_argument("command", choices=sorted(COMMANDS), metavar="COMMAND", help="one of those below")
    return parser


def main(argv: list[str] | None = None) -> int:
    from . import (commands, latent_commands, sequence_commands,  # noqa: F401  (register the commands)
                   explain_command, export_command, probe_commands, robustness_commands, serve_command,
                   train_commands, tune_command)

    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in argv   # neuralzoo --verbose COMMAND, or a command's own --verbose (train)
    if argv[:1] == ["--verbose"]:
        argv = argv[1:]
    if not argv or argv[0] in ("-h", "--help", "--version"):
        top_parser().parse_args(argv or ["--help"])
        return 0
    if argv[0] not in COMMANDS:
        top_parser().parse_args(argv[:1])  # argparse prints the valid choices and exits with 2
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return COMMANDS[argv[0]][1](argv[1:])
    except NeuralzooError as e:
        return _fail(e, verbose=verbose)
    except (ValueError, OSError) as e:  # e.g. a file we could not read: still one line, exit 2
        return _fail(e, f"{type(e).__name__}: ", verbose)
    except KeyboardInterrupt:
        print("neuralzoo: interrupted", file=sys.stderr)
        return 130


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """neuralzoo's own warnings (a run still improving, a model behind its baseline) as one line on
    stderr, the way errors are printed; any other warning as Python prints it."""
    if issubclass(category, NeuralzooWarning):
        print(f"neuralzoo: warning: {message}", file=sys.stderr, flush=True)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


def _fail(error: Exception, prefix: str = "", verbose: bool = False) -> int:
    details = getattr(error, "details", None)   # what would make the line long (NeuralzooError)
    if os.environ.get("NEURALZOO_DEBUG"):
        if details:
            error.add_note(f"details: {details}")
        raise error
    message = " ".join(str(error).split())  # one line, whatever the source
    hint = " (details: neuralzoo --verbose ...)" if details and not verbose else ""
    print(f"neuralzoo: error: {prefix}{message}{hint}", file=sys.stderr)
    if details and verbose:
        print(f"neuralzoo: details: {details}", file=sys.stderr)
    return 2
