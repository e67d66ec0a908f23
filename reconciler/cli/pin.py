"""`reconciler pin DATASET`: move a Dataset's pin to another version of data kept outside git
(an S3 object version, a Delta table version, a commit of another DVC repository), once that
version is known to exist and to pass the Dataset's contract; the spec is rewritten in place,
comments and layout kept, for a pull request to review."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from reconciler.cli.common import add_workspace, workspace
from reconciler.diagnostics import ReconcilerError


def register(sub: Any) -> None:
    p = sub.add_parser("pin", help="pin a Dataset kept outside git to its latest or a given version")
    p.add_argument("dataset", help="the Dataset's name")
    add_workspace(p)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--latest", action="store_true", help="the newest version (the default)")
    which.add_argument("--version", metavar="V", help="this version: an S3 version id, a Delta version, a git ref")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(run=run, parser_error=p.error)


def run(args: argparse.Namespace) -> int:
    from reconciler.data.frames import contract_failures
    from reconciler.sources import source_type
    from reconciler.sources.base import PinError
    from reconciler.sources.files import DataFileError
    from reconciler.spec.edit import set_source_fields
    from reconciler.spec.loader import load_repo

    root = workspace(args)
    # Not only valid specs: an unpinned source (no version_id yet) is what this command fixes.
    specs = load_repo(root).desired.specs
    dataset = specs.datasets.get(args.dataset)
    if dataset is None:
        known = ", ".join(sorted(specs.datasets)) or "none"
        raise ReconcilerError(f"no Dataset named '{args.dataset}' (known: {known})")
    kind = source_type(dataset.source)
    before = kind.pin(dataset.source, root)  # None for a source not pinned yet
    try:
        repin = kind.repin(dataset.source, root, args.version)
        frame = source_type(repin.source).load(repin.source, root)
    except (PinError, DataFileError) as exc:
        raise ReconcilerError(f"{args.dataset}: {exc}") from exc
    candidate = dataset.model_copy(update={"source": repin.source})
    failures = [message for _, message in contract_failures(candidate, frame)]
    if failures:
        why = "; ".join(failures)
        raise ReconcilerError(f"{args.dataset}: {repin.described} fails the data contract; the pin is unchanged: {why}")
    doc = specs.documents[("Dataset", args.dataset)]
    changed = set_source_fields(root / doc.file, args.dataset, repin.fields)
    shown = Path(doc.file).as_posix()
    if args.format == "json":
        fields = {".".join(k): v for k, v in repin.fields.items()}
        out = {"dataset": args.dataset, "file": shown, "changed": changed, "fields": fields, "rows": len(frame)}
        print(json.dumps(out, sort_keys=True))
    elif changed:
        was = before or "(unpinned)"
        print(f"pin: {args.dataset}: {was} -> {repin.described} ({len(frame)} rows, contract passed)")
        print(f"pin: wrote {shown}; commit it (a pull request shows what retrains)")
    else:
        print(f"pin: {args.dataset} is already at {repin.described}")
    return 0
