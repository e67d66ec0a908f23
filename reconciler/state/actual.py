"""What the registry holds, as plain frozen data (no MLflow types leak past the store)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from reconciler.gates.verdict import Verdict
from reconciler.state import tags as t
from reconciler.state.rollout import RolloutState, RolloutVerdict, rollouts_of
from reconciler.state.signing import split_trusted


def version_label(version: str | None, missing: str = "(none)") -> str:
    """How a version is named in every message: `v3`, or what stands for no version."""
    return f"v{version}" if version else missing


@dataclass(frozen=True)
class VersionState:
    model: str
    version: str
    fingerprint: str
    run_id: str | None
    source: str
    created: str  # ISO timestamp
    tags: Mapping[str, str] = field(default_factory=dict)
    # Tags set aside because their signature did not verify (verdicts, measurements): kept to
    # be reported and replaced, never read as the version's record.
    set_aside: Mapping[str, str] = field(default_factory=dict)

    @property
    def untrusted(self) -> tuple[str, ...]:
        return tuple(sorted(self.set_aside))

    @property
    def metrics(self) -> dict[str, float]:
        out = {}
        for key, value in self.tags.items():
            if key.startswith(t.METRIC_PREFIX):
                try:
                    out[key[len(t.METRIC_PREFIX) :]] = float(value)
                except ValueError:
                    continue
        return out

    def verdict(self, environment: str, gates_hash: str | None = None) -> Verdict | None:
        """The verdict apply recorded for the environment. With `gates_hash`: the verdict under
        exactly those gates, apply's or else one a preview recorded (which apply then adopts)."""
        raw = self.tags.get(t.GATE_PREFIX + environment)
        recorded = Verdict.from_json(environment, raw) if raw else None
        if gates_hash is None or (recorded is not None and recorded.gates_hash == gates_hash):
            return recorded
        raw = self.tags.get(t.preview_key(environment, gates_hash))
        preview = Verdict.from_json(environment, raw) if raw else None
        return preview if preview is not None and preview.gates_hash == gates_hash else None

    def recorded(self, environment: str, gates_hash: str) -> bool:
        """Whether apply's own verdict for the environment is under these gates."""
        verdict = self.verdict(environment)
        return verdict is not None and verdict.gates_hash == gates_hash

    def rollout_verdict(self, environment: str) -> RolloutVerdict | None:
        raw = self.tags.get(t.ROLLOUT_PREFIX + environment)
        return RolloutVerdict.from_tag(environment, raw) if raw else None

    def monitor(self, environment: str) -> dict[str, Any] | None:
        """The summary of the latest monitoring check of this version in the environment."""
        raw = self.tags.get(t.MONITOR_PREFIX + environment)
        try:
            value = json.loads(raw) if raw else None
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def verdict_environments(self) -> tuple[str, ...]:
        return tuple(sorted(k[len(t.GATE_PREFIX) :] for k in self.tags if k.startswith(t.GATE_PREFIX)))

    @property
    def spec(self) -> dict[str, Any] | None:
        raw = self.tags.get(t.SPEC)
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    @property
    def commit(self) -> str:
        return self.tags.get(t.GIT_COMMIT, "")

    @property
    def dirty(self) -> bool:
        return self.tags.get(t.DIRTY) == "true"


MAX_LEDGER_SEQ = 999_999_999  # a billion alias moves; a larger number was not written by us


