"""Advances rollouts: one analysis run per interval, its decision written to the registry (the
state tag always; a ledger entry when the step changes or the rollout ends). Every write
compares the recorded state first, so two servers advancing the same rollout cannot both do it."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from reconciler.rollout.analysis import Observations, analyse
from reconciler.rollout.steps import ABORT, ADVANCE, PROMOTE, Decision, decide, due
from reconciler.state.actual import LedgerEntry
from reconciler.state.rollout import RolloutState, RolloutVerdict


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds")


class Controller:
    def __init__(self, store: Any, say: Callable[[str], None] = print, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.say = say
        self.clock = clock

    def tick(
        self, model: str, state: RolloutState, seen: Observations, profile: Mapping[str, Any] | None = None
    ) -> Decision | None:
        """Run the analysis if it is due and write what follows; None when nothing was due or
        another process wrote first."""
        now = self.clock()
        if not state.progressing or state.spec.analysis is None or not due(state, now):
            return None
        decision = decide(state, analyse(state.spec.analysis, seen, profile), now)
        return decision if self.write(model, state, decision, now) else None

    def write(self, model: str, before: RolloutState, decision: Decision, now: float) -> bool:
        after = decision.state
        env = after.environment
        champion = before.champion
        where = f"{model}@{env}"
        if decision.kind in (PROMOTE, ABORT):
            promoted = decision.kind == PROMOTE
            to = after.candidate if promoted else champion
            event = "promoted" if promoted else "aborted"
            final = self._entry(after, champion, to, decision.reason, event, now)
            failing = tuple(r.describe() for r in after.failing)
            verdict = RolloutVerdict(env, after.phase, decision.reason, _iso(now), failing)
            if not self.store.end_rollout(model, before, after, verdict, final):
                return False
            self.say(f"rollout: {where} v{after.candidate} {event}: {decision.reason}")
            return True
        entry: LedgerEntry | None = None
        if decision.kind == ADVANCE:
            entry = self._entry(after, champion, champion, decision.reason, "step", now)
        if not self.store.advance_rollout(model, before, after, entry):
            return False
        if decision.kind == ADVANCE:
            self.say(f"rollout: {where} v{after.candidate} at {decision.reason}")
        return True

    @staticmethod
    def _entry(
        state: RolloutState, before: str | None, after: str | None, reason: str, event: str, now: float
    ) -> LedgerEntry:
        return LedgerEntry(
            0,
            state.environment,
            before,
            after,
            state.commit,
            _iso(now),
            state.plan,
            reason,
            state.gates,
            event=event,
            candidate=state.candidate,
        )
