"""A real `mlflow server` on 127.0.0.1 that dies in the middle of an apply: the apply stops
with one line naming the server, nothing is half-applied, and after a restart the rerun
converges."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.state.invariants import violations
from reconciler.state.mlflow_store import MlflowStore
from tests.conftest import ROOT
from tests.e2e.conftest import SMALL_SPECS, make_repo
from tests.local_server import LocalServer


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LocalServer]:
    with LocalServer(tmp_path / "server") as srv:
        yield srv


def test_server_dies_mid_apply_then_the_rerun_converges(
    server: LocalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo(tmp_path / "repo", SMALL_SPECS, capsys)
    # Credentials in the URI, as a team's secret often has them: they must appear nowhere.
    uri = server.uri.replace("http://", "http://bob:s3cret@")
    shown = server.uri.replace("http://", "http://bob:***@")
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": uri,
        "RECONCILER_LOCK_LEASE_SECONDS": "3",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    }
    apply = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", str(repo.path)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert apply.stdout is not None
    for line in apply.stdout:
        if line.startswith("promote  dev/iris-classifier done"):
            server.kill()  # mid-apply: dev is half done, staging and production untouched
            break
    out, err = apply.communicate(timeout=120)
    assert apply.returncode == 4, out + err
    (message,) = err.strip().splitlines()
    assert message.startswith(f"reconciler: cannot reach the MLflow registry at {shown}"), message
    assert "s3cret" not in out + err

    server.start()
    rerun = subprocess.run(
        [sys.executable, "-m", "reconciler", "apply", str(repo.path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    assert "s3cret" not in rerun.stdout + rerun.stderr, "MLflow's own 'View run ... at' lines included"
    actual = MlflowStore(server.uri).read()
    assert violations(actual) == []
    assert {(env_, m) for m, rm in actual.models.items() for env_ in rm.aliases} == {
        (e, m) for e in ("dev", "staging", "production") for m in ("iris-classifier", "wine-classifier")
    }
    assert sum(len(rm.versions) for rm in actual.models.values()) == 2
