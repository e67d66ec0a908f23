"""Crash-resume: SIGKILL `reconciler apply` at many points, rerun, and require the end state
of an uninterrupted apply: no fingerprint twice, no alias on a version that failed its gates,
the ledger whole. A sample by default; every point with --chaos-full."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli import main
from reconciler.state.invariants import violations
from reconciler.state.mlflow_store import MlflowStore
from tests.conftest import ROOT
from tests.e2e.conftest import SMALL_SPECS, Repo, make_repo
from tests.e2e.server import PostgresServer

SAMPLE = [
    "lock:after-acquire",
    "store:after-run-end",
    "store:after-register",
    "evaluate:after-verdict",
    "promote:after-alias",
    "apply:between-actions#9",
]
FULL = [
    "lock:after-acquire",
    "train:before-fit",
    "train:after-fit",
    "store:after-run-start",
    "store:after-log-model",
    "store:after-run-end",
    "store:after-register",
    "train:after-register",
    "evaluate:before-verdict",
    "evaluate:after-verdict",
    "promote:before-alias",
    "promote:after-alias",
    "promote:after-ledger",
    "train:before-fit#2",
    "store:after-register#2",
    "promote:after-alias#2",
    "evaluate:after-verdict#3",
    "promote:after-alias#4",
    "apply:between-actions#5",
    "apply:between-actions#9",
    "apply:between-actions#13",
    "promote:after-ledger#6",
]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "kill_point" in metafunc.fixturenames:
        points = FULL if metafunc.config.getoption("--chaos-full") else SAMPLE
        metafunc.parametrize("kill_point", points)


def apply(repo: Repo, kill_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RECONCILER_KILL_AT")}
    if repo.server_uri:
        env["MLFLOW_TRACKING_URI"] = repo.server_uri
    env["RECONCILER_LOCK_LEASE_SECONDS"] = "2"  # a killed holder's lease runs out quickly
    if kill_at:
        env["RECONCILER_KILL_AT"] = kill_at
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "apply", str(repo.path), "--lock-timeout", "30"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def end_state(repo: Repo) -> dict[str, Any]:
    actual = MlflowStore(repo.uri).read()
    aliases = {}
    for name, rm in actual.models.items():
        for env, number in rm.aliases.items():
            aliases[(env, name)] = rm.versions[number].fingerprint
    fingerprints = sorted((v.model, v.fingerprint) for rm in actual.models.values() for v in rm.versions.values())
    ledger_ok = all(
        rm.last_move(env) is not None and rm.last_move(env).to_version == number  # type: ignore[union-attr]
        for rm in actual.models.values()
        for env, number in rm.aliases.items()
    )
    return {"aliases": aliases, "versions": fingerprints, "ledger_whole": ledger_ok, "violations": violations(actual)}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    repo = make_repo(tmp_path_factory.mktemp("reference") / "repo", SMALL_SPECS, None)  # type: ignore[arg-type]
    result = apply(repo)
    assert result.returncode == 0, result.stderr
    return end_state(repo)


def test_killed_apply_is_finished_by_the_next_run(kill_point: str, reference: dict[str, Any], tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", SMALL_SPECS, None)  # type: ignore[arg-type]
    killed = apply(repo, kill_at=kill_point)
    assert killed.returncode == -signal.SIGKILL, f"never reached {kill_point}: {killed.stdout[-500:]}"
    rerun = apply(repo)
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    state = end_state(repo)
    assert state["violations"] == []
    assert state["aliases"] == reference["aliases"]
    assert state["versions"] == reference["versions"], "one version per fingerprint, nothing extra"
    assert state["ledger_whole"]
    # Nothing left to do: the plan (read straight from the store) is empty.
    assert main(["plan", str(repo.path), "--detailed-exitcode"]) == 0


# On a real mlflow server on PostgreSQL: the points where a crash leaves the most behind (a run
# without a version, a version without a verdict, an alias without its ledger entry, a lock).
SERVER_POINTS = ["lock:after-acquire", "store:after-run-end", "store:after-register", "promote:after-alias"]


@pytest.mark.parametrize("point", SERVER_POINTS)
def test_killed_apply_against_a_server_is_finished_by_the_next_run(
    point: str, reference: dict[str, Any], tmp_path: Path, pg_server: PostgresServer
) -> None:
    pg_server.reset()
    repo = make_repo(tmp_path / "repo", SMALL_SPECS, None)  # type: ignore[arg-type]
    repo.server_uri = pg_server.uri
    killed = apply(repo, kill_at=point)
    assert killed.returncode == -signal.SIGKILL, f"never reached {point}: {killed.stdout[-500:]}"
    rerun = apply(repo)
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    state = end_state(repo)
    assert state["violations"] == [] and state["ledger_whole"]
    assert state["aliases"] == reference["aliases"], "the same end state as an uninterrupted run on SQLite"
    assert state["versions"] == reference["versions"]
