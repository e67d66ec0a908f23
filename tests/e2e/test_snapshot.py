"""Snapshots of served traffic as Dataset rows, for real: a git repository, the SQLite registry,
the request log as servers write it. A pinned snapshot changes the fingerprint once, retrains
on the source's rows plus the snapshot's, and nothing after; a snapshot edited after pinning
blocks training; one failing the Dataset's contract is never pinned."""

from __future__ import annotations

import random
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from sklearn import datasets

from reconciler.cli import main
from reconciler.monitor.request_log import Entry, FileSink, RequestLog
from tests.conftest import git_commit_all
from tests.e2e.conftest import IRIS_MODEL

MODEL, ENV = "iris-classifier", "production"
IRIS = datasets.load_iris(as_frame=True).frame
COLUMNS = [c for c in IRIS.columns if c != "target"]
DATASET = """# The iris measurements; served traffic is added below as snapshots.
kind: Dataset
name: iris
source: {sklearn: load_iris}   # bundled with scikit-learn
target: target
split: {test_size: 0.3, seed: 7, stratify: true}
checks:
  min_rows: MIN_ROWS  # per load: the source, or one snapshot checked alone
"""
SPECS = {
    "specs/models/iris-classifier.yaml": IRIS_MODEL,
    "specs/gates/quality.yaml": "kind: Gate\nname: quality\nrules:\n  - {metric: accuracy, min: 0.8}\n",
    "environments/production.yaml": (
        "kind: Environment\nname: production\nmodels:\n  iris-classifier: {gates: [quality]}\n"
    ),
    ".gitignore": ".reconciler/\n",
}


def make_repo(root: Path, monkeypatch: pytest.MonkeyPatch, min_rows: int = 50) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(root / "cache"))
    repo = root / "repo"
    files = {**SPECS, "specs/datasets/iris.yaml": DATASET.replace("MIN_ROWS", str(min_rows))}
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    git_commit_all(repo, "specs")
    assert main(["apply", str(repo), "--jobs", "1"]) == 0
    return repo


def serve_traffic(repo: Path, count: int, seed: int, shift: float = 1.0) -> Path:
    """What `reconciler serve` logs for `count` one-row requests whose petal length drifted by
    `shift` standard deviations, and the labels that came back later (a CSV by request id)."""
    rng = random.Random(seed)
    log = RequestLog(FileSink(repo / ".reconciler"))
    std = float(IRIS["petal length (cm)"].std())
    labels = []
    for i in range(count):
        row = IRIS.iloc[rng.randrange(len(IRIS))]
        values = [float(row[c]) + (shift * std if c == "petal length (cm)" else 0.0) for c in COLUMNS]
        request_id = f"req-{seed}-{i}"
        log.append(Entry(ENV, MODEL, request_id, time.time(), "1", 2.0, tuple(COLUMNS), [values], [int(row["target"])]))
        if i % 4:  # a quarter of the labels have not arrived
            labels.append({"request_id": request_id, "label": int(row["target"])})
    log.close()
    path = repo.parent / f"labels-{seed}.csv"
    pd.DataFrame(labels).to_csv(path, index=False)
    return path


def snapshot(repo: Path, labels: Path, *extra: str) -> int:
    return main(
        [
            "snapshot",
            "--repo",
            str(repo),
            "--env",
            ENV,
            "--model",
            MODEL,
            "--since",
            "1h",
            "--labels-from",
            str(labels),
            *extra,
        ]
    )


def test_a_pinned_snapshot_retrains_once_on_the_source_and_the_served_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo(tmp_path, monkeypatch)
    labels = serve_traffic(repo, 200, seed=1)
    capsys.readouterr()
    assert snapshot(repo, labels, "--pin") == 0
    out = capsys.readouterr().out
    assert "150 labelled rows of 200 served" in out and "data contract of 'iris' passed" in out, out
    assert "pinned in specs/datasets/iris.yaml" in out
    diff = subprocess.run(["git", "-C", str(repo), "diff", "-U0"], capture_output=True, text=True).stdout
    added = [line for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    removed = [line for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    assert removed == [] and len(added) == 2 and added[0] == "+snapshots:", diff
    spec = (repo / "specs/datasets/iris.yaml").read_text()
    assert "# bundled with scikit-learn" in spec and spec.startswith("# The iris measurements")
    files = sorted((repo / "data/snapshots").glob("iris-*.parquet"))
    assert len(files) == 1 and files[0].name in added[1]
    rows = pd.read_parquet(files[0])
    assert list(rows.columns) == [*COLUMNS, "target"] and len(rows) == 150

    capsys.readouterr()
    assert snapshot(repo, labels, "--pin") == 0, "the same rows again"
    again = capsys.readouterr().out
    assert "already had" in again and "already pinned" in again

    assert main(["validate", str(repo)]) == 0
    git_commit_all(repo, "iris: train on served traffic")
    capsys.readouterr()
    assert main(["plan", str(repo), "--detailed-exitcode"]) == 2
    assert "train" in capsys.readouterr().out
    assert main(["apply", str(repo), "--jobs", "1"]) == 0
    from reconciler.state.mlflow_store import MlflowStore

    store = MlflowStore.for_repo(repo)
    rm = store.read().models[MODEL]
    assert rm.aliases[ENV] == "2"
    trained_on = [store.load_profile(rm.versions[v])["features"]["sepal length (cm)"]["count"] for v in ("1", "2")]
    assert trained_on == [105, 210], "70% of the source's 150 rows, then of those plus the snapshot's 150"
    assert main(["plan", str(repo), "--detailed-exitcode"]) == 0, "nothing moves until the pinned list changes"

    with open(files[0], "ab") as fh:
        fh.write(b"\0")
    capsys.readouterr()
    assert main(["plan", str(repo)]) == 1
    blocked = capsys.readouterr().out
    assert "no longer matches its pin" in blocked, blocked


def test_a_snapshot_failing_the_contract_is_not_pinned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo(tmp_path, monkeypatch, min_rows=100)
    labels = serve_traffic(repo, 40, seed=2)
    capsys.readouterr()
    assert snapshot(repo, labels, "--pin") == 1
    out = capsys.readouterr().out
    assert "30 rows, fewer than min_rows 100" in out, out
    assert "snapshots:" not in (repo / "specs/datasets/iris.yaml").read_text()


def test_snapshot_inputs_are_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo(tmp_path, monkeypatch)
    labels = serve_traffic(repo, 10, seed=3)
    bad = repo.parent / "bad-labels.csv"
    bad.write_text("id,label\nx,1\n")
    capsys.readouterr()
    assert snapshot(repo, bad) == 1
    assert "the labels need the columns request_id and label" in capsys.readouterr().err
    assert (
        main(
            [
                "snapshot",
                "--repo",
                str(repo),
                "--env",
                "staging",
                "--model",
                MODEL,
                "--since",
                "1h",
                "--labels-from",
                str(labels),
            ]
        )
        == 1
    )
    assert "no environment 'staging'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        snapshot(repo, labels, "--dir", "../outside")
    assert usage.value.code == 2
    assert "leaves the repository" in capsys.readouterr().err
    empty = repo.parent / "none.csv"
    empty.write_text("request_id,label\n")
    assert snapshot(repo, empty) == 2
    assert "no labelled row to snapshot" in capsys.readouterr().err
