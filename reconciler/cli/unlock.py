"""`reconciler unlock [REPO]`: remove the registry lock left by a run that died."""

from __future__ import annotations

import argparse
from typing import Any

from reconciler.apply.lock import when
from reconciler.cli.common import add_workspace, workspace
from reconciler.state.mlflow_store import MlflowStore


def register(sub: Any) -> None:
    p = sub.add_parser("unlock", help="remove the registry lock (only when its holder is dead)")
    add_workspace(p)
    p.set_defaults(run=run, parser_error=p.error)


def run(args: argparse.Namespace) -> int:
    store = MlflowStore.for_repo(workspace(args))
    removed = store.release_lock(None)
    if removed is None:
        print(f"no lock held on {store.location}")
    else:
        print(f"removed the lock of {removed.holder}, held since {when(removed.acquired)}")
    return 0
