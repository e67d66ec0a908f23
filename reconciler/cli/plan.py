"""`reconciler plan`: what apply would do, and why. Read-only, except `--preview`, which
trains and evaluates candidates and registers them without moving any alias."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from reconciler.cli.common import add_allow_dirty, add_repo, find_workspace_of, open_session, refuse_dirty
from reconciler.diagnostics import ReconcilerError
from reconciler.github import actions as gha
from reconciler.plan.model import Kind, Plan
from reconciler.render.plan_json import plan_dict
from reconciler.render.views import plan_context, render, rollback_of
from reconciler.state.actual import ActualState
from reconciler.vcs.git import Revert, find_reverts


def register(sub: Any) -> None:
    p = sub.add_parser("plan", help="show what apply would change in the registry, and why")
    add_repo(p)
    p.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    p.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 0 when nothing would change, 2 when changes are pending, 1 on errors",
    )
    p.add_argument(
        "--offline",
        action="store_true",
        help="plan from git alone (no registry access): compare --base with the working tree",
    )
    p.add_argument(
        "--base",
        metavar="REV",
        help="base revision for --offline and for rollback detection (default for --offline: HEAD^)",
    )
    p.add_argument(
        "--preview",
        action="store_true",
        help="train and evaluate the candidates now and register them without moving aliases",
    )
    p.add_argument(
        "--lock-timeout",
        type=float,
        default=600,
        metavar="SECONDS",
        help="with --preview: how long to wait for a running apply or preview to finish (default: 600)",
    )
    add_allow_dirty(p)
    p.add_argument("--write-markdown", type=Path, metavar="FILE", help="also write the Markdown view to FILE")
    p.add_argument("--write-json", type=Path, metavar="FILE", help="also write the JSON view to FILE")
    p.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="save the plan for `reconciler apply FILE`, which refuses it if anything moved since",
    )
    p.set_defaults(run=run, parser_error=p.error)


def run(args: argparse.Namespace) -> int:
    where = find_workspace_of(args)
    repo = where.root
    if args.offline and args.preview:
        args.parser_error("--offline and --preview exclude each other (preview needs the registry)")
    if args.offline and args.out:
        args.parser_error("--out needs the registry: an offline plan cannot be applied")
    actual: ActualState | None = None
    entries: list[Any] = []
    if args.offline:
        plan, reverts = _offline(repo, args.base or "HEAD^", args.env)
    else:
        plan, actual, entries = _online(
            repo,
            args.env,
            preview=args.preview,
            base=args.base or "HEAD^",  # what policies on the change compare with
            lock_timeout=args.lock_timeout,
            allow_dirty=args.allow_dirty,
        )
        reverts = find_reverts(repo, args.base)
        if args.out:
            from reconciler.plan.saved import origin_of, save

            save(args.out, plan_dict(plan), actual, entries, origin_of(where))
    hashes = {(e.environment, e.model): e.gates_hash for e in entries}
    context = plan_context(plan, actual=actual, reverts=reverts, base=args.base or "", gates_hashes=hashes)
    markdown = render("plan.md.j2", **context)
    if args.write_markdown:
        args.write_markdown.write_text(gha.cap(markdown), encoding="utf-8")
    if args.write_json:
        args.write_json.write_text(json.dumps(plan_dict(plan), indent=2) + "\n", encoding="utf-8")
    if args.format == "json":
        print(json.dumps(plan_dict(plan), indent=2))
    elif args.format == "markdown":
        print(markdown, end="")
    else:
        print(render("plan.txt.j2", **context), end="")
    _report_to_github(plan, markdown, reverts)
    if plan.blocked:
        return 1
    if args.detailed_exitcode and plan.has_changes:
        return 2
    return 0


def _online(
    repo: Path,
    scope: list[str] | None,
    *,
    preview: bool,
    base: str | None,
    lock_timeout: float,
    allow_dirty: bool = False,
) -> tuple[Plan, ActualState, list[Any]]:
    if not preview:
        session = open_session(repo, scope, check_data=True, base=base)
        return session.plan, session.actual, session.desired.entries
    import sys

    from reconciler.apply.executor import Executor
    from reconciler.apply.lock import RegistryLock
    from reconciler.desired.load import load_desired
    from reconciler.plan.model import PreviewStep
    from reconciler.plan.planner import make_plan
    from reconciler.policy.base import LazyChanges
    from reconciler.policy.police import police
    from reconciler.render.outcomes import outcome_text
    from reconciler.spec.catalog import load_catalog
    from reconciler.state.mlflow_store import MlflowStore

    desired = load_desired(repo)  # invalid specs stop here, before the registry is opened
    refuse_dirty(desired, allow_dirty)
    changes = LazyChanges(repo, desired, base)
    len(changes)  # a base policies cannot read stops here, before the lock
    store = MlflowStore.for_repo(repo)
    # A preview writes versions and verdicts, so it holds the same lock as apply and plans under
    # it: two previews, or a preview and an apply, never train one fingerprint twice.
    with RegistryLock(store, timeout=lock_timeout, say=lambda text: print(text, file=sys.stderr, flush=True)):
        session = open_session(repo, scope, check_data=True, base=base, store=store, desired=desired, changes=changes)
        candidates = Plan(
            tuple(a for a in session.plan.actions if a.kind in (Kind.TRAIN, Kind.EVALUATE)),
            session.plan.environments,
            session.plan.location,
            session.plan.revision,
        )
        executor = Executor(store, session.desired.targets, load_catalog(), session.desired.provenance, preview=True)
        report = executor.run(candidates)
        actual = store.read()
    steps = tuple(
        PreviewStep(
            o.action.kind.value,
            o.action.environment,
            o.action.model,
            o.status.value,
            outcome_text(o),
            o.version,
            o.action.fingerprint,
        )
        for o in report.outcomes
    )
    note = (
        f"preview: {report.trained} candidate(s) trained, evaluated and registered now without moving any "
        "alias; merging only promotes them"
    )
    if report.failed:
        note = f"preview: {len(report.failed)} step(s) failed; merging would fail the same way"
    plan = police(make_plan(session.desired, actual, scope), session.desired, actual, session.changes)
    plan = plan.with_preview(steps)
    return replace(plan, notes=(*plan.notes, note)), actual, session.desired.entries


def _offline(repo: Path, base: str, scope: list[str] | None) -> tuple[Plan, list[Revert]]:
    from reconciler.desired.load import load_desired, load_desired_at
    from reconciler.plan.contracts import check_untrained_data
    from reconciler.plan.diff import spec_changes
    from reconciler.plan.offline import offline_plan
    from reconciler.policy.base import changes_between, read_base
    from reconciler.policy.police import police

    head = load_desired(repo)
    before = read_base(repo, head, base)
    # Contracts of what would train: a fork's pull request learns of broken data before merging.
    head = check_untrained_data(head, ActualState("git only", {}), scope, offline=True)
    reverts = find_reverts(repo, base)
    known = []
    for revert in reverts:
        try:
            known.extend(load_desired_at(repo, f"{revert.reverted}^").entries)
        except ReconcilerError:
            continue  # the reverted commit is not in this clone: its versions are just not known
    plan = offline_plan(
        before.entries,
        head.entries,
        head.state.environment_order,
        spec_changes,
        known=known,
        revision=head.provenance.short,
        scope=scope,
    )
    return police(plan, head, None, changes_between(before, head, base)), reverts


def _report_to_github(plan: Plan, markdown: str, reverts: list[Revert]) -> None:
    if not gha.active():
        return
    counts = plan.counts()
    gha.write_summary(markdown)
    gha.set_outputs(
        {
            "changes": plan.has_changes,
            "trains": counts["train"],
            "promotes": counts["promote"] + counts["restore"],
            "blocked": counts["blocked"],
            "drift": counts["restore"],
            "rollback": rollback_of(plan, reverts) is not None,
            "checked": plan.checked,
            "failed": len(plan.preview_failed),
        }
    )
    for step in plan.preview_failed:
        gha.annotate("error", f"{step.environment}/{step.model} preview {step.kind} failed", step.message)
    for action in plan.actions:
        if action.kind is Kind.BLOCKED:
            gha.annotate("error", f"{action.environment}/{action.model} blocked", action.reason)
        elif action.drift:
            gha.annotate("warning", f"{action.environment}/{action.model} drift", action.reason)
