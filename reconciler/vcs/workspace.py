"""Which directory a command works on, found the way git finds its repository: from the current
directory (or the one given) upwards to the first that holds spec directories, never past the
git top level. The specs may sit in a subdirectory of the git repository (a monorepo), so the
root is where the specs are, not the git top level itself."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from reconciler.diagnostics import ReconcilerError
from reconciler.spec.loader import SPEC_DIRS


class WorkspaceError(ReconcilerError):
    """Nothing to work on here: a usage problem, so exit 2 like other usage errors."""

    exit_code = 2


@dataclass(frozen=True)
class Workspace:
    root: Path  # absolute: holds specs/, environments/, policies/ and the local state directory
    git_top: Path | None  # the git working tree around it; None only with --no-git outside git

    @property
    def subdir(self) -> str:
        """The root relative to the git top level ("" at the top): the same in every clone."""
        if self.git_top is None:
            return ""
        rel = self.root.relative_to(self.git_top).as_posix()
        return "" if rel == "." else rel


def git_top_level(start: Path) -> Path | None:
    """The nearest directory at or above `start` holding `.git` (a directory, or the file of a
    worktree or submodule). A plain walk: importing GitPython for this would cost every command."""
    for directory in (start, *start.parents):
        if (directory / ".git").exists():
            return directory
    return None


def has_specs(directory: Path) -> bool:
    return any((directory / name).is_dir() for name in SPEC_DIRS)


def find_workspace(start: Path, *, no_git: bool = False) -> Workspace:
    start = Path(os.path.abspath(start))
    top = git_top_level(start)
    if top is None and not no_git:
        raise WorkspaceError(
            f"{start} is not in a git repository: the reconciler records the commit of every run. "
            "Run `git init` (and commit), or pass --no-git to work without provenance"
        )
    for directory in (start, *start.parents):
        if has_specs(directory):
            return Workspace(directory, top)
        if directory == top or top is None:  # outside git (--no-git): only where it was asked
            break
    dirs = ", ".join(f"{name}/" for name in SPEC_DIRS)
    where = f"{start}" if start == top or top is None else f"{start} or above it up to the git top level {top}"
    raise WorkspaceError(
        f"no spec directory ({dirs}) in {where}: run `reconciler init` to start a repository, or pass --repo DIR"
    )
