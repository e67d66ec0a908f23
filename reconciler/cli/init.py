"""`reconciler init [DIR]`: start a configuration repository that validates, applies and has
its workflows (see reconciler.scaffold for what is written)."""

from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path
from typing import Any

from reconciler import __version__
from reconciler.scaffold import PLACEHOLDER_ACTION, scaffold
from reconciler.vcs.workspace import git_top_level


def register(sub: Any) -> None:
    p = sub.add_parser("init", help="start a repository: example specs, policies, workflows, .gitignore, README")
    p.add_argument("dir", nargs="?", default=Path("."), type=Path, help="where (default: .; made if missing)")
    p.add_argument(
        "--action",
        default=PLACEHOLDER_ACTION,
        metavar="OWNER/REPO@REF",
        help="the reconciler's GitHub Action the workflows use: where you publish or mirror it, at a "
        f"release tag (default: {PLACEHOLDER_ACTION}, to replace)",
    )
    p.set_defaults(run=run, parser_error=p.error)


def run(args: argparse.Namespace) -> int:
    dest: Path = args.dir
    if dest.exists() and not dest.is_dir():
        args.parser_error(f"'{dest}' is not a directory")
    dest.mkdir(parents=True, exist_ok=True)
    written = scaffold(dest, args.action, __version__)
    print(f"Started a reconciler repository in {dest}:")
    for w in written:
        print(f"  {w.how:<9}{w.path}")
    print("\nNext:")
    if Path(os.path.abspath(dest)) != Path.cwd():
        print(f"  cd {shlex.quote(str(dest))}")
    top = git_top_level(Path(os.path.abspath(dest)))
    if top is None:
        print("  git init -b main")
    elif top != Path(os.path.abspath(dest)):
        print(f"  (GitHub reads workflows only from {top}/.github/workflows: move them there)")
    print('  git add -A && git commit -m "Start from reconciler init"')
    print("  reconciler apply          # trains, evaluates and promotes into .reconciler/ (git-ignored)")
    if args.action == PLACEHOLDER_ACTION:
        print(
            f"  .github/workflows/*.yml use {PLACEHOLDER_ACTION}: replace it with where the reconciler's action "
            "is published (or run init with --action)"
        )
    return 0
