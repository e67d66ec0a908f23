"""A rollout as the registry holds it: where it is (a tag on the registered model per
environment, beside the candidate alias `<environment>-candidate`) and how it ended (a tag on
the candidate version). Any process can resume it from here: the tag carries the rollout block
it started with, so editing that block mid-rollout does not change the rollout under way."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from reconciler.spec.kinds import CANDIDATE_SUFFIX
from reconciler.spec.rollout import Rollout
from reconciler.state import tags as t

PROGRESSING, PROMOTED, ABORTED = "progressing", "promoted", "aborted"
CANCELLED = "cancelled"  # a version's rollout ended by apply (the specs stopped wanting it): no judgement


def state_key(environment: str) -> str:
    return f"{t.ROLLOUT_PREFIX}{environment}"


def candidate_alias(environment: str) -> str:
    return environment + CANDIDATE_SUFFIX


@dataclass(frozen=True)
class MetricResult:
    """One metric of one analysis run: its value (None: not measurable yet) against its bound."""

    metric: str
    value: float | None
    threshold: float
    bound: str  # max | min
    passed: bool | None  # None: not enough data to judge
    detail: str = ""

    def describe(self) -> str:
        if self.value is None:
            return f"{self.metric}: {self.detail or 'no data yet'}"
        sign = "<=" if self.bound == "max" else ">="
        mark = "ok" if self.passed else "FAILED"
        return f"{self.metric} {self.value:.4g} ({sign} {self.threshold:g}) {mark}"


@dataclass(frozen=True)
class RolloutState:
    environment: str
    candidate: str
    champion: str | None
    fingerprint: str
    spec: Rollout
    step: int = 0
    step_started: float = 0.0  # epoch seconds
    phase: str = PROGRESSING
    runs: int = 0  # analysis runs that judged (enough requests) at the current weight
    failures: int = 0  # failed runs since the rollout started
    last: tuple[MetricResult, ...] = ()
    last_run: float = 0.0
    reason: str = ""
    started: str = ""  # ISO time
    commit: str = ""
    plan: str = ""
    gates: str = ""  # hash of the gates the candidate passed when the rollout started

    @property
    def progressing(self) -> bool:
        return self.phase == PROGRESSING

    @property
    def weight(self) -> int:
        if not self.progressing:
            return 0
        return self.spec.weight_at(self.step)

    @property
    def failing(self) -> tuple[MetricResult, ...]:
        return tuple(m for m in self.last if m.passed is False)

    def where(self) -> str:
        """`step 2/4 (weight 50%)`, as status and messages say it."""
        n = len(self.spec.steps)
        at = min(self.step, n - 1)
        what = self.spec.steps[at].describe() if n else ""
        if self.spec.strategy == "shadow":
            return f"shadow, step {at + 1}/{n} ({what})"
        if self.spec.steps[at].weight is not None:
            return f"step {at + 1}/{n} ({what})"
        return f"step {at + 1}/{n} ({what} at weight {self.weight}%)"

    def to_json(self) -> str:
        raw = asdict(self)
        raw["spec"] = self.spec.model_dump(mode="json", exclude_defaults=True)
        raw["last"] = [asdict(m) for m in self.last]
        return json.dumps(raw, separators=(",", ":"), sort_keys=True)[: t.MAX_TAG_VALUE]

    @classmethod
    def from_tag(cls, environment: str, text: str) -> RolloutState | None:
        """None for a tag the reconciler did not write: a hand-edited rollout is not resumed."""
        try:
            raw = json.loads(text)
            if not isinstance(raw, dict) or raw.get("environment") != environment:
                return None
            spec = Rollout.model_validate(raw["spec"], strict=False)
            last = tuple(MetricResult(**m) for m in raw.get("last", []))
            fields = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw and k not in ("spec", "last")}
            state = cls(**{**fields, "spec": spec, "last": last})
            if not isinstance(state.candidate, str) or not isinstance(state.step, int) or not spec.gradual:
                return None
            if state.phase not in (PROGRESSING, PROMOTED, ABORTED):
                return None
            return state
        except (ValueError, TypeError, KeyError, RecursionError):
            return None

    def moved(self, **changes: Any) -> RolloutState:
        return replace(self, **changes)


@dataclass(frozen=True)
class RolloutVerdict:
    """How a version's rollout to an environment ended; an aborted one is not tried again
    while its fingerprint stays the same."""

    environment: str
    phase: str  # promoted | aborted | cancelled
    reason: str
    at: str
    failing: tuple[str, ...] = field(default=())

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)[: t.MAX_TAG_VALUE]

    @classmethod
    def from_tag(cls, environment: str, text: str) -> RolloutVerdict | None:
        try:
            raw = json.loads(text)
            if not isinstance(raw, dict) or raw.get("environment") != environment:
                return None
            verdict = cls(environment, str(raw["phase"]), str(raw["reason"]), str(raw["at"]))
            return replace(verdict, failing=tuple(str(f) for f in raw.get("failing", [])))
        except (ValueError, TypeError, KeyError, RecursionError):
            return None


def rollouts_of(tags: Mapping[str, str]) -> dict[str, RolloutState]:
    out = {}
    for key, value in tags.items():
        if key.startswith(t.ROLLOUT_PREFIX):
            env = key[len(t.ROLLOUT_PREFIX) :]
            state = RolloutState.from_tag(env, value)
            if state is not None:
                out[env] = state
    return out
