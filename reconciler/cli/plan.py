"""`reconciler plan`: what apply would do, and why. Read-only."""

from __future__ import annotations

import argparse
import json
from typing import Any

from reconciler.cli.common import add_repo, check_repo, open_session
from reconciler.render.views import plan_context, render


def register(sub: Any) -> None:
    p = sub.add_parser("plan", help="show what apply would change in the registry, and why")
    add_repo(p)
    p.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    p.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 0 when nothing would change, 2 when changes are pending, 1 on errors",
    )
    p.set_defaults(run=run, parser_error=p.error)


def run(args: argparse.Namespace) -> int:
    session = open_session(check_repo(args), args.env, check_data=True)
    plan = session.plan
    if args.format == "json":
        print(json.dumps(plan.to_dict(), indent=2))
    elif args.format == "markdown":
        print(render("plan.md.j2", **plan_context(plan)), end="")
    else:
        print(render("plan.txt.j2", **plan_context(plan)), end="")
    if plan.blocked:
        return 1
    if args.detailed_exitcode and plan.has_changes:
        return 2
    return 0
