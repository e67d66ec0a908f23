"""Propose retraining as a pull request, the way Renovate proposes a dependency update: when an
environment's live traffic drifted, its labelled requests become a snapshot pinned in the
model's Dataset, committed on one branch per dataset (`reconciler/refresh-<dataset>`), pushed,
and one pull request is opened or updated with the drift report, the snapshot's contract and
the plan. People review; a merge retrains, gates and rolls out.

Never twice: the same snapshot is the same file (content-addressed), so a second run pushes
nothing and updates the same pull request; a snapshot that was merged and then reverted on the
base branch is found in its history and not proposed again (git is the record)."""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.diagnostics import ReconcilerError
from reconciler.feedback.snapshot import Snapshot, take
from reconciler.spec.edit import add_snapshot, snapshots_of
from reconciler.spec.kinds import Dataset
from reconciler.vcs import branch as git

PIN = re.compile(r'^\+.*sha256: "?([0-9a-f]{64})"?', re.M)

NO_DRIFT, CONTRACT, REVERTED, PINNED, OPENED, UPDATED, UNCHANGED = (
    "no-drift",
    "contract-failed",
    "reverted",
    "already-pinned",
    "opened",
    "updated",
    "unchanged",
)


@dataclass(frozen=True)
class Outcome:
    kind: str
    message: str
    url: str = ""
    snapshot: Snapshot | None = None


@dataclass(frozen=True)
class Request:
    """What to propose: where, and on which base."""

    root: Path  # the specs' root (a monorepo's subdirectory, or the repository)
    environment: str
    model: str
    dataset: Dataset
    spec_file: str  # the Dataset's spec file, relative to root
    base: str  # the branch the pull request goes to
    remote: str
    directory: str  # where snapshots go, relative to root
    reason: str = "Live traffic drifted."  # why it is proposed, the pull request's first words


def branch_name(dataset: str) -> str:
    return f"reconciler/refresh-{dataset}"


class GitHub:
    """The `gh` CLI: the one place a proposal talks to GitHub."""

    def __init__(self, run: Callable[[list[str]], str] | None = None) -> None:
        self.run = run or _gh

    def open_pull_request(self, head: str) -> tuple[int, str] | None:
        import json

        listed = json.loads(self.run(["pr", "list", "--head", head, "--state", "open", "--json", "number,url"]) or "[]")
        return (int(listed[0]["number"]), str(listed[0]["url"])) if listed else None

    def create(self, base: str, head: str, title: str, body: Path) -> str:
        out = self.run(["pr", "create", "--base", base, "--head", head, "--title", title, "--body-file", str(body)])
        return out.strip().splitlines()[-1] if out.strip() else ""

    def edit(self, number: int, title: str, body: Path) -> None:
        self.run(["pr", "edit", str(number), "--title", title, "--body-file", str(body)])


def _gh(args: list[str]) -> str:
    try:
        done = subprocess.run(["gh", *args], capture_output=True, text=True, timeout=120, check=False)
    except FileNotFoundError as exc:
        raise ReconcilerError("the GitHub CLI `gh` is not installed (GitHub's runners have it)") from exc
    if done.returncode != 0:
        raise ReconcilerError(f"gh {args[0]} {args[1]}: {(done.stderr or done.stdout).strip()[:500]}")
    return done.stdout


def reverted_pins(top: Path, base_ref: str, spec_rel: str, current: Sequence[str]) -> list[str]:
    """Snapshots pinned in the spec at some point of the base's history and not any more:
    a proposal that was merged and then reverted (or unpinned by hand)."""
    log = git.file_log_patch(top, base_ref, spec_rel)
    seen = list(dict.fromkeys(PIN.findall(log)))
    return [sha for sha in seen if sha not in current]


