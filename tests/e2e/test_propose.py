"""The feedback loop for real: a git repository with a bare remote, the SQLite registry,
`reconciler serve` on 127.0.0.1 answering drifted traffic, labels by request id, and `gh`
replaced by the recorder. Drift opens exactly one pull request whose only change is the
Dataset spec (comments intact) and the snapshot; a second run opens nothing; merging retrains
and starts a canary; reverting rolls back with no training and the snapshot is not proposed
again; no drift, no pull request; a snapshot failing the contract, no pull request and the
reason in the workflow summary."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn import datasets

from reconciler.cli import main
from tests.conftest import git_commit_all
from tests.e2e.conftest import IRIS_MODEL
from tests.e2e.serve_helpers import serving
from tests.github.harness import install_gh

MODEL, ENV = "iris-classifier", "production"
IRIS = datasets.load_iris(as_frame=True).frame
COLUMNS = [c for c in IRIS.columns if c != "target"]
SPECS = {
    "specs/datasets/iris.yaml": """# Iris measurements; served traffic joins as snapshots (`reconciler propose`).
kind: Dataset
name: iris
source: {sklearn: load_iris}   # bundled with scikit-learn
target: target
split: {test_size: 0.3, seed: 7, stratify: true}
checks: CHECKS
snapshot_window: 1   # once served traffic is pinned, train on the latest snapshot alone
""",
    "specs/models/iris-classifier.yaml": IRIS_MODEL,
    "specs/gates/quality.yaml": "kind: Gate\nname: quality\nrules:\n  - {metric: accuracy, min: 0.7}\n",
    "environments/production.yaml": """kind: Environment
name: production
rollout:
  strategy: canary
  steps: [{weight: 10}, {pause: 1h}]
  analysis: {interval: 1m, metrics: [{metric: error_rate, max: 0.01}]}
models:
  iris-classifier: {gates: [quality]}
