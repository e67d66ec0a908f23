"""Tests never see the developer's or the runner's MLflow, reconciler or GitHub settings."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT


def test_no_stray_setting_reaches_a_test() -> None:
    leaked = sorted(k for k in os.environ if k.startswith(("MLFLOW_", "GITHUB_", "RECONCILER_")))
    assert leaked in ([], ["RECONCILER_REQUIRE_SERVER"]), leaked


def test_a_developers_tracking_uri_is_cleared_for_every_test(tmp_path: object) -> None:
    """Run the check above in a pytest whose environment points MLflow at a real store: the
    autouse fixture must clear it, or a test would write into that store and still pass."""
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": "sqlite:////nonexistent/elsewhere.db",
        "GITHUB_ACTIONS": "true",
        "RECONCILER_KILL_AT": "lock:after-acquire",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"{__file__}::test_no_stray_setting_reaches_a_test",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
