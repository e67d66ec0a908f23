"""Fits that can be stopped: each runs in a child process with a time budget.

A spec decides how long a fit takes (`n_estimators: 1000000000`, `max_iter` with `tol: null`),
and much of scikit-learn's work is one long call into compiled code that nothing in the
process can interrupt. So every fit runs in a child forked from a forkserver (a clean process
started once, scikit-learn and pandas already imported, no threads or database connections:
about 40 ms per fit once it runs) and the applying process waits on it with the model's
budget; past it the child is killed, the model fails with the reason, and the others go on. A
child the kernel kills (out of memory) is that model's failure too.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing.connection import Connection, wait
from typing import Any

from reconciler.apply.fit import Fitted, Progress, fit_guarded
from reconciler.desired.model import Target
from reconciler.spec.catalog import Catalog

DEFAULT_TRAIN_SECONDS = 3600.0
STOP_POLL_SECONDS = 0.5  # how soon background fits notice they are no longer wanted


def train_budget(target: Target) -> float:
    limit = target.resolved.model.training.max_seconds
    if limit is not None:
        return float(limit)
    try:
        return float(os.environ.get("RECONCILER_MAX_TRAIN_SECONDS", DEFAULT_TRAIN_SECONDS))
    except ValueError:
        return DEFAULT_TRAIN_SECONDS


# What nearly every fit imports: loaded once in the server instead of once per child (each
# scikit-learn subpackage costs a few hundred milliseconds to import).
PRELOAD = [
    "reconciler.apply.fit",
    "reconciler.data.frames",
    "pandas",
    "sklearn.datasets",
    "sklearn.model_selection",
    "sklearn.metrics",
    "sklearn.pipeline",
    "sklearn.preprocessing",
    "sklearn.linear_model",
    "sklearn.ensemble",
    "sklearn.tree",
    "sklearn.dummy",
    "skops.io",
]


@lru_cache(maxsize=1)
def _context() -> Any:
    context = multiprocessing.get_context("forkserver")
    # Imported once in the server, so each forked child starts with them loaded.
    context.set_forkserver_preload(PRELOAD)
    return context


def warm_up() -> None:
    """Start the fork server in the background (about two seconds of imports on another core)
    while this process still reads specs and the registry; the first fit then starts at once."""
    import threading

    def start() -> None:
        from multiprocessing import forkserver

        _context()
        forkserver.ensure_running()

    threading.Thread(target=start, name="reconciler-forkserver", daemon=True).start()


def _child(conn: Connection, target: Target, catalog: Catalog, environ: dict[str, str]) -> None:
    # The server was started with the environment of that moment; the fit sees today's.
    os.environ.clear()
    os.environ.update(environ)
    fitted = fit_guarded(target, catalog)
    try:
        conn.send(fitted)
    except Exception as exc:  # an estimator that cannot be pickled back
        conn.send(Fitted(error=f"the fitted model could not be sent back: {type(exc).__name__}: {exc}"))
    conn.close()


@dataclass
class _Running:
    key: tuple[str, str]
    process: Any
    conn: Connection
    started: float
    budget: float


def fit_within_budget(target: Target, catalog: Catalog) -> Fitted:
    key = (target.resolved.name, target.entry.fingerprint)
    return fit_many({key: target}, catalog, 1)[key]


def fit_many(
    work: Mapping[tuple[str, str], Target],
    catalog: Catalog,
    jobs: int,
    progress: Progress | None = None,
    *,
    on_fitted: Callable[[tuple[str, str], Fitted], None] | None = None,
    stop: threading.Event | None = None,
) -> dict[tuple[str, str], Fitted]:
    """Fit each (model, fingerprint) in `work`, up to `jobs` at once, each within its budget;
    `on_fitted` hears of each as it comes back. Once `stop` is set, running fits are killed and
    what came back so far is returned."""
    context = _context()
    pending = list(work.items())
    running: list[_Running] = []
    out: dict[tuple[str, str], Fitted] = {}
    start = time.monotonic()
    while pending or running:
        if stop is not None and stop.is_set():
            for r in running:
                r.process.kill()
                r.process.join()
                r.conn.close()
            return out
        while pending and len(running) < max(1, jobs):
            key, target = pending.pop(0)
            receive, send = context.Pipe(duplex=False)
            process = context.Process(target=_child, args=(send, target, catalog, dict(os.environ)), daemon=True)
            process.start()
            send.close()
            running.append(_Running(key, process, receive, time.monotonic(), train_budget(target)))
        now = time.monotonic()
        timeout = max(0.0, min(r.started + r.budget - now for r in running))
        if stop is not None:
            timeout = min(timeout, STOP_POLL_SECONDS)
        wait([r.conn for r in running] + [r.process.sentinel for r in running], timeout=timeout)
        for r in list(running):
            fitted = _collect(r)
            if fitted is None:
                continue
            running.remove(r)
            out[r.key] = fitted
            if on_fitted is not None:
                on_fitted(r.key, fitted)
            if progress is not None:
                progress(len(out), len(work), r.key[0], time.monotonic() - start)
    return out


def _collect(r: _Running) -> Fitted | None:
    """The child's result once there is one; None while it is still fitting within budget."""
    if r.conn.poll():
        try:
            fitted: Fitted = r.conn.recv()
        except (EOFError, OSError) as exc:
            fitted = Fitted(error=f"the training process failed: {type(exc).__name__}")
        r.process.join()
        r.conn.close()
        return fitted
    if not r.process.is_alive():
        r.process.join()
        r.conn.close()
        code = r.process.exitcode
        why = "killed, maybe for lack of memory" if code is not None and code < 0 else f"exit code {code}"
        return Fitted(error=f"the training process died ({why})")
    if time.monotonic() - r.started > r.budget:
        r.process.kill()
        r.process.join()
        r.conn.close()
        return Fitted(
            error=f"training ran past its budget of {r.budget:g} s and was stopped "
            "(training.max_seconds in the model spec, or RECONCILER_MAX_TRAIN_SECONDS)"
        )
    return None
