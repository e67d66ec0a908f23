"""One apply at a time per registry: a lease stored in the registry itself.

Works the same on the local SQLite store and on a shared tracking server, because it lives
where the state lives. The lease expires unless its holder renews it, so a runner that was
killed (a cancelled CI job) never leaves the registry locked for longer than one lease;
`reconciler unlock` removes a lock by hand.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from types import TracebackType

from reconciler.apply import chaos
from reconciler.diagnostics import ReconcilerError
from reconciler.state.mlflow_store import Lease, MlflowStore

LEASE_SECONDS = float(os.environ.get("RECONCILER_LOCK_LEASE_SECONDS", "60"))
POLL_SECONDS = 1.0


def holder_name() -> str:
    who = f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()}"
    if os.environ.get("GITHUB_ACTIONS") == "true":
        repo, run = os.environ.get("GITHUB_REPOSITORY", ""), os.environ.get("GITHUB_RUN_ID", "")
        who += f" (GitHub Actions {repo} run {run})"
    return who


def when(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="seconds")


class RegistryLock:
    def __init__(
        self,
        store: MlflowStore,
        *,
        timeout: float,
        lease_seconds: float = LEASE_SECONDS,
        say: Callable[[str], None] = print,
    ) -> None:
        self.store = store
        self.timeout = timeout
        self.lease_seconds = lease_seconds
        self.say = say
        self.token = uuid.uuid4().hex
        self.holder = holder_name()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = False

    def _lease(self) -> Lease:
        now = time.time()
        return Lease(self.token, self.holder, now, now + self.lease_seconds)

    def __enter__(self) -> RegistryLock:
        start = time.monotonic()
        announced = False
        while True:
            held = self.store.try_lock(self._lease())
            if held is None:
                break
            if held.expires < time.time():
                self.say(f"lock: the lease of {held.holder} expired at {when(held.expires)}; taking over")
                self.store.release_lock(held.token or None)
                continue
            waited = time.monotonic() - start
            if waited >= self.timeout:
                raise ReconcilerError(
                    f"the registry is locked by {held.holder} since {when(held.acquired)} "
                    f"(lease until {when(held.expires)}); gave up after {self.timeout:g}s. "
                    "If that run is dead, the lease expires on its own, or run `reconciler unlock`"
                )
            if not announced:
                self.say(f"lock: waiting for {held.holder} (holding since {when(held.acquired)})")
                announced = True
            time.sleep(min(POLL_SECONDS, self.timeout - waited))
        self._thread = threading.Thread(target=self._renew, name="reconciler-lease", daemon=True)
        self._thread.start()
        chaos.point("lock:after-acquire")
        return self

    def _renew(self) -> None:
        while not self._stop.wait(self.lease_seconds / 3):
            try:
                if not self.store.renew_lock(self._lease()):
                    self.lost = True
                    return
            except ReconcilerError:
                continue  # a blip; the lease still has two thirds of its time

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with contextlib.suppress(ReconcilerError):  # if this fails, the lease expires on its own
            self.store.release_lock(self.token)
