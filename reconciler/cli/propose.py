"""`reconciler propose`: when an environment's live traffic drifted, open (or update) one pull
request that retrains its model on a snapshot of what it served, labelled."""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.cli.common import add_workspace, label_column, window_start, workspace
from reconciler.diagnostics import ReconcilerError


def register(sub: Any) -> None:
    p = sub.add_parser("propose", help="open one pull request that retrains on served traffic when it drifted")
    add_workspace(p)
    p.add_argument("--env", help="only this environment (default: every one)")
    p.add_argument("--model", help="only this model (default: every model whose monitoring declares feedback)")
    p.add_argument("--since", metavar="DURATION", help="the window of the request log (default: feedback.since)")
    p.add_argument(
        "--labels-from",
        metavar="FILE",
        help="true labels by request id (CSV or Parquet, path or URL: request_id, optionally row, the label); "
        "default: the variable monitoring.feedback.labels_env names",
    )
    p.add_argument("--labels", metavar="COLUMN", help="the label column (default: monitoring.labels, else label)")
    p.add_argument("--base", default="main", help="the branch the pull request goes to (default: main)")
    p.add_argument("--remote", default="origin", help="the remote to push the branch to (default: origin)")
    p.add_argument("--dir", default="data/snapshots", help="where snapshots go in the repository")
    p.set_defaults(run=run, parser_error=p.error)


# Names git takes as options when they start with `-`: a branch or remote name only.
SAFE_REF = re.compile(r"^[A-Za-z0-9][\w./-]{0,199}$")


@dataclass(frozen=True)
class Work:
    target: Any
    labels_from: str
    since: str


def run(args: argparse.Namespace) -> int:
    from reconciler.desired.load import load_desired
    from reconciler.github import actions
    from reconciler.sources.files import check_repo_path
    from reconciler.state.mlflow_store import MlflowStore

    for flag, value in (("--base", args.base), ("--remote", args.remote)):
        if not SAFE_REF.match(value):
            args.parser_error(f"{flag} {value!r}: expected a branch or remote name (letters, digits, . _ / -)")
    root = workspace(args)
    desired = load_desired(root)
    problem = check_repo_path(f"{args.dir.rstrip('/')}/x.parquet", root, (".parquet",), must_exist=False)
    if problem is not None:
        args.parser_error(f"--dir: {problem}")
    work = _work(args, desired)
    if not work:
        print(
            "propose: nothing to propose: no deployed model's monitoring declares feedback (README: Keep models fresh)"
        )
        _report(actions, proposed=False)
        return 0
    store = MlflowStore.for_repo(root)
    failed, urls = False, []
    for item in work:
        code, url = _one(args, root, desired, store, item)
        failed |= code != 0
        urls += [url] if url else []
    _report(actions, proposed=bool(urls), url=" ".join(urls))
    return 1 if failed else 0


def _work(args: argparse.Namespace, desired: Any) -> list[Work]:
    envs = desired.state.environment_order
    if args.env is not None and args.env not in envs:
        raise ReconcilerError(f"no environment '{args.env}' in the specs (known: {', '.join(envs)})")
    if args.model is not None and args.env is None:
        raise ReconcilerError("--model needs --env: the environment whose served traffic to take")
    if args.model is not None and (args.env, args.model) not in desired.targets:
        raise ReconcilerError(f"'{args.model}' is not deployed to '{args.env}' by the specs")
    out = []
    for (env, model), target in sorted(desired.targets.items(), key=lambda kv: (envs.index(kv[0][0]), kv[0][1])):
        if (args.env and env != args.env) or (args.model and model != args.model):
            continue
        monitoring = target.resolved.model.monitoring
        feedback = monitoring.feedback if monitoring else None
        labels = args.labels_from
        if labels is None and feedback is not None:
            labels = os.environ.get(feedback.labels_env) or None
            if labels is None:
                print(f"propose: {model}@{env}: {feedback.labels_env} is not set: where do its labels arrive?; skipped")
                continue
        if labels is None:
            if args.model is not None:
                raise ReconcilerError(f"{model} has no monitoring.feedback: pass --labels-from FILE")
            continue
        out.append(Work(target, labels, args.since or (feedback.since if feedback else "7d")))
    return out


def _one(args: argparse.Namespace, root: Path, desired: Any, store: Any, item: Work) -> tuple[int, str]:
    from reconciler.cli.common import open_session
    from reconciler.desired.load import STATE_DIR
    from reconciler.feedback import propose as p
    from reconciler.feedback.snapshot import labelled_rows
    from reconciler.github import actions
    from reconciler.monitor import check
    from reconciler.monitor.request_log import URL_VARIABLE, LabelError, answered, read_window
    from reconciler.render import monitor as render_monitor
    from reconciler.render.views import plan_context, render

    target = item.target
    env, model = target.resolved.environment, target.resolved.name
    where = f"{model}@{env}"
    monitoring = target.resolved.model.monitoring
    column = label_column(args.labels, monitoring)
    since = window_start(item.since)
    url = os.environ.get(URL_VARIABLE) or None
    window = check.RequestWindow(root / STATE_DIR, env, model, since, item.labels_from, column, url)
    try:
        report = check.run(target, store, window, None)
    except check.NothingToCheck as exc:
        print(f"propose: {where}: {exc}; nothing to propose")
        return 0, ""
    feedback = monitoring.feedback if monitoring else None
    if not report.drifted and not (feedback and feedback.when == "always"):
        print(f"propose: no drift in what {where} served since {item.since}: nothing to propose")
        return 0, ""
    if report.drifted:
        print(f"propose: {where} drifted: {'; '.join(report.reasons)}")
    else:
        print(f"propose: {where} did not drift; monitoring.feedback.when is always: a scheduled refresh")
    dataset = target.resolved.dataset
    log = read_window(root / STATE_DIR, env, model, since, url)
    try:
        rows = labelled_rows(log, check.read_batch(item.labels_from), column, dataset)
    except (LabelError, check.MonitorError) as exc:
        raise ReconcilerError(f"labels for {where}: {exc}") from exc
    request = p.Request(
        root=root,
        environment=env,
        model=model,
        dataset=dataset,
        spec_file=desired.state.specs.documents[("Dataset", dataset.name)].file,
        base=args.base,
        remote=args.remote,
        directory=args.dir,
        reason=f"Live traffic to `{where}` drifted."
        if report.drifted
        else f"A scheduled refresh of `{where}` (monitoring.feedback.when: always).",
    )

    def plan_markdown(tree_root: Path) -> str:
        session = open_session(tree_root, None, check_data=True, store=store)
        return render("plan.md.j2", **plan_context(session.plan, actual=session.actual))

    outcome = p.propose(request, render_monitor.markdown([report]), rows, len(answered(log)), plan_markdown, p.GitHub())
    print(f"propose: {where}: {outcome.message}")
    if outcome.kind == p.CONTRACT:
        if actions.active():
            actions.write_summary(f"### No retraining proposed for `{where}`\n\n{outcome.message}\n")
        print(f"propose: no pull request for {where}: {outcome.message}", file=sys.stderr)
        return 1, ""
    return 0, outcome.url


def _report(actions: Any, *, proposed: bool, url: str = "") -> None:
    if actions.active():
        actions.set_outputs({"proposed": str(proposed).lower(), "pull-requests": url})
