"""What plan, apply and status share: load the specs, open the registry, compute the plan."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from reconciler.desired.load import load_desired, validate_repo
from reconciler.desired.model import Desired
from reconciler.diagnostics import InvalidSpecs, ReconcilerError
from reconciler.plan.contracts import check_untrained_data
from reconciler.plan.model import Plan
from reconciler.plan.planner import make_plan
from reconciler.policy.base import LazyChanges
from reconciler.policy.police import police
from reconciler.spec.loader import LoadResult
from reconciler.state.actual import ActualState
from reconciler.state.mlflow_store import MlflowStore
from reconciler.vcs.workspace import Workspace, find_workspace

REPO_HELP = "the repository (default: found from the current directory upwards, like git)"


def add_workspace(p: Any, *, positional: bool = True) -> None:
    """Where the specs are: `[REPO]` (kept for scripts that pass it) or `--repo DIR`, and
    `--no-git`. Either way the root is looked for from there upwards, as git looks for `.git`."""
    if positional:
        p.add_argument("repo", nargs="?", default=None, type=Path, help=REPO_HELP)
    p.add_argument("--repo", dest="repo_option", type=Path, default=None, metavar="DIR", help=REPO_HELP)
    p.add_argument(
        "--no-git",
        action="store_true",
        help="allow a directory outside any git repository (runs record no commit: provenance 'no-git')",
    )


def add_repo(p: Any) -> None:
    add_workspace(p)
    p.add_argument("--env", action="append", metavar="ENV", help="only this environment (repeatable)")


def workspace(args: Any) -> Path:
    """The repository root the command works on (absolute)."""
    return find_workspace_of(args).root


def find_workspace_of(args: Any, default: Path | None = None) -> Workspace:
    """From `[REPO]` or `--repo`, else `default`, else the current directory."""
    given = [path for path in (getattr(args, "repo", None), args.repo_option) if path is not None]
    if len(given) == 2 and Path(os.path.abspath(given[0])) != Path(os.path.abspath(given[1])):
        args.parser_error(f"two repositories given: '{given[0]}' and --repo '{given[1]}'")
    where = given[0] if given else default or Path.cwd()
    if not where.is_dir():
        args.parser_error(f"repository '{where}' is not a directory")
    return find_workspace(where, no_git=args.no_git)


@dataclass
class Session:
    repo: Path
    desired: Desired
    store: MlflowStore
    actual: ActualState
    plan: Plan
    scope: Sequence[str] | None
    changes: Mapping[tuple[str, str], Mapping[str, Any]] | None = None


def open_session(
    repo: Path,
    scope: Sequence[str] | None,
    *,
    check_data: bool,
    base: str | None = None,
    store: MlflowStore | None = None,
    desired: Desired | None = None,
    changes: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
    actual: ActualState | None = None,
) -> Session:
    """Specs, registry and plan; `base` is the revision policies compare against (the change)."""
    desired = desired or load_desired(repo)
    if changes is None:
        changes = LazyChanges(repo, desired, base)
    store = store or MlflowStore.for_repo(repo)
    actual = actual or store.read()
    if check_data:
        desired = check_untrained_data(desired, actual, scope)
    plan = police(make_plan(desired, actual, scope), desired, actual, changes)
    return Session(repo, desired, store, actual, plan, scope, changes)


def valid_specs(root: Path, environments: Sequence[str] | None) -> LoadResult:
    """The specs of `root`, checked (spec-only policies judged), with every environment asked
    for known: where commands that do not plan (serve, render) start from."""
    result = validate_repo(root)
    if not result.ok:
        raise InvalidSpecs(result.errors)
    known = result.desired.specs.environments
    unknown = [e for e in environments or () if e not in known]
    if unknown:
        raise ReconcilerError(f"no environment '{unknown[0]}' in the specs (known: {', '.join(sorted(known))})")
    return result


def add_allow_dirty(p: Any) -> None:
    p.add_argument(
        "--allow-dirty",
        action="store_true",
        help="write to the registry even with uncommitted changes to the specs or data; the run, the "
        "version and the ledger record `dirty`",
    )


def refuse_dirty(desired: Desired, allowed: bool) -> None:
    """Provenance names a commit: writing from a tree that differs from it would record a
    commit whose specs are not what was trained or promoted."""
    prov = desired.provenance
    if not prov.dirty or allowed:
        return
    shown = ", ".join(prov.dirty_paths[:5]) + (
        f" and {len(prov.dirty_paths) - 5} more" if len(prov.dirty_paths) > 5 else ""
    )
    raise ReconcilerError(
        f"uncommitted changes to what the reconciler reads ({shown}): the registry would record commit "
        f"{prov.commit[:7]}, whose specs differ. Commit them, or pass --allow-dirty to record the run as dirty"
    )


DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def window_start(text: str) -> datetime:
    """The start of a window of the request log given as `--since` (90s, 30m, 6h, 7d)."""
    match = DURATION.fullmatch(text.strip())
    if match is None or float(match.group(1)) <= 0:
        raise ReconcilerError(f"--since {text!r}: expected a duration such as 90s, 30m, 6h or 7d")
    seconds = float(match.group(1)) * UNIT_SECONDS[match.group(2)]
    return datetime.now(timezone.utc) - timedelta(seconds=min(seconds, 3650 * 86400))


def label_column(given: str | None, monitoring: Any) -> str:
    """The column of true labels: `--labels`, else the model's monitoring.labels, else `label`."""
    return given or (monitoring.labels if monitoring is not None else None) or "label"
