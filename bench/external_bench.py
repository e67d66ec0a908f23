"""Data kept outside git: what an S3-pinned source costs beside a plain script doing the same
work, against a real S3-compatible server on 127.0.0.1 (moto), and what recording the splits as
MLflow dataset inputs costs beside MLflow's own `log_input(from_pandas(frame))`.

    python bench/external_bench.py [--rows 200000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.s3_server import S3Server


def timed(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def frame(rows: int) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    return pd.DataFrame({f"f{i}": rng.normal(size=rows) for i in range(8)} | {"y": rng.integers(0, 3, rows)})


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import boto3
    import pandas as pd

    from reconciler.sources.s3_object import S3Object, UriSource

    data = frame(args.rows)
    body = data.to_csv(index=False).encode()
    rows: list[tuple[str, float, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = S3Server(root / "s3")
        server.start()
        try:
            os.environ.update(server.env)
            client = boto3.client("s3")
            client.create_bucket(Bucket="bench")
            client.put_bucket_versioning(Bucket="bench", VersioningConfiguration={"Status": "Enabled"})
            version = client.put_object(Bucket="bench", Key="data.csv", Body=body)["VersionId"]
            source = UriSource(uri="s3://bench/data.csv", version_id=version)
            kind = S3Object()
            repin = kind.repin(source, root / "pin", version)  # downloads once, hashes: the pin
            pinned = repin.source

            def plain() -> Any:
                got = client.get_object(Bucket="bench", Key="data.csv", VersionId=version)
                return pd.read_csv(io.BytesIO(got["Body"].read()))

            counter = iter(range(10**6))

            def cold() -> Any:  # a fresh cache each time: download, verify sha256, parse
                return kind.load(pinned, root / f"cold-{next(counter)}")

            rows.append(("plain boto3 get_object + pandas.read_csv", timed(plain, args.repeat), "baseline"))
            rows.append(("S3 source, first load (download, sha256, parse)", timed(cold, args.repeat), ""))
            kind.load(pinned, root / "warm")
            warm = timed(lambda: kind.load(pinned, root / "warm"), args.repeat)
            rows.append(("S3 source, pinned copy cached", warm, ""))
            rows.append(
                (
                    "plan: content hash of the pin (no network)",
                    timed(lambda: kind.content_hash(pinned, root, lambda p: ""), args.repeat * 100),
                    "",
                )
            )
        finally:
            server.stop()
        rows += inputs_cost(root, data, args.repeat)
    size = len(body) / 1024 / 1024
    print(f"# data outside git ({args.rows:,} rows, {size:.1f} MB CSV in a versioned bucket; median of {args.repeat})")
    print(f"{'work':<58} {'seconds':>9}  vs")
    base = rows[0][1]
    for name, seconds, note in rows[:3]:
        print(f"{name:<58} {seconds:>9.4f}  {note or f'{seconds / base:.2f}x'}")
    print(f"{rows[3][0]:<58} {rows[3][1]:>9.6f}")
    base = rows[4][1]
    for name, seconds, note in rows[4:]:
        print(f"{name:<58} {seconds:>9.4f}  {note or f'{seconds / base:.2f}x'}")
    return 0


def inputs_cost(root: Path, data: Any, repeat: int) -> list[tuple[str, float, str]]:
    """Two dataset inputs (train, test) on one run: MLflow's own way hashes the frames; ours
    passes the content hash the plan already has and the row counts."""
    import mlflow
    from mlflow.data.pandas_dataset import from_pandas

    from reconciler.state.dataset_inputs import EVALUATION, TRAINING, DataInput, entities

    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    client = mlflow.MlflowClient()
    train, test = data.iloc[: len(data) * 3 // 4], data.iloc[len(data) * 3 // 4 :]
    counter = iter(range(10**6))

    def plain() -> None:
        with mlflow.start_run():
            mlflow.log_input(from_pandas(train, targets="y", name=f"d{next(counter)} (train)"), context=TRAINING)
            mlflow.log_input(from_pandas(test, targets="y", name=f"d{next(counter)} (test)"), context=EVALUATION)

    def ours() -> None:
        n = next(counter)
        uri = "s3://bench/data.csv?versionId=v"
        inputs = [
            DataInput(f"d{n} ({part})", ctx, f"{n:064x}", uri, "version_id v", "y", data.head(0), len(x))
            for part, ctx, x in (("train", TRAINING, train), ("test", EVALUATION, test))
        ]
        with mlflow.start_run() as run:
            client.log_inputs(run.info.run_id, datasets=entities(inputs))

    plain()  # the store's schema and first connection, outside the timings
    return [
        ("MLflow log_input(from_pandas(frame)) x2", timed(plain, repeat), "baseline"),
        ("reconciler dataset inputs x2 (digest given, counts)", timed(ours, repeat), ""),
    ]


if __name__ == "__main__":
    raise SystemExit(main())
