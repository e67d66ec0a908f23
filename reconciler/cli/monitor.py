"""`reconciler monitor --env E`: is what the environment serves still seeing the data it was
trained on, and still as good as its gates demand? Exit 0 within thresholds, 1 drifted, 2 error."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.cli.common import add_workspace, label_column, window_start, workspace
from reconciler.diagnostics import InvalidSpecs, ReconcilerError
from reconciler.redact import redact

EXIT_OK, EXIT_DRIFTED, EXIT_ERROR = 0, 1, 2


def register(sub: Any) -> None:
    p = sub.add_parser("monitor", help="check a live batch against what an environment's model was trained on")
    add_workspace(p)
    p.add_argument("--env", help="the environment whose deployed versions to check (default: every environment)")
    p.add_argument("--model", help="only this model (default: every model of ENV with a batch source)")
    p.add_argument("--data", metavar="FILE", help="the batch (CSV or Parquet, path or URL); default: monitoring.batch")
    p.add_argument(
        "--since",
        metavar="DURATION",
        help="check the requests `reconciler serve` answered in this window (e.g. 30m, 6h, 7d) instead of a batch",
    )
    p.add_argument(
        "--labels-from",
        metavar="FILE",
        help="with --since: true labels by request id (CSV or Parquet: request_id, optionally row, and the "
        "label column), joined to the requests to check live quality",
    )
    p.add_argument(
        "--labels", metavar="COLUMN", help="column of true labels: also check live quality against the gates"
    )
    p.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    p.add_argument(
        "--report-dir",
        type=Path,
        help="where to write the HTML, JSON and PNG reports (default: <repo>/.reconciler/reports)",
    )
    p.add_argument("--no-log", action="store_true", help="do not record the check in MLflow")
    p.set_defaults(run=run, parser_error=p.error)


@dataclass(frozen=True)
class Written:
    html: Path
    json: Path
    png: Path | None


def run(args: argparse.Namespace) -> int:
    repo = workspace(args)
    try:
        return _run(args, repo)
    except InvalidSpecs as exc:
        for diagnostic in exc.diagnostics:
            print(diagnostic, file=sys.stderr)
        print(f"reconciler: {exc}", file=sys.stderr)
    except ReconcilerError as exc:
        print(redact(f"reconciler: {exc}"), file=sys.stderr)
    return EXIT_ERROR


def _run(args: argparse.Namespace, repo: Path) -> int:
    from reconciler.desired.load import load_desired
    from reconciler.github import actions
    from reconciler.monitor import check
    from reconciler.render import monitor as render
    from reconciler.state.mlflow_store import MlflowStore

    work = _work(args, repo, load_desired(repo))
    if not work:
        print("nothing to monitor: no deployed model declares monitoring.batch")
        return EXIT_OK
    store = MlflowStore.for_repo(repo)
    out_dir = (args.report_dir or repo / ".reconciler" / "reports").absolute()
    reports = []
    failed = False
    images: dict[str, str] = {}
    for target, location in work:
        try:
            report = check.run(target, store, location, args.labels)
        except check.NothingToCheck as exc:
            if args.model is None:  # a scheduled sweep: an environment not promoted to yet is not an error
                print(f"{target.resolved.name}@{target.resolved.environment}: {exc}; skipped", file=sys.stderr)
                continue
            print(redact(f"reconciler: {exc}"), file=sys.stderr)
            failed = True
            continue
        except ReconcilerError as exc:
            print(redact(f"reconciler: {target.resolved.name}@{args.env}: {exc}"), file=sys.stderr)
            failed = True
            continue
        written = _write(report, out_dir)
        if written.png is not None:
            images[f"{report.model}@{report.environment}"] = written.png.name
        if not args.no_log:
            _log(store, report, written)
        reports.append(report)
        print(f"{report.model}@{report.environment}: report {written.html}", file=sys.stderr)

    if args.format == "json":
        print(json.dumps([r.to_json() for r in reports], indent=2, default=str))
    elif args.format == "markdown":
        print(render.markdown(reports, images), end="")
    else:
        print(render.text(reports), end="")
    if actions.active() and reports:
        actions.write_summary(render.markdown(reports))
        actions.set_outputs({"drifted": str(any(r.drifted for r in reports)).lower()})
    if failed:
        return EXIT_ERROR
    return EXIT_DRIFTED if any(r.drifted for r in reports) else EXIT_OK


def _work(args: argparse.Namespace, repo: Path, desired: Any) -> list[tuple[Any, str]]:
    """(target, batch location) for each model to check."""
    from reconciler.monitor import check

    if args.env is not None and args.env not in desired.state.specs.environments:
        raise ReconcilerError(f"no environment '{args.env}' in the specs")
    if args.env is None and (args.model is not None or args.data is not None):
        raise ReconcilerError("--model and --data need --env: the environment whose deployed version to check")
    envs = [args.env] if args.env else list(desired.state.environment_order)
    deployed = [(env, m) for env in envs for m in sorted(m for (e, m) in desired.targets if e == env)]
    if args.model is not None and (args.env, args.model) not in deployed:
        shown = ", ".join(m for _, m in deployed)
        raise ReconcilerError(f"model '{args.model}' is not deployed to '{args.env}' (deployed: {shown})")
    if args.data is not None and args.model is None and len(deployed) > 1:
        raise ReconcilerError("--data is one batch: name the model it is for with --model")
    if args.since is not None and args.data is not None:
        raise ReconcilerError("--since reads the request log; --data names a batch: give one of them")
    if args.labels_from is not None and args.since is None:
        raise ReconcilerError("--labels-from joins labels to served requests: it needs --since")
    from reconciler.desired.load import STATE_DIR
    from reconciler.monitor.request_log import URL_VARIABLE

    since = window_start(args.since) if args.since is not None else None
    work: list[tuple[Any, Any]] = []
    for env, name in [(args.env, args.model)] if args.model else deployed:
        target = desired.targets[(env, name)]
        if since is not None:
            monitoring = target.resolved.model.monitoring
            column = label_column(args.labels, monitoring)
            url = os.environ.get(URL_VARIABLE) or None
            window = check.RequestWindow(repo / STATE_DIR, env, name, since, args.labels_from, column, url)
            work.append((target, window))
            continue
        location = check.batch_location(target, repo, args.data)
        if location is None:
            if args.model is not None:
                raise ReconcilerError(f"{name} has no monitoring.batch in its spec: pass --data FILE")
            print(f"{name}@{env}: no batch source (monitoring.batch); skipped", file=sys.stderr)
            continue
        work.append((target, location))
    return work


def _write(report: Any, out_dir: Path) -> Written:
    from reconciler.render import monitor as render

    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{report.environment}-{report.model}"
    html = out_dir / f"{stem}.html"
    html.write_text(render.html(report), encoding="utf-8")
    body = out_dir / f"{stem}.json"
    body.write_text(json.dumps(report.to_json(), indent=2, default=str), encoding="utf-8")
    worst = render.most_drifted(report)
    png = render.histogram_png(worst, out_dir / f"{stem}-{_safe(worst.name)}.png") if worst else None
    return Written(html, body, png)


def _log(store: Any, report: Any, written: Written) -> None:
    rm = store.read_model(report.model)
    version = rm.versions[report.version]
    metrics = {"drifted_share": report.drift.drifted_share, "rows": float(report.rows)}
    for f in report.drift.features:
        metrics[f"psi.{_safe(f.name)}"] = f.psi
    if report.drift.prediction is not None:
        metrics["psi.prediction"] = report.drift.prediction.psi
    for q in report.quality:
        if q.live is not None:
            metrics[f"live.{_safe(q.metric)}"] = q.live
    summary = {
        "at": report.checked_at,
        "verdict": report.verdict,
        "drifted": [f.name for f in report.drift.drifted_features],
        "rows": report.rows,
    }
    files = [written.html, written.json] + ([written.png] if written.png else [])
    store.log_monitoring(version, report.environment, metrics, summary, files)


def _safe(name: str) -> str:
    """MLflow metric keys and file names allow a narrow alphabet."""
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name)[:200]
