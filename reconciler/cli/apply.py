"""`reconciler apply`: converge the registry to the specs: train, evaluate, promote."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from reconciler.apply.executor import Executor
from reconciler.apply.lock import RegistryLock
from reconciler.apply.outcome import Outcome, Report, Status
from reconciler.cli.common import (
    REPO_HELP,
    add_allow_dirty,
    add_workspace,
    find_workspace_of,
    open_session,
    refuse_dirty,
    workspace,
)
from reconciler.desired.load import load_desired
from reconciler.desired.model import Desired
from reconciler.github import actions as gha
from reconciler.plan.model import Action, Kind, Plan
from reconciler.plan.saved import SavedPlan
from reconciler.policy.base import LazyChanges
from reconciler.policy.police import move_check
from reconciler.render.outcomes import outcome_dict, outcome_text
from reconciler.render.plan_json import plan_dict
from reconciler.render.views import render, rollback_of
from reconciler.spec.catalog import load_catalog
from reconciler.state.actual import ActualState
from reconciler.state.mlflow_store import MlflowStore
from reconciler.vcs.git import find_reverts

ICONS = {Status.DONE: "✅", Status.FAILED: "❌", Status.SKIPPED: "⏭️"}


def register(sub: Any) -> None:
    p = sub.add_parser("apply", help="train, evaluate and promote until the registry matches the specs")
    p.add_argument(
        "repo",
        nargs="?",
        default=None,
        type=Path,
        help=f"{REPO_HELP}, or a plan saved by `reconciler plan --out` (applied in the repository it records)",
    )
    add_workspace(p, positional=False)
    p.add_argument("--env", action="append", metavar="ENV", help="only this environment (repeatable)")
    p.add_argument(
        "--lock-timeout",
        type=float,
        default=600,
        metavar="SECONDS",
        help="how long to wait for another apply to finish (default: 600)",
    )
    p.add_argument("--write-json", type=Path, metavar="FILE", help="write the plan and each step's outcome as JSON")
    p.add_argument(
        "--only",
        action="append",
        metavar="KIND:MODEL",
        help="only these steps of the plan, e.g. train:iris-classifier (repeatable; MODEL may be *); "
        "a train-only run fits before taking the registry lock, so fanned-out jobs train at once",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="train up to N models at once in separate processes (default: the number of cores); "
        "registry writes and promotions stay in plan order",
    )
    add_allow_dirty(p)
    p.add_argument(
        "--base", default="HEAD^", metavar="REV", help="revision policies judge the change against (default: HEAD^)"
    )
    p.set_defaults(run=run, parser_error=p.error)


def _print_event(phase: str, action: Action, outcome: Outcome | None) -> None:
    where = f"{action.environment}/{action.model}"
    if phase == "start":
        if action.kind is Kind.TRAIN:  # the only step long enough to announce
            print(f"{action.kind.value:<8} {where} ...", flush=True)
        return
    assert outcome is not None
    print(
        f"{action.kind.value:<8} {where} {outcome.status} in {outcome.seconds:.2f}s: {outcome_text(outcome)}",
        flush=True,
    )


class ProgressDisplay:
    """Models trained so far: a bar with an ETA on a terminal, one plain line each in CI logs."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stdout
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)()) and not gha.active()

    def __call__(self, done: int, total: int, model: str, seconds: float) -> None:
        eta = seconds / done * (total - done)
        if self.tty:
            width = 30
            filled = round(width * done / total)
            bar = "#" * filled + "." * (width - filled)
            end = "\n" if done == total else ""
            self.stream.write(f"\rtraining [{bar}] {done}/{total} models, {seconds:.0f}s, ETA {eta:.0f}s{end}")
        else:
            self.stream.write(f"fitted   {model} ({done}/{total}, {seconds:.1f}s, ETA {eta:.0f}s)\n")
        self.stream.flush()


STEP_KINDS = ("train", "evaluate", "promote", "rollout", "demote", "abort")


def _selectors(args: argparse.Namespace) -> list[tuple[str, str]]:
    out = []
    for text in args.only or ():
        kind, sep, model = text.partition(":")
        if not sep or kind not in STEP_KINDS or not model:
            args.parser_error(f"--only {text!r}: expected KIND:MODEL with KIND one of {', '.join(STEP_KINDS)}")
        out.append((kind, model))
    return out


