"""Provenance from git, and a repository's files as they were at a revision (for `pin`)."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from reconciler.diagnostics import ReconcilerError


@dataclass(frozen=True)
class Provenance:
    commit: str  # full sha, or "" outside git
    dirty: bool  # what the reconciler reads differs from the commit (uncommitted or untracked)
    branch: str = ""
    dirty_paths: tuple[str, ...] = ()

    @property
    def short(self) -> str:
        return (self.commit[:7] or "no-git") + ("+dirty" if self.dirty else "")


def _repo(path: Path):  # type: ignore[no-untyped-def]
    import git

    try:
        return git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None


def provenance(path: Path, inputs: tuple[str, ...] | None = None) -> Provenance:
    """HEAD's commit, and whether the files the reconciler reads (`inputs`, paths relative to
    `path`; None: every tracked file) differ from it, untracked ones included."""
    repo = _repo(path)
    if repo is None or not repo.head.is_valid():
        return Provenance("", False)
    try:
        branch = repo.active_branch.name
    except TypeError:  # detached HEAD, as in CI checkouts
        branch = ""
    if inputs is None:
        return Provenance(repo.head.commit.hexsha, repo.is_dirty(untracked_files=False), branch)
    top = Path(repo.working_tree_dir or path).resolve()
    prefix = path.resolve().relative_to(top).as_posix()
    specs = [p if prefix in ("", ".") else f"{prefix}/{p}" for p in inputs]
    lines = repo.git.status("--porcelain", "--untracked-files=all", "--", *specs).splitlines() if specs else []
    changed = tuple(sorted({line[3:].split(" -> ")[-1] for line in lines if len(line) > 3}))
    return Provenance(repo.head.commit.hexsha, bool(changed), branch, changed)


def first_commit(path: Path) -> str:
    """The root commit of HEAD's history (the oldest, when histories were merged): what every
    clone of a repository shares and unrelated repositories do not. "" outside git or before
    the first commit."""
    repo = _repo(path)
    if repo is None or not repo.head.is_valid():
        return ""
    roots = repo.git.rev_list("--max-parents=0", "HEAD").split()
    return roots[-1] if roots else ""


def remote_url(path: Path, name: str = "origin") -> str:
    """The URL of a remote, or "" (no git, no such remote). Credentials in it are the caller's
    to redact before showing it."""
    repo = _repo(path)
    if repo is None:
        return ""
    try:
        return str(repo.remote(name).url)
    except (ValueError, AttributeError):
        return ""


NO_BASE = "no-base"  # nothing came before: outside git, or HEAD^ of a repository's first commit


def base_problem(path: Path, revision: str) -> str | None:
    """Why `revision` cannot serve as the base of a change: None when it can, NO_BASE when
    there is legitimately nothing before, else a message saying how to fix it."""
    import git

    repo = _repo(path)
    if repo is None or not repo.head.is_valid():
        return NO_BASE
    try:  # git itself, not GitPython's resolver: it knows where a shallow clone's history ends
        repo.git.rev_parse("--verify", "--quiet", f"{revision}^{{commit}}")
        return None
    except git.GitCommandError:
        pass
    if Path(repo.git_dir, "shallow").exists():
        return (
            f"base revision '{revision}' is not in this clone, which is shallow: fetch more history "
            "(actions/checkout with `fetch-depth: 0`, or `git fetch --deepen=1`) or pass --base <sha>"
        )
    if revision in ("HEAD^", "HEAD~", "HEAD~1", "HEAD^1") and not repo.head.commit.parents:
        return NO_BASE
    return f"base revision '{revision}' does not exist in this repository; pass --base with a commit that does"


def export_revision(path: Path, revision: str, cache: Path) -> Path:
    """The repository's tracked files at `revision`, in a cached directory keyed by commit."""
    import git

    repo = _repo(path)
    if repo is None:
        raise ReconcilerError(f"cannot read revision '{revision}': {path} is not a git repository")
    try:
        commit = repo.commit(revision)
    except (git.BadName, ValueError, git.GitCommandError) as exc:
        raise ReconcilerError(f"unknown git revision '{revision}'") from exc
    dest = cache / commit.hexsha
    if dest.is_dir():
        return Path(dest)
    top = Path(repo.working_tree_dir or path)
    prefix = path.resolve().relative_to(top.resolve()).as_posix()
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=cache, prefix=".export-"))
    try:
        for blob in commit.tree.traverse():
            if blob.type != "blob":
                continue
            rel = blob.path
            if prefix not in ("", "."):
                if not rel.startswith(prefix + "/"):
                    continue
                rel = rel[len(prefix) + 1 :]
            parts = rel.split("/")
            if any(part in ("", ".", "..", ".git") for part in parts) or "\\" in rel or "\x00" in rel:
                # Git itself never writes such a tree; someone crafted it to escape the export.
                raise ReconcilerError(
                    f"revision '{revision}' ({commit.hexsha[:7]}) holds a path that cannot be exported: {rel!r}"
                )
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if blob.mode == 0o120000:  # a symlink is stored as its target path; keep it as text
                target.write_bytes(blob.data_stream.read())
                continue
            with target.open("wb") as fh:
                shutil.copyfileobj(blob.data_stream, fh)
        os.replace(tmp, dest)  # atomic: a killed export never looks complete
    except ReconcilerError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except (OSError, ValueError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if not dest.is_dir():
            # A tree git would not write (a file and a folder of one name, names the file
            # system refuses): the revision, not the reconciler, is at fault.
            raise ReconcilerError(
                f"revision '{revision}' ({commit.hexsha[:7]}) cannot be exported: {type(exc).__name__}: {exc}"
            ) from exc
    return Path(dest)


@dataclass(frozen=True)
class Revert:
    """A commit that reverts another (git's and GitHub's 'This reverts commit <sha>.')."""

    commit: str
    reverted: str
    subject: str  # the reverted commit's subject, from the revert's own title when possible


_REVERT = re.compile(r"This reverts commit ([0-9a-f]{7,40})")


def find_reverts(path: Path, base: str | None = None) -> list[Revert]:
    """Reverts among the commits in base..HEAD (or HEAD and a merge's second parent)."""
    repo = _repo(path)
    if repo is None or not repo.head.is_valid():
        return []
    head = repo.head.commit
    if base:
        try:
            commits = list(repo.iter_commits(f"{base}..{head.hexsha}", max_count=200))
        except Exception:  # an unknown base must not stop a plan from rendering
            commits = [head]
    else:
        commits = [head, *head.parents[1:2]]
    found = []
    for c in commits:
        message = str(c.message)
        match = _REVERT.search(message)
        if match:
            title = message.splitlines()[0] if message else ""
            subject = title[len('Revert "') : -1] if title.startswith('Revert "') and title.endswith('"') else title
            found.append(Revert(c.hexsha, match.group(1), subject))
    return found
