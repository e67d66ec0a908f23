"""Registry faults and secrets: bounded retries, one line naming the URI, no password shown."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.redact import redact
from tests.conftest import ROOT, copy_examples


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http://bob:s3cret@host:5000/x", "http://bob:***@host:5000/x"),
        ("postgresql://u:p%40ss@127.0.0.1/test", "postgresql://u:***@127.0.0.1/test"),
        ("https://host/?token=abc&x=1", "https://host/?token=***&x=1"),
        ("https://host/?PASSWORD=abc", "https://host/?PASSWORD=***"),
        ("sqlite:////tmp/x/.reconciler/mlflow.db", "sqlite:////tmp/x/.reconciler/mlflow.db"),
        ("https://user@host/", "https://user@host/"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("command", ["plan", "apply", "status"])
def test_unreachable_registry_is_one_line_without_secrets(command: str, tmp_path: Path) -> None:
    repo = copy_examples(tmp_path / "r")
    uri = f"http://bob:s3cret@127.0.0.1:{closed_port()}/?token=t0ken"
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
    }
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", command, str(repo)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 4
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("reconciler: cannot reach the MLflow registry at http://bob:***@127.0.0.1:")
    assert "connection refused" in lines[0]
    assert "s3cret" not in result.stdout + result.stderr and "t0ken" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert not (repo / ".reconciler" / "mlflow.db").exists()


def test_a_debug_traceback_is_redacted_like_every_other_output(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from reconciler.cli import main, status

    def broken(args: object) -> int:
        raise RuntimeError("failed talking to https://bob:s3cret@mlflow.internal/api?token=abc")

    monkeypatch.setattr(status, "run", broken)
    monkeypatch.setenv("RECONCILER_DEBUG", "1")
    assert main(["status", str(tmp_path)]) == 3
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError" in err
    assert "s3cret" not in err and "token=abc" not in err and "bob:***@mlflow.internal" in err