def _check_selected_models(args: argparse.Namespace, desired: Desired) -> None:
    """A misspelt --only must not look like "Nothing to do"."""
    from reconciler.suggest import did_you_mean

    known = sorted({model for _, model in desired.targets})
    for kind, model in args.selectors:
        if model != "*" and model not in known:
            args.parser_error(
                f"--only {kind}:{model}: no model '{model}' is deployed by the specs{did_you_mean(model, known)} "
                f"(known: {', '.join(known) or 'none'})"
            )


def _will_train(desired: Desired, actual: ActualState | None) -> bool:
    """A guess, before the lock: does some fingerprint have no version yet? Without a direct read
    (a tracking server), finding out would cost a second full read of the registry and the
    import of MLflow first, so anything deployed counts: a run with nothing to fit then pays a
    background process on another core, not wall time."""
    if actual is None:
        return bool(desired.targets)
    return any(
        (rm := actual.model(t.resolved.name)) is None or rm.by_fingerprint(t.entry.fingerprint) is None
        for t in desired.targets.values()
    )


def run(args: argparse.Namespace) -> int:
    if args.jobs < 1:
        args.parser_error("--jobs must be at least 1")
    args.selectors = _selectors(args)
    saved: SavedPlan | None = None
    if args.repo is not None and args.repo.is_file():
        saved = _read_saved(args)
    repo = workspace(args)
    desired = load_desired(repo)  # invalid specs stop here, before the registry is even opened
    _check_selected_models(args, desired)
    refuse_dirty(desired, args.allow_dirty)
    changes = LazyChanges(repo, desired, args.base)
    len(changes)  # a base policies cannot read stops here, before the lock
    store = MlflowStore.for_repo(repo)
    actual = store.read_direct()  # None on a server: only MLflow can read it
    if actual is not None and saved is None:
        settled = _settled_plan(args, repo, store, desired, changes, actual)
        if settled is not None:
            _header(settled)
            return _report(args, repo, settled, Report())
    if _will_train(desired, actual):
        from reconciler.apply.budget import warm_up

        warm_up()  # fits run in children of a fork server: its imports overlap with what follows
    prefitted = {}
    if args.selectors and saved is None and all(kind == "train" for kind, _ in args.selectors):
        prefitted = _fit_before_locking(args, repo, store, desired, changes)
    # Planning happens under the lock too: a plan made while another apply runs is stale.
    with RegistryLock(store, timeout=args.lock_timeout, say=lambda text: print(text, flush=True)):
        return _apply(args, repo, store, saved, desired, prefitted, changes)


def _settled_plan(
    args: argparse.Namespace,
    repo: Path,
    store: MlflowStore,
    desired: Desired,
    changes: LazyChanges,
    actual: ActualState,
) -> Plan | None:
    """The plan, when the registry already matches the specs and no apply is running: nothing to
    lock for, and MLflow (most of a no-op apply's time) is never imported. Only a direct read of
    the embedded store can tell; anything to do, even recording an alias moved without its
    ledger entry, takes the normal path under the lock."""
    if actual.locked:
        return None
    session = open_session(
        repo, args.env, check_data=True, base=args.base, store=store, desired=desired, changes=changes, actual=actual
    )
    plan = session.plan
    if plan.has_changes or plan.blocked:
        return None
    for a in plan.actions:
        rm = actual.model(a.model)
        if rm is not None and a.to_version is not None and rm.unledgered(a.environment, a.to_version):
            return None
    return plan.only(args.selectors) if args.selectors else plan


def _read_saved(args: argparse.Namespace) -> SavedPlan:
    """A saved plan is applied to the repository it was made in: found at the path it records
    (or --repo), and refused before anything opens the registry if it is another repository."""
    from reconciler.plan import saved as saved_plans

    path: Path = args.repo
    saved = saved_plans.load(path)
    args.repo, args.saved_path = None, path
    recorded = Path(saved.origin.root)
    here = find_workspace_of(args, default=recorded if recorded.is_dir() else None)
    saved_plans.check_origin(path, saved, saved_plans.origin_of(here))
    args.repo_option = here.root
    return saved


