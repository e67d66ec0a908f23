"""Monitoring: the size of the reference profile a version records, and `reconciler monitor` on
a large batch, beside the floor of loading the model and predicting on the same batch.

    python bench/monitor_bench.py [--rows 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.repos import committed_repo

PY = sys.executable

SPECS = {
    "specs/data.yaml": "kind: Dataset\nname: cancer\nsource: {sklearn: load_breast_cancer}\ntarget: target\n"
    "split: {test_size: 0.3, seed: 1, stratify: true}\n",
    "specs/model.yaml": "kind: Model\nname: cancer\ndataset: cancer\nestimator:\n"
    "  class: sklearn.ensemble.RandomForestClassifier\n  params: {n_estimators: 50, max_depth: 6}\n"
    "metrics: [accuracy]\n",
    "specs/gate.yaml": "kind: Gate\nname: g\nrules:\n  - {metric: accuracy, min: 0.8}\n",
    "environments/production.yaml": "kind: Environment\nname: production\nmodels:\n  cancer: {gates: [g]}\n",
    ".gitignore": ".reconciler/\n",
}

FLOOR = """
import sys, pandas as pd, mlflow.sklearn
mlflow.set_tracking_uri(sys.argv[1])
model = mlflow.sklearn.load_model("models:/cancer@production")
batch = pd.read_csv(sys.argv[2])
model.predict(batch[[c for c in batch.columns if c != "target"]])
"""


def timed(cmd: list[str], env: dict[str, str], expect: tuple[int, ...] = (0,)) -> float:
    start = time.perf_counter()
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode not in expect:
        raise SystemExit(f"{cmd} exited {result.returncode}:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    with tempfile.TemporaryDirectory() as tmp:
        repo = committed_repo(Path(tmp) / "repo", SPECS)
        timed([PY, "-m", "reconciler", "apply", str(repo)], env)

        import numpy as np
        from sklearn.datasets import load_breast_cancer

        data = load_breast_cancer(as_frame=True).frame
        rng = np.random.default_rng(0)
        batch = data.sample(n=args.rows, replace=True, random_state=0).reset_index(drop=True)
        features = [c for c in batch.columns if c != "target"]
        noise = rng.normal(0, 0.01, size=(args.rows, len(features))) * batch[features].std().to_numpy()
        batch[features] = batch[features].to_numpy() + noise
        path = Path(tmp) / "batch.csv"
        batch.to_csv(path, index=False)

        uri = f"sqlite:///{repo / '.reconciler' / 'mlflow.db'}"
        from mlflow import MlflowClient

        client = MlflowClient(uri, uri)
        version = client.get_model_version_by_alias("cancer", "production")
        profile = client.download_artifacts(version.run_id, "reconciler/profile.json", tmp)
        size = Path(profile).stat().st_size
        features_profiled = len(json.loads(Path(profile).read_text())["features"])

        cmd = [PY, "-m", "reconciler", "monitor", str(repo), "--env", "production", "--model", "cancer"]
        cmd += ["--data", str(path), "--labels", "target", "--report-dir", str(Path(tmp) / "reports")]
        monitor = statistics.median(timed(cmd, env, (0, 1)) for _ in range(args.repeat))
        floor = statistics.median(timed([PY, "-c", FLOOR, uri, str(path)], env) for _ in range(args.repeat))
    print(f"# monitoring benchmark ({args.rows} rows x {len(features)} features, median of {args.repeat})")
    print(f"{'work':<58} {'value':>10}")
    print(f"{'reference profile, breast_cancer (' + str(features_profiled) + ' features)':<58} {size / 1024:>8.1f} KB")
    print(f"{'reconciler monitor --labels (logged to MLflow, HTML+PNG)':<58} {monitor:>8.2f} s")
    print(f"{'floor: load the model from MLflow, read the CSV, predict':<58} {floor:>8.2f} s")
    print(f"monitor / floor: {monitor / floor:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
