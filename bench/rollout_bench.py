"""Rollouts: what a canary under way adds per request (choosing the version, recording both
sides for the analysis), and what one analysis run costs on a full window.

    python -m bench.rollout_bench [--requests 2000]

Baseline: the same server code serving the same model with no rollout, in a second repository,
requests interleaved between the two servers in rounds so the machine's drift hits both alike.
Rollout: a canary held at weight 50 (its pause is an hour, its analysis interval an hour, so
nothing moves while measuring). The analysis: `analyse` on a window of 20,000 observations per
side with every metric on, against a training profile.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.repos import committed_repo
from bench.serve_bench import SPECS, percentile, served
from tests.e2e.serve_helpers import serving

PY = sys.executable
ROLLOUT = """rollout:
  strategy: canary
  steps: [{weight: 50}, {pause: 1h}]
  analysis:
    interval: 1h
    min_requests: 1000000
    metrics:
      - {metric: error_rate, max: 0.01}
      - {metric: latency_p95, max: 100}
      - {metric: prediction_drift, max: 0.2}
      - {metric: input_drift, max: 0.25}
"""


def apply(repo: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    subprocess.run([PY, "-m", "reconciler", "apply", str(repo)], check=True, capture_output=True, env=env)


def rolling_repo(root: Path) -> Path:
    specs = dict(SPECS)
    specs["environments/production.yaml"] = specs["environments/production.yaml"].replace(
        "models:", ROLLOUT + "models:"
    )
    repo = committed_repo(root, specs)
    apply(repo)
    model = repo / "specs" / "model.yaml"
    model.write_text(model.read_text().replace("C: 1.0", "C: 0.5"))
    subprocess.run(["git", "-C", str(repo), "commit", "-qam", "C 0.5"], check=True)
    apply(repo)
    return repo


def analysis_cost(repo: Path, n: int = 20_000) -> float:
    import random

    from reconciler.rollout.analysis import Observations, analyse
    from reconciler.spec.rollout import Rollout
    from reconciler.state.mlflow_store import MlflowStore

    store = MlflowStore.for_repo(repo)
    rm = store.read().models["iris-classifier"]
    profile = store.load_profile(rm.versions["2"])
    metrics = [
        {"metric": "error_rate", "max": 0.01},
        {"metric": "latency_p95", "max": 100},
        {"metric": "prediction_drift", "max": 0.2},
        {"metric": "input_drift", "max": 0.25},
    ]
    spec = Rollout.model_validate(
        {"strategy": "canary", "steps": [{"weight": 50}], "analysis": {"min_requests": 1, "metrics": metrics}}
    )
    rng = random.Random(0)
    seen = Observations()
    columns = list(profile["features"])
    for side in (seen.candidate, seen.champion):
        side.requests = n
        side.latencies_ms.extend(rng.uniform(1, 3) for _ in range(n))
        side.predictions.extend(rng.choice([0, 1, 2]) for _ in range(n))
    seen.candidate.rows.extend({c: rng.uniform(0, 8) for c in columns} for _ in range(n))
    assert spec.analysis is not None
    start = time.perf_counter()
    analyse(spec.analysis, seen.copy(), profile)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True).frame.drop(columns="target")
    rows = [iris.iloc[i % len(iris)].tolist() for i in range(args.requests)]
    with tempfile.TemporaryDirectory() as tmp:
        plain = committed_repo(Path(tmp) / "plain", SPECS)
        apply(plain)
        rolling = rolling_repo(Path(tmp) / "rolling")
        with (
            serving(plain, "--no-request-log") as base,
            serving(rolling, "--no-request-log", "--poll", "0.2") as canary,
        ):
            deadline = time.monotonic() + 30
            while not (canary.get_json("/v1/status")["models"][0].get("rollout") or {}).get("loaded"):
                assert time.monotonic() < deadline, "the server did not load the candidate"
                time.sleep(0.1)
            plain_times: list[float] = []
            rollout_times: list[float] = []
            third = len(rows) // 3
            for i in range(3):
                chunk = rows[i * third : (i + 1) * third]
                plain_times += served(base.port, chunk)
                rollout_times += served(canary.port, chunk)
            to_candidate = canary.metric("reconciler_requests_total", version="2")
            answered = canary.metric("reconciler_requests_total")
        cost = analysis_cost(rolling)
    p50 = statistics.median(rollout_times) - statistics.median(plain_times)
    p99 = percentile(rollout_times, 0.99) - percentile(plain_times, 0.99)
    lines = [
        "# rollout benchmark",
        "",
        f"One-row requests to iris-classifier@production, {len(plain_times)} per server, in 3 interleaved rounds "
        f"on kept-alive connections; {os.cpu_count()} cores",
        "",
        f"| {'measure':<52} | {'value':>12} |",
        f"|{'-' * 54}|{'-' * 14}|",
        f"| {'no rollout: request p50 / p99 (ms)':<52} | "
        f"{statistics.median(plain_times) * 1e3:>5.2f} / {percentile(plain_times, 0.99) * 1e3:<5.2f}|",
        f"| {'canary at weight 50: request p50 / p99 (ms)':<52} | "
        f"{statistics.median(rollout_times) * 1e3:>5.2f} / {percentile(rollout_times, 0.99) * 1e3:<5.2f}|",
        f"| {'rollout overhead, p50 (ms)':<52} | {p50 * 1e3:>12.3f} |",
        f"| {'rollout overhead, p99 (ms)':<52} | {p99 * 1e3:>12.3f} |",
        f"| {'share answered by the candidate':<52} | {to_candidate / answered:>12.1%} |",
        f"| {'one analysis run, 20,000 observations a side (ms)':<52} | {cost * 1e3:>12.1f} |",
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