def _fit_before_locking(
    args: argparse.Namespace, repo: Path, store: MlflowStore, desired: Desired, changes: LazyChanges
) -> dict[Any, Any]:
    """Fanned-out train jobs fit without the lock (the long part), then record under it; a
    fingerprint registered meanwhile by someone else is reused and this fit is dropped."""
    from reconciler.apply.budget import fit_many

    session = open_session(
        repo, args.env, check_data=True, base=args.base, store=store, desired=desired, changes=changes
    )
    work: dict[tuple[str, str], Any] = {}
    for a in session.plan.only(args.selectors).actions:
        if a.kind is Kind.TRAIN and a.fingerprint:
            work.setdefault((a.model, a.fingerprint), session.desired.targets[(a.environment, a.model)])
    parallel = len(work) > 1 and args.jobs > 1
    return fit_many(work, load_catalog(), args.jobs, ProgressDisplay() if parallel else None)


def _apply(
    args: argparse.Namespace,
    repo: Path,
    store: MlflowStore,
    saved: SavedPlan | None,
    desired: Desired,
    prefitted: dict[Any, Any],
    changes: LazyChanges,
) -> int:
    # Policies compare with the previous commit: on main, that is what the merge changed.
    session = open_session(
        repo, args.env, check_data=True, base=args.base, store=store, desired=desired, changes=changes
    )
    plan = session.plan
    if saved is not None:
        from reconciler.plan import saved as saved_plans

        path = args.saved_path
        saved_plans.check_fresh(path, saved.state_serial, saved.specs_serial, session.actual, session.desired.entries)
        saved_plans.check_same_actions(path, saved.actions, plan_dict(plan)["actions"], plan)
        print(f"Applying the saved plan {path} (plan {plan.id})")
    if args.selectors:
        plan = plan.only(args.selectors)
    _header(plan)
    report = Report()
    if plan.has_changes or plan.blocked or any(a.kind is Kind.NOOP for a in plan.actions):
        executor = Executor(
            session.store,
            session.desired.targets,
            load_catalog(),
            session.desired.provenance,
            _print_event,
            move_check(session.desired, session.changes),
            session.actual,
            jobs=args.jobs,
            progress=ProgressDisplay(),
            prefitted=prefitted,
        )
        report = executor.run(plan)
    return _report(args, repo, plan, report)


def _header(plan: Plan) -> None:
    print(f"Reconciler apply  {plan.revision} vs {plan.location}")
    print(plan.summary())


def _report(args: argparse.Namespace, repo: Path, plan: Plan, report: Report) -> int:
    done = [o for o in report.outcomes if o.status is Status.DONE]
    headline = (
        f"Apply: {report.trained} trained, {len(done)} actions done, {len(report.failed)} failed."
        if report.outcomes
        else "Nothing to do: the registry matches the specs."
    )
    print(headline)
    for o in report.failed:
        print(
            f"  failed: {o.action.kind.value} {o.action.environment}/{o.action.model}: {outcome_text(o)}",
            file=sys.stderr,
        )
    if args.write_json:
        doc = {
            "plan": plan_dict(plan),
            "outcomes": [outcome_dict(o) for o in report.outcomes],
            "trained": report.trained,
            "failed": len(report.failed),
        }
        args.write_json.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    if gha.active():
        _report_to_github(plan, report, headline, find_reverts(repo))
    return 1 if report.failed else 0


def _report_to_github(plan: Plan, report: Report, headline: str, reverts: list[Any]) -> None:
    outcomes = [{**outcome_dict(o), "icon": ICONS[o.status]} for o in report.outcomes]
    rollback = rollback_of(plan, reverts)
    gha.write_summary(
        render(
            "apply.md.j2", plan=plan, headline=headline, outcomes=outcomes, rollback=rollback, trained=report.trained
        )
    )
    promoted = sum(1 for o in report.outcomes if o.action.kind is Kind.PROMOTE and o.status is Status.DONE)
    gha.set_outputs(
        {"trained": report.trained, "promoted": promoted, "failed": len(report.failed), "rollback": bool(reverts)}
    )
    for o in report.failed:
        gha.annotate("error", f"{o.action.environment}/{o.action.model} {o.action.kind.value} failed", outcome_text(o))
