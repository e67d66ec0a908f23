"""What the server serves: one slot per (environment, model) the specs deploy, each holding the
loaded version its alias points at, and the follower that keeps them there.

A request takes the slot's current `Loaded` once and answers with it, so a swap never changes a
request half-way; a swap is one reference assignment, made only after the new version loaded."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.diagnostics import ReconcilerError
from reconciler.redact import redact
from reconciler.rollout.analysis import Observations
from reconciler.rollout.controller import Controller
from reconciler.rollout.steps import ABORT, PROMOTE
from reconciler.serve.cache import PredictionCache
from reconciler.serve.metrics import Metrics
from reconciler.spec.kinds import Serving
from reconciler.state.rollout import RolloutState

RETRY_SECONDS = (5.0, 30.0, 120.0, 300.0)  # after a failed load of a version: wait, then try again


@dataclass(frozen=True)
class Loaded:
    version: str
    estimator: Any
    columns: tuple[str, ...]
    loaded_at: float
    by_name: bool = False  # the model selects columns by name: it must get a frame, not an array

    def predict(self, frame: Any) -> Any:
        """The model's predictions. Numeric rows go in as an array: the server has already put
        the columns in the model's order, and scikit-learn's checks of a frame's names and
        dtypes cost ~1 ms, several times the predict of a small model."""
        if not self.by_name and all(kind in "fiub" for kind in (dtype.kind for dtype in frame.dtypes)):
            return self.estimator.predict(frame.to_numpy())
        return self.estimator.predict(frame)


def selects_by_name(estimator: Any) -> bool:
    """Whether any step of the model picks columns by name (a ColumnTransformer)."""
    from sklearn.compose import ColumnTransformer

    if isinstance(estimator, ColumnTransformer):
        return True
    parts = [step for _, step in getattr(estimator, "steps", [])]
    parts += [getattr(estimator, name) for name in ("estimator", "base_estimator") if hasattr(estimator, name)]
    return any(selects_by_name(p) for p in parts if p is not None and p is not estimator)


@dataclass
class Failure:
    message: str
    attempts: int
    retry_at: float


@dataclass
class Slot:
    environment: str
    model: str
    serving: Serving
    current: Loaded | None = None
    alias_version: str | None = None  # what the registry's alias held at the last poll
    failures: dict[str, Failure] = field(default_factory=dict)
    cache: PredictionCache = field(init=False)
    # A rollout under way: its recorded state, the candidate loaded, what both versions did
    # since the step began (guarded by `lock`: requests write it, the follower judges it).
    rollout: RolloutState | None = None
    candidate: Loaded | None = None
    profile: Any = None  # the candidate's training profile, for input drift
    seen: Observations = field(default_factory=Observations)
    seen_for: tuple[str, int] | None = None  # (candidate, step) the observations belong to
    # Request id -> (champion | candidate, its predictions), for labels sent back later.
    recent: OrderedDict[str, tuple[str, list[Any]]] = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.cache = PredictionCache(self.serving.cache_size)

    def observations(self) -> Observations:
        """A copy to judge while requests go on adding to the original."""
        with self.lock:
            return self.seen.copy()

    @property
    def key(self) -> tuple[str, str]:
        return (self.environment, self.model)

    @property
    def ready(self) -> bool:
        """Serving what the alias holds (or nothing is deployed yet)."""
        return self.alias_version is None or (self.current is not None and self.current.version == self.alias_version)

    def view(self) -> dict[str, Any]:
        failure = self.failures.get(self.alias_version or "")
        out: dict[str, Any] = {
            "environment": self.environment,
            "model": self.model,
            "alias": self.alias_version,
            "serving": self.current.version if self.current else None,
            "ready": self.ready,
            "error": failure.message if failure else None,
        }
        state = self.rollout
        if state is not None:
            out["rollout"] = {
                "candidate": state.candidate,
                "strategy": state.spec.strategy,
                "step": state.step + 1,
                "steps": len(state.spec.steps),
                "weight": state.weight,
                "loaded": self.candidate is not None and self.candidate.version == state.candidate,
                "failures": state.failures,
                "last": [m.describe() for m in state.last],
            }
        return out


def columns_of(estimator: Any) -> tuple[str, ...]:
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        raise ReconcilerError("the model does not record the columns it was fitted on")
    return tuple(str(n) for n in names)


class Follower:
    """Polls the aliases (the batched read `plan` uses) and loads what moved, in its own
    thread: requests never wait on a load. A version that fails to load is not swapped in; the
    previous one keeps serving, and the load is tried again later."""

    def __init__(
        self,
        store: Any,
        slots: Sequence[Slot],
        metrics: Metrics,
        poll_seconds: float,
        say: Callable[[str], None] = print,
        clock: Callable[[], float] = time.monotonic,
        controller: Controller | None = None,
    ) -> None:
        self.store = store
        self.controller = controller if controller is not None else Controller(store, say)
        self.slots = list(slots)
        self.metrics = metrics
        self.poll_seconds = poll_seconds
        self.say = say
        self.clock = clock
        self.polls = 0
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> None:
        try:
            actual = self.store.read()
        except Exception as exc:  # the registry unreachable, or a bug: keep serving what is loaded
            message = redact(str(exc) or type(exc).__name__)
            if message != self.last_error:
                self.say(f"serve: cannot read the registry ({message}); still serving what is loaded")
            self.last_error = message
            return
        self.last_error = None
        for slot in self.slots:
            rm = actual.models.get(slot.model)
            slot.alias_version = rm.aliases.get(slot.environment) if rm else None
            if slot.alias_version is None:
                if slot.current is not None:
                    self.say(f"serve: {slot.model}@{slot.environment} no longer holds a version; stopped serving it")
                    self._serving(slot, None)
                continue
            if slot.current is None or slot.current.version != slot.alias_version:
                self._load(slot, slot.alias_version)
            self._follow_rollout(slot, rm.rollout(slot.environment) if rm else None, rm)
        self.polls += 1  # after the pass: readiness counts only aliases read in a finished one

    def _follow_rollout(self, slot: Slot, state: RolloutState | None, rm: Any) -> None:
        """Load the candidate of a rollout under way, keep its observations to its step, and
        advance it when its analysis is due."""
        if state is None:
            self._end_rollout(slot)
            return
        if slot.candidate is None or slot.candidate.version != state.candidate:
            loaded = self._candidate(slot, state.candidate)
            if loaded is None:
                slot.rollout = state
                return
            slot.candidate = loaded
            slot.profile = self._profile(rm, state)
        self._observe(slot, state)
        if slot.current is None or slot.current.version != state.champion:
            return  # judge the candidate only against the champion the rollout started from
        decision = self.controller.tick(slot.model, state, slot.observations(), slot.profile)
        if decision is None:
            return
        if decision.kind == PROMOTE:
            slot.alias_version = state.candidate
            self._serving(slot, slot.candidate)
            self._end_rollout(slot)
            return
        if decision.kind == ABORT:
            self._end_rollout(slot)
            return
        self._observe(slot, decision.state)

    def _observe(self, slot: Slot, state: RolloutState) -> None:
        key = (state.candidate, state.step)
        with slot.lock:
            if slot.seen_for != key:
                fresh = Observations()
                if slot.seen_for is None or slot.seen_for[0] != state.candidate:
                    slot.recent = OrderedDict()
                else:
                    # The champion's answers stay the reference for prediction drift at a
                    # later step, even at weight 100 when it answers nothing new.
                    fresh.champion.predictions.extend(slot.seen.champion.predictions)
                slot.seen, slot.seen_for = fresh, key
            slot.rollout = state
        self.metrics.rollout_weight.labels(slot.environment, slot.model, state.candidate).set(state.weight)

    def _end_rollout(self, slot: Slot) -> None:
        if slot.rollout is not None:
            self.metrics.rollout_weight.labels(slot.environment, slot.model, slot.rollout.candidate).set(0)
        with slot.lock:
            slot.rollout, slot.candidate, slot.profile, slot.seen_for = None, None, None, None
            slot.seen, slot.recent = Observations(), OrderedDict()

    def _candidate(self, slot: Slot, version: str) -> Loaded | None:
        loaded, failed = self._obtain(slot, version)
        if failed is not None:
            self.say(f"serve: candidate v{version} of {slot.model}@{slot.environment} failed to load ({failed})")
        elif loaded is not None:
            self.say(f"serve: {slot.model}@{slot.environment} has candidate v{version}")
        return loaded

    def _obtain(self, slot: Slot, version: str) -> tuple[Loaded | None, str | None]:
        """The version, shared with a slot that holds it already (one version promoted through
        several environments, or a candidate, is loaded once), else loaded now. (None, why) when
        loading failed now; (None, None) while a failed load waits for its retry."""
        shared = next(
            (
                held
                for s in self.slots
                for held in (s.current, s.candidate)
                if s.model == slot.model and held is not None and held.version == version
            ),
            None,
        )
        if shared is not None:
            slot.failures.pop(version, None)
            return shared, None
        failure = slot.failures.get(version)
        if failure is not None and self.clock() < failure.retry_at:
            return None, None
        labels = (slot.environment, slot.model, version)
        try:
            loaded = self._load_version(slot.model, version)
        except Exception as exc:  # whatever a broken artifact raises: that version is not served
            attempts = failure.attempts + 1 if failure else 1
            wait = RETRY_SECONDS[min(attempts, len(RETRY_SECONDS)) - 1]
            slot.failures[version] = Failure(redact(str(exc) or type(exc).__name__), attempts, self.clock() + wait)
            self.metrics.loads.labels(*labels, "failed").inc()
            return None, slot.failures[version].message
        slot.failures.pop(version, None)
        self.metrics.loads.labels(*labels, "ok").inc()
        return loaded, None

    def _profile(self, rm: Any, state: RolloutState) -> Any:
        analysis = state.spec.analysis
        if analysis is None or not any(m.metric == "input_drift" for m in analysis.metrics):
            return None
        version = rm.versions.get(state.candidate) if rm else None
        try:
            return self.store.load_profile(version) if version is not None else None
        except Exception as exc:  # no profile: input drift is reported as not measurable
            self.say(f"serve: no training profile for v{state.candidate} of {state.environment}: {exc}")
            return None

    def _load(self, slot: Slot, version: str) -> None:
        loaded, failed = self._obtain(slot, version)
        if loaded is None:
            if failed is not None:
                still = f"v{slot.current.version} keeps serving" if slot.current else "nothing is served"
                self.say(f"serve: v{version} of {slot.model}@{slot.environment} failed to load ({failed}); {still}")
            return
        labels = (slot.environment, slot.model, version)
        previous = slot.current.version if slot.current else None
        self._serving(slot, loaded)
        self.metrics.swaps.labels(*labels).inc()
        was = f"v{previous}" if previous else "nothing"
        self.say(f"serve: {slot.model}@{slot.environment} now serves v{version} (was {was})")

    def _load_version(self, model: str, version: str) -> Loaded:
        estimator = self.store.load_model(model, version)
        return Loaded(version, estimator, columns_of(estimator), time.time(), selects_by_name(estimator))

    def _serving(self, slot: Slot, loaded: Loaded | None) -> None:
        if slot.current is not None:
            self.metrics.serving.labels(slot.environment, slot.model, slot.current.version).set(0)
        if loaded is not None:
            slot.cache.serve(loaded.version)  # before the swap: no entry of the old version survives it
            self.metrics.serving.labels(slot.environment, slot.model, loaded.version).set(1)
        slot.current = loaded

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="reconciler-follow", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception as exc:  # a bug here must not stop the server following the registry
                self.say(f"serve: internal error while following the registry: {redact(repr(exc))[:300]}")
            self._stop.wait(self.poll_seconds)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
