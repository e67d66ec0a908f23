"""`reconciler status`: environment x model, desired against actual, in Argo CD's words."""

from __future__ import annotations

import argparse
import json
from typing import Any

from reconciler.cli.common import add_repo, open_session, workspace
from reconciler.render.status import status_rows
from reconciler.render.views import render


def register(sub: Any) -> None:
    p = sub.add_parser("status", help="desired vs actual version of every model in every environment")
    add_repo(p)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument(
        "--cost",
        action="store_true",
        help="training time, model size and predict time per row of each deployed version, beside the previous one",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="verify the registry's invariants (one version per fingerprint, every alias on a passed "
        "version); exit 1 on a violation",
    )
    p.set_defaults(run=run, parser_error=p.error)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def run(args: argparse.Namespace) -> int:
    session = open_session(workspace(args), args.env, check_data=False)
    if args.check:
        from reconciler.state.invariants import violations

        found = violations(session.actual)
        for line in found:
            print(f"invariant violated: {line}")
        print(f"{len(found)} invariant violation(s) in {session.store.location}" if found else "invariants hold")
        return 1 if found else 0
    if args.cost:
        from reconciler.render.status import COSTS, cost_rows

        pairs = sorted(
            {(a.environment, a.model) for a in session.plan.actions},
            key=lambda p: (session.plan.environments.index(p[0]) if p[0] in session.plan.environments else 99, p[1]),
        )
        costs = cost_rows(session.actual, pairs)
        if args.format == "json":
            print(json.dumps([{**c.__dict__} for c in costs], indent=2))
        else:
            print(render("cost.txt.j2", rows=costs, costs=COSTS, fmt=_fmt), end="")
        return 0
    rows = status_rows(session.plan, session.actual)
    if args.format == "json":
        print(json.dumps([r.__dict__ for r in rows], indent=2))
    else:
        print(render("status.txt.j2", rows=rows), end="")
    return 0 if all(r.state == "Synced" for r in rows) else 1
