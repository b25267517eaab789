"""``neuralzoo serve RUN [RUN ...]``: the web page and JSON API over trained runs (``neuralzoo.serve``)."""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys
from pathlib import Path

from ..errors import NeuralzooError
from .base import command


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def unique_names(paths: list[Path]) -> list[str]:
    """A URL-safe name per run: its folder's name, numbered when two runs share one."""
    names: list[str] = []
    for path in paths:
        base = "".join(c if c.isalnum() or c in "-_." else "-" for c in path.name) or "run"
        name, k = base, 2
        while name in names:
            name, k = f"{base}-{k}", k + 1
        names.append(name)
    return names


@command("serve", "a local web page and JSON API over trained runs (needs neuralzoo[serve])")
def serve_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="neuralzoo serve", description=(
        "Serve trained runs: a page to draw digits, explore latent spaces, sample, forecast and "
        "generate text, and the same as a JSON API under /api (docs at /docs). Only the runs named "
        "here are served."))
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories (or checkpoints)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, "
                        "this machine only; anything else is reachable from the network)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0: any free one)")
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best")
    parser.add_argument("--precision", choices=("float32", "bf16"), default="float32",
                        help="inference precision (as for evaluate; default: float32)")
    parser.add_argument("--max-upload-kb", type=int, default=1024,
                        help="largest request body accepted, in KiB (default: 1024)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default: 1: "
                        "a run answers one request at a time, and on 2 cores one thread answered a "
                        "drawn digit faster and steadier than two; benchmarks/serve.py)")
    args = parser.parse_args(argv)
    from ..serve import require_serving

    require_serving()
    if args.max_upload_kb < 1 or args.threads < 1 or not 0 <= args.port <= 65535:
        raise NeuralzooError("--max-upload-kb and --threads must be positive and --port within 0..65535")
    import torch
    import uvicorn

    from ..runs import load, run_dir_of
    from ..serve import ServedRun, create_app

    torch.set_num_threads(args.threads)
    paths = [run_dir_of(p) for p in args.runs]
    runs = []
    for name, given in zip(unique_names(paths), args.runs):
        model = load(given, args.checkpoint, "cpu", args.precision)
        runs.append(ServedRun(name, model))
        note = f" (data unavailable: {runs[-1].data_error})" if runs[-1].data_error else ""
        print(f"serving {name}: {model.name} on {model.info.name}, jobs {', '.join(runs[-1].jobs)}{note}")
    if not is_loopback(args.host):
        print(f"neuralzoo: warning: binding {args.host}: the runs and the API are reachable from the "
              "network, without authentication", file=sys.stderr)
    app = create_app(runs, args.max_upload_kb * 1024)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    # proto named: asyncio sets TCP_NODELAY only on sockets whose proto is TCP, and without it
    # Nagle's algorithm meets the client's delayed ACK and holds each response ~40 ms
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((args.host, args.port))   # bound here, so --port 0 can print the port it got
    except OSError as e:
        raise NeuralzooError(f"cannot listen on {args.host}:{args.port} ({e.strerror or e})") from None
    listener.listen(2048)   # connections made from now on wait for uvicorn instead of being refused
    port = listener.getsockname()[1]
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"neuralzoo serve: http://{shown}:{port}/  (API docs: /docs; Ctrl-C stops)", flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[listener])
    return 0
