"""Command line: `main(argv) -> int`, one module per command."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from reconciler import __version__
from reconciler.cli import (
    apply,
    history,
    init,
    inputs,
    monitor,
    pin,
    plan,
    propose,
    render,
    rollout,
    schema,
    serve,
    snapshot,
    status,
    unlock,
    validate,
)
from reconciler.diagnostics import InvalidSpecs, ReconcilerError
from reconciler.github import actions as gha
from reconciler.redact import redact

COMMANDS = (
    init,
    validate,
    plan,
    apply,
    status,
    history,
    monitor,
    snapshot,
    propose,
    pin,
    serve,
    rollout,
    render,
    unlock,
    schema,
    inputs,
)


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
    if not gha.active():
        return _run(args)
    from reconciler.github.guard import guarded

    with guarded():  # text from specs, data and the registry must never become a workflow command
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.run(args))
    except InvalidSpecs as exc:
        for diagnostic in exc.diagnostics:
            print(diagnostic, file=sys.stderr)
        print(f"reconciler: {exc}", file=sys.stderr)
        return 1
    except ReconcilerError as exc:
        print(redact(f"reconciler: {exc}"), file=sys.stderr)
        return int(getattr(exc, "exit_code", 1))
    except KeyboardInterrupt:
        print("reconciler: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        # A bug, not a user error: one line by default, the traceback when asked for.
        if os.environ.get("RECONCILER_DEBUG"):
            # The traceback, redacted like every other output (it can hold a tracking URI).
            print(redact(traceback.format_exc()), file=sys.stderr, end="")
            return 3
        print(redact(f"reconciler: internal error: {type(exc).__name__}: {exc}".splitlines()[0]), file=sys.stderr)
        print("reconciler: set RECONCILER_DEBUG=1 to see the traceback", file=sys.stderr)
        return 3
