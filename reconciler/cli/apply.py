"""`reconciler apply`: converge the registry to the specs: train, evaluate, promote."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from reconciler.apply.executor import Executor, Outcome
from reconciler.cli.common import add_repo, check_repo, open_session
from reconciler.plan.model import Action, Kind
from reconciler.spec.catalog import load_catalog


def register(sub: Any) -> None:
    p = sub.add_parser("apply", help="train, evaluate and promote until the registry matches the specs")
    add_repo(p)
    p.set_defaults(run=run, parser_error=p.error)


def _print_event(phase: str, action: Action, outcome: Outcome | None) -> None:
    where = f"{action.environment}/{action.model}"
    if phase == "start":
        if action.kind is Kind.TRAIN:  # the only step long enough to announce
            print(f"{action.kind.value:<8} {where} ...", flush=True)
        return
    assert outcome is not None
    print(f"{action.kind.value:<8} {where} {outcome.status} in {outcome.seconds:.2f}s: {outcome.message}", flush=True)


def run(args: argparse.Namespace) -> int:
    session = open_session(check_repo(args), args.env, check_data=True)
    plan = session.plan
    print(f"Reconciler apply  {plan.revision} vs {plan.location}")
    print(plan.summary())
    if not plan.has_changes and not plan.blocked:
        print("Nothing to do: the registry matches the specs.")
        return 0
    executor = Executor(
        session.store, session.desired.targets, load_catalog(), session.desired.provenance, _print_event
    )
    report = executor.run(plan)
    done = [o for o in report.outcomes if o.status == "done"]
    print(f"Apply: {report.trained} trained, {len(done)} actions done, {len(report.failed)} failed.")
    if report.failed:
        for o in report.failed:
            print(
                f"  failed: {o.action.kind.value} {o.action.environment}/{o.action.model}: {o.message}", file=sys.stderr
            )
        return 1
    return 0
