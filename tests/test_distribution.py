"""The distribution builds (sdist and wheel) under its own name, and the wheel alone, installed
into a fresh venv, validates the examples and starts a repository with `reconciler init` that
applies: package data (catalogs, templates, the scaffold) ships, and nothing depends on this
checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

import reconciler
from tests.conftest import ROOT, copy_examples, git_commit_all

NAME = "gitops-model-reconciler"
SKIP = {".git", ".venv", ".reconciler", "build", "dist", ".mypy_cache", ".ruff_cache", ".pytest_cache", "node_modules"}


def test_the_distribution_has_its_own_name_and_refers_to_itself_by_it() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == NAME, "`reconciler` on the public index is another project"
    extras = [req for group in project["optional-dependencies"].values() for req in group]
    assert not [r for r in extras if r.split("[")[0] == "reconciler"], "an extra would install the other project"
    readme = (ROOT / "README.md").read_text()
    assert "pip install reconciler" not in readme and "pip install 'reconciler" not in readme


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    shutil.copytree(ROOT, src, dirs_exist_ok=True, ignore=lambda d, names: [n for n in names if n in SKIP])
    out = tmp_path_factory.mktemp("dist")
    # --no-isolation: the build backend comes from this environment, nothing is downloaded.
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(src)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return out


def test_sdist_and_wheel_are_named_and_versioned_from_one_place(dist: Path) -> None:
    version = reconciler.__version__
    wheel = dist / f"gitops_model_reconciler-{version}-py3-none-any.whl"
    assert wheel.is_file() and (dist / f"gitops_model_reconciler-{version}.tar.gz").is_file()
    names = zipfile.ZipFile(wheel).namelist()
    assert {
        "reconciler/spec/catalogs/sklearn-1.9.json",
        "reconciler/render/templates/plan.md.j2",
        "reconciler/scaffold/files/gitignore",
        "reconciler/scaffold/files/workflows/plan.yml",
        "reconciler/scaffold/files/specs/models/iris-classifier.yaml",
    } <= set(names)
    assert not any(n.startswith(("tests/", "tools/", "bench/")) for n in names), "only the runtime package ships"


CLEAN = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing of this checkout


@pytest.fixture(scope="module")
def installed(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel alone; its `bin/` directory."""
    env = tmp_path_factory.mktemp("venv")
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    # The dependencies come from this environment (a path, not its .pth files: the editable
    # install of this checkout stays out), so only the wheel is installed.
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(site) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    wheel = next(dist.glob("*.whl"))
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True)
    where = subprocess.run(
        [
            str(python),
            "-c",
            f"import importlib.metadata as m, reconciler; print(reconciler.__file__, m.version('{NAME}'))",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=env,
        env=CLEAN,
    ).stdout.split()
    assert Path(where[0]).is_relative_to(env) and where[1] == reconciler.__version__
    return env / "bin"


def reconciler_cli(bin_dir: Path, cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(bin_dir / "reconciler"), *argv], capture_output=True, text=True, env=CLEAN, cwd=cwd)


def test_the_wheel_alone_validates_the_examples(installed: Path, tmp_path: Path) -> None:
    repo = copy_examples(tmp_path / "repo")
    done = reconciler_cli(installed, tmp_path, "validate", str(repo))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == "20 objects in 20 files: valid\n"


def test_the_wheel_alone_inits_a_repository_that_applies(installed: Path, tmp_path: Path) -> None:
    """What a new user does in a fresh directory outside this repository."""
    done = reconciler_cli(installed, tmp_path, "init", "models")
    assert done.returncode == 0, done.stdout + done.stderr
    repo = tmp_path / "models"
    git_commit_all(repo, "Start from reconciler init")
    first = reconciler_cli(installed, repo / "environments", "apply")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Apply: 1 trained, 7 actions done, 0 failed." in first.stdout
    second = reconciler_cli(installed, repo, "apply")
    assert second.returncode == 0 and "Nothing to do: the registry matches the specs." in second.stdout
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob(".reconciler")) == ["models/.reconciler"]
