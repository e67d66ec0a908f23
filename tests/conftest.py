from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPEC_DIRS = ("specs", "environments", "policies")


def copy_examples(dest: Path) -> Path:
    for name in SPEC_DIRS:
        shutil.copytree(ROOT / name, dest / name)
    return dest


@pytest.fixture
def example_repo(tmp_path: Path) -> Path:
    """A copy of the example specs in a temporary directory (not a git repository)."""
    return copy_examples(tmp_path / "repo")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--chaos-full", action="store_true", help="kill apply at every chaos point, not a sample")


# Kept: .ci/run sets it so that server-mode tests fail instead of skipping when PostgreSQL is down.
KEPT = frozenset({"RECONCILER_REQUIRE_SERVER"})


@pytest.fixture(autouse=True)
def hermetic_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's or the runner's MLflow, reconciler or GitHub settings: a
    stray MLFLOW_TRACKING_URI would send a test's writes to a real registry and still pass."""
    for key in list(os.environ):
        if key.startswith(("MLFLOW_", "RECONCILER_", "GITHUB_")) and key not in KEPT:
            monkeypatch.delenv(key)