@dataclass(frozen=True)
class LedgerEntry:
    """One alias move made by the reconciler (MLflow keeps no history of alias moves)."""

    seq: int
    environment: str
    from_version: str | None
    to_version: str | None  # None: alias deleted
    commit: str
    at: str
    plan: str
    reason: str = ""
    gates: str = ""  # hash of the gates the version had passed when the alias moved
    dirty: bool = False  # applied with --allow-dirty: the specs were not exactly `commit`'s
    # A rollout's step (the environment's alias stays, from == to, until `promoted`):
    # started | step | promoted | aborted, and the candidate version it concerns.
    event: str = ""
    candidate: str | None = None

    @property
    def moved(self) -> bool:
        return self.from_version != self.to_version

    def to_json(self) -> str:
        raw: dict[str, Any] = {
            "env": self.environment,
            "from": self.from_version,
            "to": self.to_version,
            "commit": self.commit,
            "at": self.at,
            "plan": self.plan,
            "reason": self.reason,
            "gates": self.gates,
        }
        if self.dirty:
            raw["dirty"] = True
        if self.event:
            raw["event"], raw["candidate"] = self.event, self.candidate
        return json.dumps(raw, separators=(",", ":"))

    @classmethod
    def from_tag(cls, key: str, text: str) -> LedgerEntry | None:
        """None for an entry that is not one the reconciler wrote (broken JSON, wrong types, a
        sequence number out of range): hand-edited tags are skipped, never half-read."""
        try:
            digits = key[len(t.LEDGER_PREFIX) :]
            if not digits.isdigit() or len(digits) > len(str(MAX_LEDGER_SEQ)):
                return None
            raw = json.loads(text)
            if not isinstance(raw, dict) or not isinstance(raw.get("env"), str):
                return None
            commit, at, plan, reason, gates = (raw.get(k, "") for k in ("commit", "at", "plan", "reason", "gates"))
            before, after = raw.get("from"), raw.get("to")
            event, candidate = raw.get("event", ""), raw.get("candidate")
            texts_ok = all(isinstance(v, str) for v in (commit, at, plan, reason, gates, event))
            if not texts_ok or not all(v is None or isinstance(v, str) for v in (before, after, candidate)):
                return None
            dirty = raw.get("dirty") is True
            return cls(int(digits), raw["env"], before, after, commit, at, plan, reason, gates, dirty, event, candidate)
        except (ValueError, RecursionError):
            return None


@dataclass(frozen=True)
class RegisteredModelState:
    name: str
    managed: bool
    aliases: Mapping[str, str]  # environment -> version
    versions: Mapping[str, VersionState]  # version -> state
    ledger: tuple[LedgerEntry, ...] = ()
    rollouts: Mapping[str, RolloutState] = field(default_factory=dict)  # environment -> latest rollout

    def rollout(self, environment: str) -> RolloutState | None:
        """The rollout under way in the environment, if one is."""
        state = self.rollouts.get(environment)
        return state if state is not None and state.progressing else None

    def last_move(self, environment: str) -> LedgerEntry | None:
        moves = [e for e in self.ledger if e.environment == environment]
        return moves[-1] if moves else None

    def unledgered(self, environment: str, version: str) -> bool:
        """The alias is at `version` but the ledger never recorded the move (an apply killed
        between moving it and recording it)."""
        if self.aliases.get(environment) != version:
            return False
        last = self.last_move(environment)
        return last is None or last.to_version != version

    def by_fingerprint(self, fingerprint: str) -> VersionState | None:
        """The oldest version with this fingerprint (a duplicate is never preferred)."""
        matches = [v for v in self.versions.values() if v.fingerprint == fingerprint]
        return min(matches, key=lambda v: int(v.version)) if matches else None


@dataclass(frozen=True)
class ActualState:
    location: str
    models: Mapping[str, RegisteredModelState]
    unmanaged: frozenset[str] = frozenset()  # registered models we must never touch
    locked: bool = False  # a `reconciler apply` held the registry lock when this was read

    def model(self, name: str) -> RegisteredModelState | None:
        return self.models.get(name)


def parse_ledger(tags: Mapping[str, str]) -> tuple[LedgerEntry, ...]:
    entries = [LedgerEntry.from_tag(k, v) for k, v in tags.items() if k.startswith(t.LEDGER_PREFIX)]
    return tuple(sorted((e for e in entries if e is not None), key=lambda e: e.seq))


def version_state(
    model: str, version: object, created_ms: int | None, run_id: str | None, source: str | None, tags: Mapping[str, str]
) -> VersionState:
    """One version as the registry holds it, whichever way it was read (MLflow or SQLite).
    Verdicts that do not carry a valid signature (when a verdict key is set) are set aside here,
    at the one place every read passes, so nothing downstream can act on them."""
    fingerprint = tags.get(t.FINGERPRINT, "")
    kept, aside = split_trusted(model, str(version), fingerprint, tags)
    return VersionState(
        model=model,
        version=str(version),
        fingerprint=fingerprint,
        run_id=run_id,
        source=source or "",
        created=datetime.fromtimestamp((created_ms or 0) / 1000, tz=timezone.utc).isoformat(),
        tags=kept,
        set_aside=aside,
    )


def registered_model_state(
    name: str, tags: Mapping[str, str], aliases: Mapping[str, object], versions: Iterable[VersionState]
) -> RegisteredModelState:
    """One registered model, versions in number order, whichever way it was read."""
    return RegisteredModelState(
        name=name,
        managed=tags.get(t.MANAGED) == "true",
        aliases={alias: str(v) for alias, v in aliases.items()},
        versions={v.version: v for v in sorted(versions, key=lambda v: int(v.version))},
        ledger=parse_ledger(tags),
        rollouts=rollouts_of(tags),
    )
