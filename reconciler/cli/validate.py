"""`reconciler validate [REPO]`: check every spec; exit 0 when valid, 1 when not."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from reconciler.cli.common import add_workspace, workspace
from reconciler.render.diagnostics import FORMATS, render


def register(sub: Any) -> None:
    p = sub.add_parser("validate", help="check every spec file and report all errors at once")
    add_workspace(p)
    p.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    p.set_defaults(run=run, parser_error=p.error)


def run(args: argparse.Namespace) -> int:
    from reconciler.desired.load import validate_repo

    repo = workspace(args)
    result = validate_repo(repo)
    diagnostics = result.diagnostics
    if result.ok:
        # Only on valid specs: the data is read where the specs say, so they must make sense first.
        from reconciler.data.checks import data_diagnostics
        from reconciler.spec.catalog import load_catalog

        diagnostics = tuple(sorted((*diagnostics, *data_diagnostics(result.desired, repo, load_catalog()))))
    from reconciler.spec.catalog import load_catalog

    catalog = load_catalog()
    if catalog.note:
        print(f"note: {catalog.note}", file=sys.stderr)
    text = render(diagnostics, result.desired.specs.count(), len(result.files), args.format)
    if args.format == "github":
        from reconciler.github import actions as gha

        gha.print_commands(text)  # our annotations: written around the output guard
    else:
        print(text)
    return 0 if not any(d.severity == "error" for d in diagnostics) else 1
