"""`reconciler snapshot`: what an environment served, with its true labels, as new rows for the
model's Dataset: a content-addressed Parquet file, the Dataset's contract checked on it, and
(with --pin) the file pinned in the Dataset spec, comments and layout kept."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from reconciler.cli.common import add_workspace, label_column, valid_specs, window_start, workspace
from reconciler.diagnostics import ReconcilerError


def register(sub: Any) -> None:
    p = sub.add_parser("snapshot", help="turn served requests and their labels into rows for the model's Dataset")
    add_workspace(p)
    p.add_argument("--env", required=True, help="the environment whose served requests to take")
    p.add_argument("--model", required=True, help="the model whose Dataset gets the rows")
    p.add_argument("--since", required=True, metavar="DURATION", help="the window of the request log (30m, 6h, 7d)")
    p.add_argument(
        "--labels-from",
        required=True,
        metavar="FILE",
        help="true labels by request id (CSV or Parquet, path or URL: request_id, optionally row, the label)",
    )
    p.add_argument("--labels", metavar="COLUMN", help="the label column (default: monitoring.labels, else label)")
    p.add_argument("--dir", default="data/snapshots", help="where in the repository (default: data/snapshots)")
    p.add_argument("--pin", action="store_true", help="add the snapshot to the Dataset spec's snapshots")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(run=run, parser_error=p.error)


def run(args: argparse.Namespace) -> int:
    from reconciler.desired.load import STATE_DIR
    from reconciler.feedback.snapshot import labelled_rows, take
    from reconciler.monitor.check import MonitorError, read_batch
    from reconciler.monitor.request_log import URL_VARIABLE, LabelError, answered, read_window
    from reconciler.sources.files import check_repo_path
    from reconciler.spec.edit import add_snapshot

    root = workspace(args)
    result = valid_specs(root, [args.env])
    resolved = result.desired.resolved.get((args.env, args.model))
    if resolved is None:
        raise ReconcilerError(f"'{args.model}' is not deployed to '{args.env}'")
    # The file it will write, checked like every path a spec names: inside the repository.
    problem = check_repo_path(f"{args.dir.rstrip('/')}/{args.model}.parquet", root, (".parquet",), must_exist=False)
    if problem is not None:
        args.parser_error(f"--dir: {problem}")
    dataset = resolved.dataset
    monitoring = resolved.model.monitoring
    column = label_column(args.labels, monitoring)
    window = read_window(root / STATE_DIR, args.env, args.model, window_start(args.since), os.environ.get(URL_VARIABLE))
    served = len(answered(window)) if not window.empty else 0
    try:
        labels = read_batch(args.labels_from)
        rows = labelled_rows(window, labels, column, dataset) if served else window.iloc[0:0]
    except (LabelError, MonitorError) as exc:
        raise ReconcilerError(f"labels {args.labels_from}: {exc}") from exc
    snap = take(root, dataset, rows, served, args.dir)
    pinned = False
    if args.pin and snap.passed:
        doc = result.desired.specs.documents[("Dataset", dataset.name)]
        pinned = add_snapshot(root / doc.file, dataset.name, snap.path, snap.sha256)
    if args.format == "json":
        print(json.dumps({**snap.__dict__, "contract": list(snap.contract), "pinned": pinned}, sort_keys=True))
    else:
        verb = "wrote" if snap.written else "already had"
        print(f"snapshot: {verb} {snap.path}: {snap.rows} labelled rows of {snap.served} served, sha256 {snap.sha256}")
        if snap.passed:
            print(f"snapshot: the data contract of '{dataset.name}' passed")
        for message in snap.contract:
            print(f"snapshot: data contract of '{dataset.name}' failed: {message}")
        if pinned:
            doc = result.desired.specs.documents[("Dataset", dataset.name)]
            print(f"snapshot: pinned in {Path(doc.file).as_posix()}; commit both files to train on it")
        elif args.pin and snap.passed:
            print("snapshot: already pinned")
    return 0 if snap.passed else 1
