"""The layering holds (pyproject.toml, [tool.importlinter]), and the check catches a breach: a
cycle against the layers or an mlflow import outside reconciler.state, added to a copy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    tool = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(tool), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_layers_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "2 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("reconciler/plan/stray.py", "import mlflow\n", "One door to MLflow"),
        ("reconciler/spec/stray.py", "from reconciler.apply import executor\n", "Layers"),
        ("reconciler/state/stray.py", "from reconciler.plan import model\n", "Layers"),
    ],
)
def test_a_breach_is_caught(tmp_path: Path, module: str, line: str, broken: str) -> None:
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "reconciler", copy / "reconciler", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(ROOT / "pyproject.toml", copy / "pyproject.toml")
    (copy / module).write_text(line)
    result = lint_imports(copy)
    assert result.returncode != 0
    assert f"{broken}" in result.stdout and "BROKEN" in result.stdout, result.stdout[-3000:]
