"""Serving: what `reconciler serve` adds per request over calling the model in-process, and its
throughput with and without the request log.

    python -m bench.serve_bench [--requests 2000] [--seconds 10] [--clients 4]

Baseline: `mlflow.pyfunc.load_model("models:/iris-classifier@production").predict` on the same
one-row frames, in this process. Served: the same rows as HTTP requests on a kept-alive
connection to `reconciler serve` on 127.0.0.1 (its own process). Overhead = served - in-process,
per percentile. Throughput: `--clients` threads sending for `--seconds`, with the request log
writing every request (sample_rate 1), then with `--no-request-log`. Metrics are always on: their
cost is measured by timing the per-request metric updates alone.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.repos import committed_repo
from tests.e2e.serve_helpers import serving

PY = sys.executable

SPECS = {
    "specs/data.yaml": "kind: Dataset\nname: iris\nsource: {sklearn: load_iris}\ntarget: target\n"
    "split: {test_size: 0.3, seed: 1, stratify: true}\n",
    "specs/model.yaml": "kind: Model\nname: iris-classifier\ndataset: iris\nestimator:\n"
    "  class: sklearn.linear_model.LogisticRegression\n  params: {C: 1.0, max_iter: 500}\nmetrics: [accuracy]\n",
    "specs/gate.yaml": "kind: Gate\nname: g\nrules:\n  - {metric: accuracy, min: 0.8}\n",
    "environments/production.yaml": "kind: Environment\nname: production\nmodels:\n  iris-classifier: {gates: [g]}\n",
    ".gitignore": ".reconciler/\n",
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def in_process(repo: Path, rows: list[list[float]], columns: list[str]) -> list[float]:
    import mlflow
    import pandas as pd

    mlflow.set_tracking_uri(f"sqlite:///{repo / '.reconciler' / 'mlflow.db'}")
    model = mlflow.pyfunc.load_model("models:/iris-classifier@production")
    return each_timed(model.predict, [pd.DataFrame([row], columns=columns) for row in rows])


def each_timed(fn: Callable[[Any], Any], inputs: list[Any]) -> list[float]:
    """Seconds of each call, after one call to warm up."""
    fn(inputs[0])
    out = []
    for item in inputs:
        start = time.perf_counter()
        fn(item)
        out.append(time.perf_counter() - start)
    return out


def raw_predict(repo: Path, rows: list[list[float]]) -> list[float]:
    """The model's own predict on one-row arrays: what is left when nothing checks the input."""
    import warnings

    import numpy as np

    from reconciler.state.mlflow_store import MlflowStore

    warnings.filterwarnings("ignore", message="X does not have valid feature names")
    estimator = MlflowStore.for_repo(repo).load_model("iris-classifier", "1")
    return each_timed(estimator.predict, [np.asarray([row]) for row in rows])


def served(port: int, rows: list[list[float]]) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    out = []
    for row in [rows[0], *rows]:
        body = json.dumps({"inputs": [row]})
        start = time.perf_counter()
        conn.request("POST", "/v1/production/iris-classifier/invocations", body=body)
        response = conn.getresponse()
        response.read()
        out.append(time.perf_counter() - start)
        assert response.status == 200
    return out[1:]


def throughput(port: int, rows: list[list[float]], clients: int, seconds: float) -> float:
    counts = [0] * clients
    stop = time.monotonic() + seconds

    def client(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port)
        n = 0
        while time.monotonic() < stop:
            conn.request(
                "POST", "/v1/production/iris-classifier/invocations", body=json.dumps({"inputs": [rows[n % len(rows)]]})
            )
            response = conn.getresponse()
            response.read()
            n += 1
        counts[i] = n

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / seconds


def metrics_cost(n: int = 20_000) -> float:
    """Seconds per request of the metric updates a request makes."""
    from reconciler.serve.metrics import new_metrics

    m = new_metrics()
    labels = ("production", "iris-classifier", "1")
    start = time.perf_counter()
    for _ in range(n):
        m.requests.labels(*labels).inc()
        m.latency.labels(*labels).observe(0.001)
        m.rows.labels(*labels).inc(1)
        m.cpu_seconds.labels(*labels).inc(0.0005)
    return (time.perf_counter() - start) / n


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True).frame.drop(columns="target")
    columns = list(iris.columns)
    rows = [iris.iloc[i % len(iris)].tolist() for i in range(args.requests)]
    with tempfile.TemporaryDirectory() as tmp:
        repo = committed_repo(Path(tmp) / "repo", SPECS)
        env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
        subprocess.run([PY, "-m", "reconciler", "apply", str(repo)], check=True, capture_output=True, env=env)
        local = in_process(repo, rows, columns)
        raw = raw_predict(repo, rows)
        with serving(repo) as server, serving(repo, "--no-request-log") as bare:
            remote = served(server.port, rows)
            # Interleaved rounds, medians: one long run each would measure the machine's drift.
            rounds = [
                (
                    throughput(server.port, rows, args.clients, args.seconds / 3),
                    throughput(bare.port, rows, args.clients, args.seconds / 3),
                )
                for _ in range(3)
            ]
            with_log = statistics.median(r[0] for r in rounds)
            without_log = statistics.median(r[1] for r in rounds)
            logged = server.metric("reconciler_request_log_rows_total")
    per_metric = metrics_cost()
    p50 = statistics.median(remote) - statistics.median(local)
    p99 = percentile(remote, 0.99) - percentile(local, 0.99)
    log_cost = 1 - with_log / without_log
    request_time = 1 / without_log * args.clients
    lines = [
        "# serving benchmark",
        "",
        f"One-row requests to iris-classifier@production ({args.requests} sequential on one kept-alive "
        f"connection; throughput: {args.clients} client threads, median of 3 interleaved rounds of "
        f"{args.seconds / 3:g} s per server; {os.cpu_count()} cores)",
        "",
        f"| {'measure':<48} | {'value':>12} | {'target':>12} |",
        f"|{'-' * 50}|{'-' * 14}|{'-' * 14}|",
        f"| {'in-process pyfunc predict, p50 / p99 (ms)':<48} | "
        f"{statistics.median(local) * 1e3:>5.2f} / {percentile(local, 0.99) * 1e3:<5.2f}|{'':>14}|",
        f"| {'in-process estimator.predict on an array (ms)':<48} | "
        f"{statistics.median(raw) * 1e3:>5.2f} / {percentile(raw, 0.99) * 1e3:<5.2f}|{'':>14}|",
        f"| {'served request, p50 / p99 (ms)':<48} | "
        f"{statistics.median(remote) * 1e3:>5.2f} / {percentile(remote, 0.99) * 1e3:<5.2f}|{'':>14}|",
        f"| {'serving overhead, p50 (ms)':<48} | {p50 * 1e3:>12.2f} | {'<= 2':>12} |",
        f"| {'serving overhead, p99 (ms)':<48} | {p99 * 1e3:>12.2f} | {'':>12} |",
        f"| {'throughput with the request log (req/s)':<48} | {with_log:>12.0f} | {'':>12} |",
        f"| {'throughput without the request log (req/s)':<48} | {without_log:>12.0f} | {'':>12} |",
        f"| {'request log cost (share of throughput)':<48} | {log_cost:>12.1%} | {'<= 10%':>12} |",
        f"| {'metric updates per request (us)':<48} | {per_metric * 1e6:>12.1f} | {'':>12} |",
        f"| {'metric updates (share of a request)':<48} | {per_metric / request_time:>12.1%} | {'<= 10%':>12} |",
        f"| {'rows written to the request log':<48} | {logged:>12.0f} | {'':>12} |",
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
