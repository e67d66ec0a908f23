"""Every command finds its repository from any subdirectory, as git does, and gives the same
result as from the root; nothing ever creates a state directory outside the root.

One repository is applied once (from a subdirectory) for the module; each command is then run
from the root and from two subdirectories and the outputs compared."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sklearn.datasets import load_iris

from reconciler.cli import main
from tests.conftest import git_commit_all
from tests.e2e.conftest import SMALL_SPECS

SUBDIRS = ("specs/models", "environments")


def run_in(cwd: Path, argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    before = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    except SystemExit as exc:  # usage errors, from argparse
        code = int(exc.code or 0)
    finally:
        os.chdir(before)
    return code, out.getvalue(), err.getvalue()


def state_dirs(top: Path) -> list[str]:
    return sorted(str(p.relative_to(top)) for p in top.rglob(".reconciler"))


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A repository applied from a subdirectory (the apply test of this module's table)."""
    repo = tmp_path_factory.mktemp("workspace") / "repo"
    for rel, text in SMALL_SPECS.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    frame = load_iris(as_frame=True).frame.drop(columns="target").head(60)
    (repo / "batch.csv").write_text(frame.to_csv(index=False))
    git_commit_all(repo)
    saved = {key: os.environ.get(key) for key in ("XDG_CACHE_HOME",)}
    os.environ["XDG_CACHE_HOME"] = str(repo.parent / "cache")
    code, out, err = run_in(repo / "specs" / "models", ["apply"])
    assert code == 0, out + err
    yield repo
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def test_apply_from_a_subdirectory_writes_the_root_store(applied: Path) -> None:
    assert state_dirs(applied) == [".reconciler"]
    code, out, err = run_in(applied / "environments", ["apply"])
    assert code == 0, err
    assert "Nothing to do: the registry matches the specs." in out
    code, out, _ = run_in(applied, ["apply"])
    assert "Nothing to do: the registry matches the specs." in out
    assert state_dirs(applied) == [".reconciler"]


COMMANDS = {
    "validate": ["validate"],
    "inputs": ["inputs"],
    "plan": ["plan", "--format", "json"],
    "status": ["status", "--check"],
    "history": ["history", "iris-classifier"],
    "monitor": ["monitor", "--env", "dev", "--model", "iris-classifier", "--data", "BATCH", "--no-log"],
    "unlock": ["unlock"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_same_result_from_any_subdirectory(applied: Path, command: str) -> None:
    argv = [str(applied / "batch.csv") if a == "BATCH" else a for a in COMMANDS[command]]
    at_root = run_in(applied, argv)
    assert at_root[0] in (0, 1), at_root  # monitor may find drift on a 60-row batch: still a result
    assert "Traceback" not in at_root[2]
    for sub in SUBDIRS:
        assert run_in(applied / sub, argv) == at_root, f"{command} from {sub}"
    assert state_dirs(applied) == [".reconciler"]


def test_repo_option_and_positional_agree(applied: Path) -> None:
    root = run_in(applied, ["validate"])
    assert run_in(applied.parent, ["validate", "--repo", str(applied / "specs")]) == root
    assert run_in(applied.parent, ["validate", str(applied / "specs")]) == root
    code, _, err = run_in(applied.parent, ["validate", str(applied), "--repo", str(applied.parent)])
    assert code == 2 and "two repositories given" in err


def test_outside_git_is_refused_unless_no_git(tmp_path: Path) -> None:
    for rel, text in SMALL_SPECS.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    for argv in (["validate"], ["plan"], ["apply"], ["status"], ["inputs"], ["unlock"], ["monitor"]):
        code, out, err = run_in(tmp_path, argv)
        assert code == 2, (argv, out, err)
        assert err == (
            f"reconciler: {tmp_path} is not in a git repository: the reconciler records the commit of every "
            "run. Run `git init` (and commit), or pass --no-git to work without provenance\n"
        )
    assert state_dirs(tmp_path) == []
    code, out, _ = run_in(tmp_path, ["validate", "--no-git"])
    assert (code, out) == (0, "8 objects in 8 files: valid\n")


def test_specs_in_a_subdirectory_of_a_monorepo(tmp_path: Path) -> None:
    """The root is where the specs are: a directory of the git repository, not its top level."""
    top = tmp_path / "mono"
    for rel, text in SMALL_SPECS.items():
        (top / "ml" / rel).parent.mkdir(parents=True, exist_ok=True)
        (top / "ml" / rel).write_text(text)
    (top / "service").mkdir()
    git_commit_all(top)
    assert run_in(top / "ml" / "specs", ["inputs"]) == run_in(top / "ml", ["inputs"])
    code, out, err = run_in(top / "service", ["validate"])
    assert (code, out) == (2, "")
    assert f"in {top / 'service'} or above it up to the git top level {top}" in err
    code, out, _ = run_in(top, ["validate", "--repo", "ml"])
    assert (code, out) == (0, "8 objects in 8 files: valid\n")
