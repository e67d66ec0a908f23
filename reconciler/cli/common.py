"""What plan, apply and status share: load the specs, open the registry, compute the plan."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.desired.load import load_desired
from reconciler.desired.model import Desired
from reconciler.diagnostics import ReconcilerError
from reconciler.plan.contracts import check_untrained_data
from reconciler.plan.model import Plan
from reconciler.plan.planner import make_plan
from reconciler.policy.base import LazyChanges
from reconciler.policy.police import police
from reconciler.state.actual import ActualState
from reconciler.state.mlflow_store import MlflowStore


def add_repo(p: Any) -> None:
    p.add_argument("repo", nargs="?", default=".", type=Path, help="repository root (default: .)")
    p.add_argument("--env", action="append", metavar="ENV", help="only this environment (repeatable)")


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
) -> Session:
    """Specs, registry and plan; `base` is the revision policies compare against (the change)."""
    desired = desired or load_desired(repo)
    if changes is None:
        changes = LazyChanges(repo, desired, base)
    store = store or MlflowStore.for_repo(repo)
    actual = store.read()
    if check_data:
        desired = check_untrained_data(desired, actual, scope)
    plan = police(make_plan(desired, actual, scope), desired, actual, changes)
    return Session(repo, desired, store, actual, plan, scope, changes)


def check_repo(args: Any) -> Path:
    repo: Path = args.repo
    if not repo.is_dir():
        args.parser_error(f"repository '{repo}' is not a directory")
    return repo.absolute()


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
