from __future__ import annotations

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
