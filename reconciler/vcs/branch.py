"""A change proposed on a branch, made in a worktree of its own: the checkout the command runs in
is never touched (a CI job's, or a person's with work in progress)."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from reconciler.diagnostics import ReconcilerError


def _git(path: Path):  # type: ignore[no-untyped-def]
    import git

    try:
        return git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
        raise ReconcilerError(f"{path} is not in a git repository: a proposal is a branch") from exc


def top(path: Path) -> Path:
    return Path(_git(path).working_tree_dir or path)


@contextlib.contextmanager
def worktree_at(path: Path, base: str) -> Iterator[Path]:
    """A detached worktree of `base` (a branch, `origin/main`, a sha), removed afterwards."""
    import git

    repo = _git(path)
    parent = Path(tempfile.mkdtemp(prefix="reconciler-propose-"))
    where = parent / "tree"
    try:
        try:
            repo.git.worktree("add", "--detach", str(where), base)
        except git.GitCommandError as exc:
            raise ReconcilerError(f"cannot check out '{base}': {exc.stderr.strip() or exc}") from exc
        yield where
    finally:
        with contextlib.suppress(git.GitCommandError):
            repo.git.worktree("remove", "--force", str(where))
        shutil.rmtree(parent, ignore_errors=True)


def commit_branch(tree: Path, branch: str, paths: list[str], message: str) -> str:
    """Commit `paths` (relative to the worktree) on `branch`, made from the worktree's HEAD."""
    repo = _git(tree)
    repo.git.checkout("-B", branch)
    repo.git.add("--", *paths)
    repo.git.commit("-m", message, "--author", "reconciler <reconciler@users.noreply.github.com>", "--no-verify")
    return str(repo.head.commit.hexsha)


def remote_head(path: Path, remote: str, branch: str) -> str | None:
    """The commit `branch` points at on `remote`, None when it has no such branch."""
    import git

    try:
        out = _git(path).git.ls_remote("--heads", remote, f"refs/heads/{branch}")
    except git.GitCommandError as exc:
        raise ReconcilerError(f"cannot read remote '{remote}': {exc.stderr.strip() or exc}") from exc
    return out.split()[0] if out.strip() else None


def tree_of(path: Path, revision: str) -> str:
    return str(_git(path).commit(revision).tree.hexsha)


def push(tree: Path, remote: str, branch: str) -> None:
    """Push `branch`, replacing what a previous proposal pushed there (one branch per dataset)."""
    import git

    repo = _git(tree)
    try:
        repo.git.execute(["git", *_auth(repo, remote), "push", "--force", remote, f"HEAD:refs/heads/{branch}"])
    except git.GitCommandError as exc:
        raise ReconcilerError(f"cannot push to '{remote}': {exc.stderr.strip() or exc}") from exc


def fetch(path: Path, remote: str, branch: str) -> None:
    import git

    with contextlib.suppress(git.GitCommandError):
        _git(path).git.fetch(remote, f"refs/heads/{branch}:refs/remotes/{remote}/{branch}")


def commits_touching(path: Path, revision: str, text: str, rel: str) -> list[tuple[str, str]]:
    """(sha, subject) of the commits in `revision`'s history that added or removed `text` in
    the file `rel` (git log -S), oldest first."""
    out = _git(path).git.log(revision, "--reverse", "--format=%H %s", f"-S{text}", "--", rel)
    return [(line[:40], line[41:]) for line in out.splitlines() if line.strip()]


def file_log_patch(path: Path, revision: str, rel: str) -> str:
    """`git log -p` of one file in `revision`'s history, patches only."""
    return str(_git(path).git.log(revision, "-p", "--format=", "--", rel))


def _auth(repo: object, remote: str) -> list[str]:
    """In GitHub Actions, with GH_TOKEN set: the token as an HTTP header for this one command, as
    actions/checkout does it, so it is never written to .git/config for later steps to read."""
    import base64
    import os

    token = os.environ.get("GH_TOKEN") or os.environ.get("GITHUB_TOKEN")
    server = os.environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    url = str(repo.remote(remote).url) if remote in [r.name for r in repo.remotes] else ""  # type: ignore[attr-defined]
    if not token or os.environ.get("GITHUB_ACTIONS") != "true" or not url.startswith(server + "/"):
        return []
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return ["-c", f"http.{server}/.extraheader=AUTHORIZATION: basic {basic}"]
