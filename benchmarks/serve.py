"""``neuralzoo serve`` under load: server time and client latency of the prediction endpoint for one
drawn digit, 100 sequential requests and 8 concurrent clients, in one run.

Protocol:
- models: the classic CNN and the MLP, each trained through ``neuralzoo.train`` on MNIST (60,000
  training images, a stratified 5% validation split, seed 0) for ``--epochs`` epochs, and their test
  accuracy from ``neuralzoo.load(...).predict_proba`` on the 10,000 test images;
- the server: ``neuralzoo serve RUN RUN --port 0`` as a user starts it (uvicorn, one worker process,
  HTTP/1.1 on 127.0.0.1);
- a request: ``POST /api/runs/NAME/predict`` with one MNIST test image as the 28x28 grey pixels the
  page sends (JSON, ~3-4 KB), ``overlay`` none or Grad-CAM / saliency (what the page asks for while
  you draw), over a kept-alive connection per client; test images in order, a different one per
  request;
- server time: the ``Server-Timing: app;dur=`` header (body read, JSON and pydantic validation,
  the model, the overlay, the response's JSON); client latency: from sending to the parsed answer;
- sequential: 20 warm-up requests, then ``--requests`` (100) one after another; concurrent: 8
  clients in threads started together, ``--requests`` requests each (800 in all); p50 and p99 of
  each, failures (non-200 or errors) counted;
- two servers, one after the other: ``--threads 2`` (torch's default on 2 cores) and
  ``--threads 1`` (the default of ``neuralzoo serve``). Under 8 clients a request's server time
  includes its wait for the run's lock (a run answers one request at a time), so it measures
  queueing as well as work.
The target (issue 25): one drawn digit answered in under 20 ms of server time on 2 cores.

    pip install -e ".[serve]"
    python benchmarks/serve.py [--epochs 2] [--requests 100]
"""

from __future__ import annotations

import argparse
import http.client
import json
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import neuralzoo  # noqa: E402
from common import environment, load_average, write_json  # noqa: E402
from neuralzoo.evaluation import eval_data_config, load_eval_data  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT.parent / "shared" / "data" / "mnist"
RESULTS = ROOT / "benchmarks" / "results" / "serve.json"
CLIENTS = 8


def start_server(runs: list[Path], options: list[str]) -> tuple[subprocess.Popen, str, int]:
    process = subprocess.Popen([sys.executable, "-m", "neuralzoo", "serve", "--port", "0", *options,
                                *map(str, runs)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    while True:
        line = lines.get(timeout=300)
        if "http://" in line:
            host, port = line.split("http://", 1)[1].split("/", 1)[0].rsplit(":", 1)
            return process, host, int(port)


def one_request(connection: http.client.HTTPConnection, path: str, body: bytes) -> tuple[float, float, bool]:
    """(client ms, server ms, ok) of one POST."""
    start = time.perf_counter()
    try:
        connection.request("POST", path, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        answer = json.loads(response.read())
        client = (time.perf_counter() - start) * 1000
        server = float(response.getheader("server-timing", "app;dur=nan").split("dur=")[1])
        return client, server, response.status == 200 and len(answer["probabilities"][0]) == 10
    except (OSError, http.client.HTTPException, ValueError, KeyError):
        return (time.perf_counter() - start) * 1000, float("nan"), False


def percentiles(values: list[float]) -> dict[str, float]:
    finite = np.array([v for v in values if np.isfinite(v)])
    return {"p50": round(float(np.percentile(finite, 50)), 2),
            "p99": round(float(np.percentile(finite, 99)), 2), "max": round(float(finite.max()), 2)}


def load_test(host: str, port: int, path: str, bodies: list[bytes], requests: int) -> dict:
    def client(offset: int, count: int, out: list) -> None:
        connection = http.client.HTTPConnection(host, port, timeout=60)
        for k in range(count):
            out.append(one_request(connection, path, bodies[(offset + k) % len(bodies)]))
        connection.close()

    warm: list = []
    client(0, 20, warm)
    sequential: list = []
    client(20, requests, sequential)
    results: list[list] = [[] for _ in range(CLIENTS)]
    threads = [threading.Thread(target=client, args=(1000 + 100 * i, requests, results[i]))
               for i in range(CLIENTS)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    concurrent = [r for part in results for r in part]
    figure = {}
    for name, rows in (("sequential", sequential), ("concurrent_8", concurrent)):
        figure[name] = {"requests": len(rows), "failed": sum(not ok for _, _, ok in rows),
                        "server_ms": percentiles([s for _, s, _ in rows]),
                        "client_ms": percentiles([c for c, _, _ in rows])}
    figure["concurrent_8"]["requests_per_second"] = round(len(concurrent) / wall, 1)
    return figure


def report(server: str, name: str, overlay: str, figure: dict) -> None:
    for kind in ("sequential", "concurrent_8"):
        f, server_ms, client_ms = figure[kind], figure[kind]["server_ms"], figure[kind]["client_ms"]
        print(f"{server:15s} {name:11s} overlay {overlay:8s} {kind:12s} server p50 {server_ms['p50']:6.2f} "
              f"p99 {server_ms['p99']:6.2f} ms | client p50 {client_ms['p50']:6.2f} "
              f"p99 {client_ms['p99']:6.2f} ms | {f['requests']} requests, {f['failed']} failed", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    result = {"environment": environment(), "protocol": __doc__.split("Protocol:\n", 1)[1].split("\n\n")[0],
              "epochs": args.epochs, "models": {}}
    with tempfile.TemporaryDirectory() as folder:
        runs = {}
        for name, model in (("classic_cnn", "cnn"), ("mlp", "mlp")):
            runs[name] = Path(folder) / name
            settings = {"preset": "classic"} if model == "cnn" else {}
            neuralzoo.train(model, out=runs[name], data="mnist", data_dir=str(DATA_DIR), epochs=args.epochs,
                            seed=0, progress=False, verbose=False, **settings)
        test = None
        for name, run in runs.items():
            model = neuralzoo.load(run)
            if test is None:
                test = load_eval_data(model, eval_data_config(model, {})).split("test")
            accuracy = float((model.predict_proba(test.x).argmax(1) == test.y).float().mean())
            result["models"][name] = {"test_accuracy": round(100 * accuracy, 2)}
        bodies = {overlay: [json.dumps({"pixels": image[0].numpy().round(4).tolist(), "overlay": overlay})
                            .encode() for image in test.x[:2000]]
                  for overlay in ("none", "grad-cam", "saliency")}
        for server, options in (("threads_2", ["--threads", "2"]), ("threads_1", ["--threads", "1"])):
            process, host, port = start_server(list(runs.values()), options)
            try:
                result[f"load_average_before_{server}"] = load_average()
                for name in runs:
                    for overlay in ("none", "grad-cam" if name == "classic_cnn" else "saliency"):
                        figure = load_test(host, port, f"/api/runs/{name}/predict", bodies[overlay],
                                           args.requests)
                        result["models"][name].setdefault(server, {})[f"overlay_{overlay}"] = figure
                        report(server, name, overlay, figure)
            finally:
                process.terminate()
                process.wait(timeout=30)
    write_json(args.output, result)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
