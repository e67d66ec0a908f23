"""`reconciler propose`: when an environment's live traffic drifted, open (or update) one pull
request that retrains its model on a snapshot of what it served, labelled."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from reconciler.cli.common import add_workspace, workspace
from reconciler.diagnostics import ReconcilerError


def register(sub: Any) -> None:
    p = sub.add_parser("propose", help="open one pull request that retrains on served traffic when it drifted")
    add_workspace(p)
    p.add_argument("--env", required=True, help="the environment whose traffic to check")
    p.add_argument("--model", required=True, help="the model to retrain")
    p.add_argument("--since", default="7d", metavar="DURATION", help="the window of the request log (default 7d)")
    p.add_argument(
        "--labels-from",
        required=True,
        metavar="FILE",
        help="true labels by request id (CSV or Parquet, path or URL: request_id, optionally row, the label)",
    )
    p.add_argument("--labels", metavar="COLUMN", help="the label column (default: monitoring.labels, else label)")
    p.add_argument("--base", default="main", help="the branch the pull request goes to (default: main)")
    p.add_argument("--remote", default="origin", help="the remote to push the branch to (default: origin)")
    p.add_argument("--dir", default="data/snapshots", help="where snapshots go in the repository")
    p.set_defaults(run=run, parser_error=p.error)


def run(args: argparse.Namespace) -> int:
    from reconciler.cli.common import open_session
    from reconciler.cli.monitor import _since
    from reconciler.desired.load import STATE_DIR, load_desired
    from reconciler.feedback import propose as p
    from reconciler.feedback.snapshot import labelled_rows
    from reconciler.github import actions
    from reconciler.monitor import check
    from reconciler.monitor.request_log import URL_VARIABLE, LabelError, answered, features_of, read_window
    from reconciler.render import monitor as render_monitor
    from reconciler.render.views import plan_context, render
    from reconciler.sources.files import check_repo_path
    from reconciler.state.mlflow_store import MlflowStore

    root = workspace(args)
    desired = load_desired(root)
    target = desired.targets.get((args.env, args.model))
    if target is None:
        raise ReconcilerError(f"'{args.model}' is not deployed to '{args.env}' by the specs")
    problem = check_repo_path(f"{args.dir.rstrip('/')}/x.parquet", root, (".parquet",), must_exist=False)
    if problem is not None:
        args.parser_error(f"--dir: {problem}")
    monitoring = target.resolved.model.monitoring
    column = args.labels or (monitoring.labels if monitoring else None) or "label"
    since = _since(args.since)
    url = os.environ.get(URL_VARIABLE) or None
    store = MlflowStore.for_repo(root)
    window = check.RequestWindow(root / STATE_DIR, args.env, args.model, since, args.labels_from, column, url)
    try:
        report = check.run(target, store, window, None)
    except check.NothingToCheck as exc:
        print(f"propose: {exc}; nothing to propose")
        return 0
    where = f"{args.model}@{args.env}"
    if not report.drifted:
        print(f"propose: no drift in what {where} served since {args.since}: nothing to propose")
        _report(actions, proposed=False)
        return 0
    print(f"propose: {where} drifted: {'; '.join(report.reasons)}")
    dataset = target.resolved.dataset
    log = read_window(root / STATE_DIR, args.env, args.model, since, url)
    try:
        columns = list(dataset.features) if dataset.features else list(features_of(answered(log)).columns)
        rows = labelled_rows(log, check.read_batch(args.labels_from), column, dataset, columns)
    except (LabelError, check.MonitorError) as exc:
        raise ReconcilerError(f"labels {args.labels_from}: {exc}") from exc
    request = p.Request(
        root=root,
        environment=args.env,
        model=args.model,
        dataset=dataset,
        spec_file=desired.state.specs.documents[("Dataset", dataset.name)].file,
        base=args.base,
        remote=args.remote,
        directory=args.dir,
    )

    def plan_markdown(tree_root: Path) -> str:
        session = open_session(tree_root, None, check_data=True, store=store)
        return render("plan.md.j2", **plan_context(session.plan, actual=session.actual))

    outcome = p.propose(request, render_monitor.markdown([report]), rows, len(answered(log)), plan_markdown, p.GitHub())
    print(f"propose: {outcome.message}")
    if outcome.kind == p.CONTRACT:
        if actions.active():
            actions.write_summary(f"### No retraining proposed for `{where}`\n\n{outcome.message}\n")
        _report(actions, proposed=False)
        print(f"propose: no pull request: {outcome.message}", file=sys.stderr)
        return 1
    _report(actions, proposed=outcome.kind in (p.OPENED, p.UPDATED, p.UNCHANGED), url=outcome.url)
    return 0


def _report(actions: Any, *, proposed: bool, url: str = "") -> None:
    if actions.active():
        actions.set_outputs({"proposed": str(proposed).lower(), "pull-request": url})