""",
    ".gitignore": ".reconciler/\n",
}


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def make_repo(root: Path, monkeypatch: pytest.MonkeyPatch, checks: str = "{min_rows: 50}") -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(root / "cache"))
    remote = root / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    repo = root / "repo"
    for rel, text in SPECS.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text.replace("CHECKS", checks))
    git_commit_all(repo, "specs")
    git(repo, "branch", "-M", "main")
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main")
    assert main(["apply", str(repo), "--jobs", "1"]) == 0
    for key, value in install_gh(root / "bin", root / "github").items():
        monkeypatch.setenv(key, value)
    return repo


def send(repo: Path, count: int, shift: float, seed: int) -> Path:
    """`count` one-row requests to the served model, petal length shifted by `shift` standard
    deviations; returns the labels that came back (all but every fifth)."""
    rng = random.Random(seed)
    std = float(IRIS["petal length (cm)"].std())
    labels = []
    with serving(repo, "--env", ENV) as server:
        conn = server.connection()
        for i in range(count):
            row = IRIS.iloc[rng.randrange(len(IRIS))]
            record = {c: float(row[c]) + (shift * std if c == "petal length (cm)" else 0.0) for c in COLUMNS}
            request_id = f"r{seed}-{i}"
            conn.request(
                "POST",
                f"/v1/{ENV}/{MODEL}/invocations",
                json.dumps({"dataframe_records": [record]}),
                {"Content-Type": "application/json", "X-Request-Id": request_id},
            )
            response = conn.getresponse()
            assert response.status == 200, response.read()
            response.read()
            if i % 5:
                labels.append({"request_id": request_id, "label": int(row["target"])})
    path = repo.parent / f"labels-{seed}.csv"
    pd.DataFrame(labels).to_csv(path, index=False)
    return path


def propose(repo: Path, labels: Path) -> int:
    return main(
        ["propose", "--repo", str(repo), "--env", ENV, "--model", MODEL, "--since", "1h", "--labels-from", str(labels)]
    )


def gh_calls(root: Path) -> list[list[str]]:
    calls = root / "github" / "calls.jsonl"
    out = [json.loads(line)["args"] for line in calls.read_text().splitlines()] if calls.exists() else []
    calls.unlink(missing_ok=True)
    return out


def prs(root: Path) -> list[dict[str, Any]]:
    path = root / "github" / "prs.json"
    return json.loads(path.read_text()) if path.exists() else []


def aliases(repo: Path) -> dict[str, str]:
    from mlflow import MlflowClient

    uri = f"sqlite:///{repo / '.reconciler' / 'mlflow.db'}"
    rm = MlflowClient(tracking_uri=uri, registry_uri=uri).get_registered_model(MODEL)
    return {a: str(v) for a, v in rm.aliases.items()}


def test_drift_opens_one_pull_request_that_retrains_and_a_revert_is_never_proposed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo(tmp_path, monkeypatch)
    labels = send(repo, 300, shift=1.0, seed=1)
    assert main(["monitor", "--repo", str(repo), "--env", ENV, "--since", "1h", "--no-log"]) == 1, "monitor flags it"
    capsys.readouterr()

    assert propose(repo, labels) == 0
    out = capsys.readouterr().out
    assert "drifted" in out and "opened https://github.com/example/models/pull/1" in out, out
    calls = gh_calls(tmp_path)
    assert [c[:2] for c in calls] == [["pr", "list"], ["pr", "create"]]
    (pr,) = prs(tmp_path)
    assert pr["headRefName"] == "reconciler/refresh-iris" and pr["baseRefName"] == "main"
    assert "### Drift" in pr["body"] and "petal length (cm)" in pr["body"] and "### Plan" in pr["body"]
    assert "data contract of `iris`: **passed**" in pr["body"] and "train" in pr["body"]
    git(repo, "fetch", "-q", "origin")
    changed = git(repo, "diff", "--name-only", "origin/main", "origin/reconciler/refresh-iris").splitlines()
    assert changed[0] == "data/snapshots/" + changed[0].split("/")[-1] and changed[1:] == ["specs/datasets/iris.yaml"]
    spec_diff = git(
        repo, "diff", "-U0", "origin/main", "origin/reconciler/refresh-iris", "--", "specs/datasets/iris.yaml"
    )
    assert [line for line in spec_diff.splitlines() if line.startswith("-") and not line.startswith("---")] == []
    proposed_spec = git(repo, "show", "origin/reconciler/refresh-iris:specs/datasets/iris.yaml")
    assert "# bundled with scikit-learn" in proposed_spec and proposed_spec.startswith("# Iris measurements;")
    assert git(repo, "status", "--porcelain") == "", "the checkout propose ran in is untouched"

    branch_head = git(repo, "rev-parse", "origin/reconciler/refresh-iris")
    assert propose(repo, labels) == 0
    assert "is up to date" in capsys.readouterr().out
    assert [c[:2] for c in gh_calls(tmp_path)] == [["pr", "list"], ["pr", "edit"]], "nothing new is opened"
    git(repo, "fetch", "-q", "origin")
    assert git(repo, "rev-parse", "origin/reconciler/refresh-iris") == branch_head and len(prs(tmp_path)) == 1

    git(repo, "merge", "-q", "--no-ff", "-m", "Merge pull request #1", "origin/reconciler/refresh-iris")
    merge = git(repo, "rev-parse", "HEAD")
    assert main(["apply", str(repo), "--jobs", "1"]) == 0
    assert aliases(repo) == {ENV: "1", f"{ENV}-candidate": "2"}, "retrained, gated, and a canary started"
    drift_after = _psi_against(repo, "2", labels)
    drift_before = _psi_against(repo, "1", labels)
    assert drift_after < 0.2 < drift_before, (drift_before, drift_after)

    git(repo, "revert", "--no-edit", "-m", "1", merge)
    capsys.readouterr()
    assert main(["apply", str(repo), "--jobs", "1"]) == 0
    assert "0 trained" in capsys.readouterr().out
    assert aliases(repo) == {ENV: "1"}
    git(repo, "push", "-q", "origin", "main")
    assert propose(repo, labels) == 0
    out = capsys.readouterr().out
    assert "was pinned and reverted on origin/main" in out and "not proposed again" in out, out
    assert gh_calls(tmp_path) == [] and len(prs(tmp_path)) == 1
    reverted_sha = changed[0].split("-")[-1].removesuffix(".parquet")

    newer = send(repo, 300, shift=1.0, seed=4)  # more traffic, still drifted: a new snapshot
    assert propose(repo, newer) == 0
    assert "pull request #1 updated" in capsys.readouterr().out
    assert [c[:2] for c in gh_calls(tmp_path)] == [["pr", "list"], ["pr", "edit"]], "the same pull request"
    (pr,) = prs(tmp_path)
    assert "Not proposed again" in pr["body"] and reverted_sha in pr["body"], pr["body"]


def _psi_against(repo: Path, version: str, labels: Path) -> float:
    """PSI of petal length in the served traffic against what `version` was trained on."""
    from datetime import datetime, timedelta, timezone

    from reconciler.monitor.drift import column_drift
    from reconciler.monitor.request_log import answered, read_window
    from reconciler.state.mlflow_store import MlflowStore

    store = MlflowStore.for_repo(repo)
    profile = store.load_profile(store.read().models[MODEL].versions[version])
    served = answered(read_window(repo / ".reconciler", ENV, MODEL, datetime.now(timezone.utc) - timedelta(hours=1)))
    column = "petal length (cm)"
    return column_drift(column, profile["features"][column], served[column], 0.2, 0.01).psi


def test_no_drift_no_pull_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo(tmp_path, monkeypatch)
    labels = send(repo, 200, shift=0.0, seed=2)
    capsys.readouterr()
    assert propose(repo, labels) == 0
    assert "no drift" in capsys.readouterr().out
    assert gh_calls(tmp_path) == [] and prs(tmp_path) == []

    # A spec that asks for a refresh on every scheduled run gets one without drift.
    spec = repo / "specs" / "models" / "iris-classifier.yaml"
    spec.write_text(spec.read_text() + "monitoring:\n  feedback: {labels_env: RECONCILER_BATCH_LABELS, when: always}\n")
    git_commit_all(repo, "iris: refresh on every run")
    git(repo, "push", "-q", "origin", "main")
    monkeypatch.setenv("RECONCILER_BATCH_LABELS", str(labels))
    assert main(["propose", "--repo", str(repo), "--since", "1h"]) == 0
    assert "a scheduled refresh" in capsys.readouterr().out
    (pr,) = prs(tmp_path)
    assert pr["body"].startswith(f"## Retrain `{MODEL}`") and "A scheduled refresh of" in pr["body"]


def test_a_snapshot_failing_the_contract_opens_nothing_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Measurements as the source has them (petal length up to 6.9 cm); the drifted traffic is not.
    repo = make_repo(tmp_path, monkeypatch, "{columns: {petal length (cm): {max: 7.5}}}")
    labels = send(repo, 150, shift=1.5, seed=3)
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "outputs"))
    capsys.readouterr()
    assert propose(repo, labels) == 1
    assert gh_calls(tmp_path) == [] and prs(tmp_path) == []
    assert "column 'petal length (cm)' has maximum" in summary.read_text(), summary.read_text()
    assert "proposed=false" in (tmp_path / "outputs").read_text()


def test_propose_refuses_names_git_would_take_as_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo(tmp_path, monkeypatch)
    for flag in ("--base", "--remote"):
        with pytest.raises(SystemExit) as usage:
            main(["propose", "--repo", str(repo), flag, "--upload-pack=touch /tmp/x"])
        assert usage.value.code == 2
        assert "expected a branch or remote name" in capsys.readouterr().err
    assert main(["propose", "--repo", str(repo), "--model", MODEL]) == 1
    assert "--model needs --env" in capsys.readouterr().err
    assert main(["propose", "--repo", str(repo)]) == 0
    assert "no deployed model's monitoring declares feedback" in capsys.readouterr().out
