"""`reconciler inputs [REPO]`: the paths the reconciler reads, one per line: the spec
directories and the data files datasets name. For CI: a change that touches none of them has
nothing to plan (`git diff --quiet BASE -- $(reconciler inputs)`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("inputs", help="list the paths the reconciler reads (spec directories, data files)")
    p.add_argument("repo", nargs="?", default=".", type=Path, help="repository root (default: .)")
    p.set_defaults(run=run, parser_error=p.error)


def run(args: argparse.Namespace) -> int:
    from reconciler.desired.load import watched_paths
    from reconciler.spec.loader import load_repo

    repo: Path = args.repo
    if not repo.is_dir():
        args.parser_error(f"repository '{repo}' is not a directory")
    # Specs with errors still name their data files: a pull request that breaks a spec
    # touches a spec directory anyway, and is planned (and its errors reported).
    for path in watched_paths(load_repo(repo).desired):
        print(path)
    return 0
