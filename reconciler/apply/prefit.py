"""Fits done ahead of their train step: some already here, the rest fitting in the background
while the apply records, in plan order, the ones that are done (registry writes never overlap
each other; only fitting overlaps recording)."""

from __future__ import annotations

import threading
from collections.abc import Mapping

from reconciler.apply.budget import fit_many
from reconciler.apply.fit import Fitted, Progress
from reconciler.desired.model import Target
from reconciler.spec.catalog import Catalog

Key = tuple[str, str]  # (model, fingerprint)


class Prefits:
    def __init__(self, ready: Mapping[Key, Fitted] | None = None) -> None:
        self._ready: dict[Key, Fitted] = dict(ready or {})
        self._pending: set[Key] = set()
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __contains__(self, key: object) -> bool:
        with self._changed:
            return key in self._ready or key in self._pending

    def put(self, key: Key, fitted: Fitted) -> None:
        with self._changed:
            self._ready[key] = fitted
            self._pending.discard(key)
            self._changed.notify_all()

    def start(self, work: Mapping[Key, Target], catalog: Catalog, jobs: int, progress: Progress | None) -> None:
        """Fit `work` in the background, up to `jobs` at once, in the order given."""
        with self._changed:
            self._pending.update(work)

        def fit() -> None:
            try:
                fit_many(work, catalog, jobs, progress, on_fitted=self.put, stop=self._stop)
            except Exception:  # never a traceback from a thread: the steps fit these themselves
                pass
            finally:
                # Whatever did not come back (a crash here, a stop) is fitted by its train step.
                with self._changed:
                    self._pending.clear()
                    self._changed.notify_all()

        self._thread = threading.Thread(target=fit, name="reconciler-fits", daemon=True)
        self._thread.start()

    def take(self, key: Key) -> Fitted | None:
        """The fit for `key`, waiting while it is under way; None if it was never started."""
        with self._changed:
            while key in self._pending:
                self._changed.wait()
            return self._ready.pop(key, None)

    def close(self) -> None:
        """Stop fits nobody will record (the run ended early) and wait for their children."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
