"""`reconciler inputs [REPO]`: the paths the reconciler reads, one per line: the spec
directories and the data files datasets name. For CI: a change that touches none of them has
nothing to plan (`git diff --quiet BASE -- $(reconciler inputs)`)."""

from __future__ import annotations

import argparse
from typing import Any

from reconciler.cli.common import add_workspace, workspace


def register(sub: Any) -> None:
    p = sub.add_parser("inputs", help="list the paths the reconciler reads (spec directories, data files)")
    add_workspace(p)
    p.set_defaults(run=run, parser_error=p.error)


def run(args: argparse.Namespace) -> int:
    from reconciler.desired.load import watched_paths
    from reconciler.spec.loader import load_repo

    repo = workspace(args)
    # Specs with errors still name their data files: a pull request that breaks a spec
    # touches a spec directory anyway, and is planned (and its errors reported).
    for path in watched_paths(load_repo(repo).desired):
        print(path)
    return 0
