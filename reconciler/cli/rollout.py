"""`reconciler rollout`: advance the rollouts under way from the request log (one analysis run
each, when due), or end one by hand (`--promote`, `--abort`), like `kubectl argo rollouts`."""

from __future__ import annotations

import argparse
import os
import time
from datetime import datetime, timezone
from typing import Any

from reconciler.cli.common import add_workspace, valid_specs, workspace
from reconciler.diagnostics import ReconcilerError


def register(sub: Any) -> None:
    p = sub.add_parser(
        "rollout", help="advance rollouts from the request log (one analysis run each), or promote/abort one"
    )
    add_workspace(p)
    p.add_argument("--env", action="append", metavar="ENV", help="only this environment (repeatable)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--promote", metavar="MODEL", help="promote MODEL's candidate now, skipping the steps left")
    which.add_argument("--abort", metavar="MODEL", help="abort MODEL's rollout now; the alias stays")
    p.add_argument("--lock-timeout", type=float, default=600.0, help="seconds to wait for another run's registry lock")
    p.set_defaults(run=run, parser_error=p.error)


def run(args: argparse.Namespace) -> int:
    from reconciler.apply.lock import RegistryLock
    from reconciler.state.mlflow_store import MlflowStore

    root = workspace(args)
    valid_specs(root, args.env)
    store = MlflowStore.for_repo(root)
    with RegistryLock(store, timeout=args.lock_timeout, say=lambda text: print(text, flush=True)):
        actual = store.read()
        under_way = [
            (name, state)
            for name, rm in sorted(actual.models.items())
            for env, state in sorted(rm.rollouts.items())
            if state.progressing and (not args.env or env in args.env)
        ]
        chosen = args.promote or args.abort
        if chosen:
            return _by_hand(store, under_way, chosen, promote=bool(args.promote), envs=args.env)
        if not under_way:
            print("no rollout under way" + (f" in {', '.join(args.env)}" if args.env else ""))
            return 0
        return _advance(root, store, actual, under_way)


def _advance(root: Any, store: Any, actual: Any, under_way: list[tuple[str, Any]]) -> int:
    from reconciler.desired.load import STATE_DIR
    from reconciler.monitor.request_log import URL_VARIABLE, read_window
    from reconciler.rollout import from_log
    from reconciler.rollout.controller import Controller
    from reconciler.rollout.steps import ABORT, due

    url = os.environ.get(URL_VARIABLE) or None
    controller = Controller(store, say=lambda text: None)
    aborted = 0
    for model, state in under_way:
        where = f"{state.environment}/{model} v{state.candidate}"
        if not due(state, time.time()):
            print(f"{where}: {state.where()}; next analysis not due yet")
            continue
        started = datetime.fromisoformat(state.started) if state.started else datetime.fromtimestamp(0, timezone.utc)
        frame = read_window(root / STATE_DIR, state.environment, model, started, url)
        profile = _profile(store, actual, model, state)
        decision = controller.tick(model, state, from_log.observations(frame, state), profile)
        if decision is None:
            print(f"{where}: another process moved the rollout first; run again")
            continue
        print(f"{where}: {decision.kind}: {decision.reason}")
        aborted += decision.kind == ABORT
    return 1 if aborted else 0


def _profile(store: Any, actual: Any, model: str, state: Any) -> Any:
    analysis = state.spec.analysis
    if analysis is None or not any(m.metric == "input_drift" for m in analysis.metrics):
        return None
    version = actual.models[model].versions.get(state.candidate)
    return store.load_profile(version) if version is not None else None


def _by_hand(store: Any, under_way: list[tuple[str, Any]], model: str, *, promote: bool, envs: Any) -> int:
    from dataclasses import replace

    from reconciler.rollout.controller import Controller
    from reconciler.rollout.steps import ABORT, PROMOTE, Decision
    from reconciler.state.rollout import ABORTED, PROMOTED

    mine = [state for name, state in under_way if name == model]
    if not mine:
        raise ReconcilerError(f"no rollout of '{model}' under way" + (f" in {', '.join(envs)}" if envs else ""))
    if len(mine) > 1:
        raise ReconcilerError(f"'{model}' rolls out in {', '.join(s.environment for s in mine)}: name one with --env")
    state = mine[0]
    left = len(state.spec.steps) - state.step
    if promote:
        reason = f"promoted by hand at {state.where()} ({left} step{'s' if left != 1 else ''} skipped)"
        decision = Decision(PROMOTE, replace(state, phase=PROMOTED, reason=reason), reason)
    else:
        reason = f"aborted by hand at {state.where()}"
        decision = Decision(ABORT, replace(state, phase=ABORTED, reason=reason), reason)
    if not Controller(store, say=lambda text: None).write(model, state, decision, time.time()):
        raise ReconcilerError("the rollout changed while ending it; run again")
    print(f"{state.environment}/{model} v{state.candidate}: {reason}")
    return 0
