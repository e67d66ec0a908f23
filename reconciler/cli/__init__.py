"""Command line: `main(argv) -> int`, one module per command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from reconciler import __version__
from reconciler.cli import schema, validate
from reconciler.diagnostics import ReconcilerError

COMMANDS = (validate, schema)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="reconciler",
        description="Reconcile ML models in MLflow with the specs in this git repository.",
    )
    root.add_argument("--version", action="version", version=f"reconciler {__version__}")
    sub = root.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(sub)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.run(args))
    except ReconcilerError as exc:
        print(f"reconciler: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("reconciler: interrupted", file=sys.stderr)
        return 130
