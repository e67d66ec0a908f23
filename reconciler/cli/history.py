"""`reconciler history MODEL`: versions, the commit that made each, where and when each ran."""

from __future__ import annotations

import argparse
from typing import Any

from reconciler.cli.common import add_workspace, workspace
from reconciler.diagnostics import ReconcilerError
from reconciler.render.history import at_date, history_rows, rollout_lines, valid_moment
from reconciler.render.views import render
from reconciler.state.mlflow_store import MlflowStore


def register(sub: Any) -> None:
    p = sub.add_parser("history", help="versions of a model and where each has been deployed")
    p.add_argument("model")
    add_workspace(p)
    p.add_argument("--env", help="with --at: the environment to ask about")
    p.add_argument("--at", metavar="DATE", help="what ENV held at this date/time (ISO 8601, UTC)")
    p.set_defaults(run=run, parser_error=p.error)


def run(args: argparse.Namespace) -> int:
    if args.at and not args.env:
        args.parser_error("--at needs --env")
    if args.at and not valid_moment(args.at):
        args.parser_error(
            f"--at {args.at!r}: expected an ISO 8601 date or date and time in UTC, e.g. 2026-11-29 or 2026-11-29T14:00"
        )
    store = MlflowStore.for_repo(workspace(args))
    rm = store.read_model(args.model)
    if rm is None or not rm.managed:
        raise ReconcilerError(f"no managed registered model '{args.model}' in {store.location}")
    if args.at:
        found = at_date(rm, args.env, args.at)
        if found is None:
            print(f"{args.model}@{args.env} held nothing at {args.at}")
            return 1
        print(
            f"{args.model}@{args.env} at {args.at}: v{found.to_version}, set {found.at} by commit "
            f"{found.commit[:7] or 'unknown'}{' with uncommitted changes (--allow-dirty)' if found.dirty else ''} "
            f"(plan {found.plan})"
        )
        return 0
    print(render("history.txt.j2", rows=history_rows(rm), rollouts=rollout_lines(rm)), end="")
    return 0
