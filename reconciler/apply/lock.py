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

from reconciler import chaos
from reconciler.diagnostics import ReconcilerError
from reconciler.state.mlflow_store import Lease, LeaseLost, MlflowStore, RegistryError

POLL_SECONDS = 1.0


def lease_default() -> float:
    return float(os.environ.get("RECONCILER_LOCK_LEASE_SECONDS", "60"))


def holder_name() -> str:
    who = f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()}"
    if os.environ.get("GITHUB_ACTIONS") == "true":
        repo, run = os.environ.get("GITHUB_REPOSITORY", ""), os.environ.get("GITHUB_RUN_ID", "")
        who += f" (GitHub Actions {repo} run {run})"
    return who


def when(ts: float) -> str:
    try:
        return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="seconds")
    except (ValueError, OverflowError, OSError):
        return "an unreadable time"


def dead_here(lease: Lease) -> bool:
    """A holder on this host whose process is gone (killed, crashed): no need to wait out its
    lease. Anything unsure (another host, a pid we may not signal) counts as alive."""
    if not lease.pid or lease.host != socket.gethostname() or lease.pid == os.getpid():
        return False
    try:
        os.kill(lease.pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def _not_ours(held: Lease | None) -> str:
    return f"taken over by {held.holder}" if held is not None else "the lock was removed"


class RegistryLock:
    """Held for a whole run that writes. While held, the store calls `fence` before every
    write: a lease that was lost (taken over) or may have run out (renewals failed, or the
    process was frozen past it) stops the run before its next write, with LeaseLost.

    MLflow offers no conditional write, so this is fencing by the writer, not by the store:
    writes that must never happen twice (creating a version, moving an alias) re-read the
    lock's token first, and every other write checks the lease's time locally. A run is told
    to stop while at least a sixth of its lease remains, so a write it starts then ends before
    anyone may take over, unless it takes longer than that.
    """

    def __init__(
        self,
        store: MlflowStore,
        *,
        timeout: float,
        lease_seconds: float | None = None,
        say: Callable[[str], None] = print,
    ) -> None:
        self.store = store
        self.timeout = timeout
        self.lease_seconds = lease_seconds if lease_seconds is not None else lease_default()
        self.say = say
        self.token = uuid.uuid4().hex
        self.holder = holder_name()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost: str | None = None  # why the lease is no longer ours
        self.valid_until = 0.0  # the expiry of the last lease written, by this host's clock

    def _lease(self) -> Lease:
        now = time.time()
        return Lease(self.token, self.holder, now, now + self.lease_seconds, socket.gethostname(), os.getpid())

    def __enter__(self) -> RegistryLock:
        start = time.monotonic()
        announced = False
        # Opens the store first (importing MLflow, creating a new store's schema: seconds), so
        # that the lease written next is not partly spent before it is even taken.
        self.store.read_lock()
        while True:
            lease = self._lease()
            try:
                held = self.store.try_lock(lease)
            except RegistryError:
                # A busy store (SQLite locked by another writer) while polling: poll again.
                if time.monotonic() - start >= self.timeout:
                    raise
                time.sleep(POLL_SECONDS)
                continue
            if held is None:
                self.valid_until = lease.expires
                break
            if held.expires < time.time() or dead_here(held):
                why = f"the lease of {held.holder} expired at {when(held.expires)}"
                if held.expires >= time.time():
                    why = f"{held.holder} is no longer running on this host"
                if self.store.retire_lock(held):
                    self.say(f"lock: {why}; taking over")
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
        self.store.fence = self.fence
        self._thread = threading.Thread(target=self._renew, name="reconciler-lease", daemon=True)
        self._thread.start()
        chaos.point("lock:after-acquire")
        return self

    def fence(self, critical: bool = False) -> None:
        """Raise LeaseLost unless this run may still write."""
        if self.lost is None and time.time() > self.valid_until - self.lease_seconds / 6:
            self.lost = f"the lease ran out at {when(self.valid_until)} without being renewed"
        if self.lost is None and critical:
            try:
                held = self.store.read_lock()
            except RegistryError:  # a busy store: once more, then let the error stand
                time.sleep(POLL_SECONDS / 2)
                held = self.store.read_lock()
            if held is None or held.token != self.token:
                self.lost = _not_ours(held)
        if self.lost is not None:
            raise LeaseLost(self.lost)

    def _renew(self) -> None:
        while not self._stop.wait(self.lease_seconds / 3):
            if time.time() > self.valid_until:
                # Frozen or cut off past the lease: someone may hold the lock now, and a renewal
                # racing their takeover could write our expiry onto their lock.
                self.lost = self.lost or f"the lease ran out at {when(self.valid_until)} without being renewed"
                return
            lease = self._lease()
            try:
                chaos.fail("lock:renew")
                if not self.store.renew_lock(lease):
                    self.lost = _not_ours(self.store.read_lock())
                    return
                self.valid_until = lease.expires
            except Exception:  # any failure: retry; `fence` stops writes if it lasts
                continue

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.store.fence = None
        if self.lost is not None or time.time() > self.valid_until - self.lease_seconds / 6:
            return  # the lock may be someone else's by now: never delete it
        with contextlib.suppress(ReconcilerError):  # if this fails, the lease expires on its own
            self.store.release_lock(self.token)