def propose(
    req: Request,
    drift_markdown: str,
    rows: Any,
    served: int,
    plan_markdown: Callable[[Path], str],
    github: GitHub,
) -> Outcome:
    """`rows`: the labelled rows (the Dataset's columns); `plan_markdown(tree_root)`: the plan of
    the proposed change, made from the branch's specs."""
    top = git.top(req.root)
    sub = req.root.resolve().relative_to(top.resolve())
    spec_top = (sub / req.spec_file).as_posix()
    git.fetch(top, req.remote, req.base)
    base_ref = f"{req.remote}/{req.base}"
    probe = take(req.root, req.dataset, rows, served, req.directory, write=False)
    if not probe.passed:
        why = "; ".join(probe.contract)
        return Outcome(CONTRACT, f"the snapshot fails the data contract of '{req.dataset.name}': {why}", snapshot=probe)
    name = req.dataset.name
    with git.worktree_at(top, base_ref) as tree:
        tree_root = tree / sub
        pinned = [str(s.get("sha256")) for s in snapshots_of(tree_root / req.spec_file, name)]
        if probe.sha256 in pinned:
            return Outcome(PINNED, f"{probe.path} is already pinned on {base_ref}", snapshot=probe)
        reverted = reverted_pins(top, base_ref, spec_top, pinned)
        if probe.sha256 in reverted:
            history = git.commits_touching(top, base_ref, probe.sha256, spec_top)
            shown = ", ".join(f"{sha[:7]} ({subject})" for sha, subject in history)
            return Outcome(
                REVERTED,
                f"{probe.path} was pinned and reverted on {base_ref} ({shown}): not proposed again",
                snapshot=probe,
            )
        snap = take(tree_root, req.dataset, rows, served, req.directory)
        add_snapshot(tree_root / req.spec_file, name, snap.path, snap.sha256)
        title = f"Retrain on what {req.environment} served: {name} + snapshot {snap.sha256[:12]}"
        message = (
            f"data: {name} + {snap.rows} labelled rows served by {req.environment} ({snap.sha256[:12]})\n\n"
            f"Drift in {req.model}@{req.environment}; proposed by `reconciler propose`."
        )
        head = branch_name(name)
        git.commit_branch(tree, head, [(sub / snap.path).as_posix(), spec_top], message)
        remote_head = git.remote_head(top, req.remote, head)
        same = remote_head is not None and _same_tree(top, tree, req.remote, head)
        if not same:
            git.push(tree, req.remote, head)
        body = _body(req, snap, drift_markdown, plan_markdown(tree_root), reverted)
    with tempfile.NamedTemporaryFile("w", suffix=".md", delete=False, encoding="utf-8") as fh:
        fh.write(body)
        body_path = Path(fh.name)
    try:
        existing = github.open_pull_request(head)
        if existing is not None:
            github.edit(existing[0], title, body_path)
            kind = UNCHANGED if same else UPDATED
            return Outcome(
                kind, f"pull request #{existing[0]} {'is up to date' if same else 'updated'}", existing[1], snap
            )
        url = github.create(req.base, head, title, body_path)
        return Outcome(OPENED, f"opened {url}", url, snap)
    finally:
        body_path.unlink(missing_ok=True)


def _same_tree(top: Path, tree: Path, remote: str, head: str) -> bool:
    """Whether the branch on the remote already holds exactly this change."""
    git.fetch(top, remote, head)
    try:
        return git.tree_of(top, f"{remote}/{head}") == git.tree_of(tree, "HEAD")
    except Exception:  # an unreadable remote branch: push again
        return False


def _body(req: Request, snap: Snapshot, drift: str, plan: str, reverted: Sequence[str]) -> str:
    lines = [
        f"## Retrain `{req.model}` on what `{req.environment}` served",
        "",
        f"{req.reason} This pull request adds "
        f"**{snap.rows} labelled rows** it answered ({snap.served} answered in the window) to the "
        f"Dataset `{req.dataset.name}` as a snapshot pinned by content hash:",
        "",
        f"- `{snap.path}` (sha256 `{snap.sha256}`)",
        f"- data contract of `{req.dataset.name}`: **passed**",
        "",
        "Merging retrains on the source plus every pinned snapshot, runs the gates and promotes "
        "(or starts the environment's rollout). Reverting the merge rolls back with no training, "
        "and this snapshot is not proposed again.",
        "",
    ]
    if reverted:
        lines += [
            "Not proposed again (pinned and then reverted on the base branch): "
            + ", ".join(f"`{sha[:12]}`" for sha in reverted),
            "",
        ]
    lines += ["### Drift", "", drift.strip(), "", "### Plan", "", _without_marker(plan).strip(), ""]
    return "\n".join(lines)


def _without_marker(markdown: str) -> str:
    """The plan's Markdown without the marker the plan workflow finds its own comment by."""
    return "\n".join(line for line in markdown.splitlines() if not line.startswith("<!-- reconciler-plan"))
