from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPEC_DIRS = ("specs", "environments", "policies")


def git_commit_all(repo: Path, message: str = "specs") -> None:
    """A real commit of everything in `repo` (a repository is made first when there is none)."""
    if not (repo / ".git").exists():
        subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    env = {**os.environ, "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com"}
    env |= {"GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com"}
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True, env=env)
    subprocess.run(["git", "-C", str(repo), "commit", "-q", "--allow-empty", "-m", message], check=True, env=env)


def copy_examples(dest: Path) -> Path:
    """The example specs in a new git repository at `dest`, committed: commands find their
    repository the way git does, and refuse a directory outside one (unless --no-git)."""
    for name in (*SPEC_DIRS, "data"):  # data/: the CSV of the mixed-type example
        shutil.copytree(ROOT / name, dest / name)
    git_commit_all(dest, "example specs")
    return dest


@pytest.fixture
def example_repo(tmp_path: Path) -> Path:
    """A copy of the example specs in a temporary git repository, committed."""
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
