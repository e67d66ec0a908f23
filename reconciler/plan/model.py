"""The plan as data: a small closed set of actions, each explaining itself."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from typing import Any

from reconciler.spec.kinds import Gate

# The version an offline plan (git alone) cannot know: something is deployed, but which is unread.
UNKNOWN_VERSION = "?"


class Kind(str, Enum):
    TRAIN = "train"
    EVALUATE = "evaluate"
    PROMOTE = "promote"
    DEMOTE = "demote"
    ROLLOUT = "rollout"  # start a rollout: the candidate takes traffic by steps, the alias moves at the end
    ABORT = "abort"  # end a rollout the specs no longer want; the alias stays
    NOOP = "noop"
    BLOCKED = "blocked"


@dataclass(frozen=True)
class Change:
    """One difference between the spec the deployed version was trained from and the desired
    one, like a Terraform attribute change: `update` (old -> new), `add`, `remove`, or
    `content` (the dataset's rows changed; path `dataset`)."""

    op: str
    path: tuple[str | int, ...]
    old: Any = None
    new: Any = None

    def record(self) -> list[Any]:
        return [self.op, list(self.path), self.old, self.new]


@dataclass(frozen=True)
class Action:
    kind: Kind
    environment: str
    model: str
    fingerprint: str | None
    from_version: str | None  # where the environment's alias points before
    to_version: str | None  # where it will point; None with a fingerprint: the version train creates
    reason: str
    changes: tuple[Change, ...] = ()  # what changed, field by field
    evaluate_in: tuple[str, ...] = ()  # environments whose gates to evaluate (upstream first)
    gates: tuple[Gate, ...] = ()  # the gates the environment applies
    drift: bool = False

    def record(self) -> dict[str, Any]:
        """The action as plain data: what a saved plan keeps and the plan's id hashes."""
        return {
            "kind": self.kind.value,
            "environment": self.environment,
            "model": self.model,
            "fingerprint": self.fingerprint,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "reason": self.reason,
            "changes": [c.record() for c in self.changes],
            "evaluate_in": list(self.evaluate_in),
            "gates": [g.model_dump(mode="json", by_alias=True) for g in self.gates],
            "drift": self.drift,
        }


@dataclass(frozen=True)
class PreviewStep:
    """What `plan --preview` did for one step, so a failure shows in every view of the plan."""

    kind: str
    environment: str
    model: str
    status: str  # done | skipped | failed
    message: str
    version: str | None = None
    fingerprint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]
    environments: tuple[str, ...]
    location: str = ""
    revision: str = ""
    notes: tuple[str, ...] = field(default=())
    checked: bool = True  # False: computed from git alone, the registry was not read
    preview: tuple[PreviewStep, ...] = ()  # the steps `plan --preview` ran, with their outcomes

    @property
    def preview_failed(self) -> tuple[PreviewStep, ...]:
        return tuple(s for s in self.preview if s.status == "failed")

    def counts(self) -> dict[str, int]:
        trains = sum(1 for a in self.actions if a.kind is Kind.TRAIN)
        promotes = sum(1 for a in self.actions if a.kind is Kind.PROMOTE and not a.drift)
        restores = sum(1 for a in self.actions if a.kind is Kind.PROMOTE and a.drift)
        return {
            "train": trains,
            "evaluate": sum(1 for a in self.actions if a.kind is Kind.EVALUATE),
            "promote": promotes,
            "restore": restores,
            "remove": sum(1 for a in self.actions if a.kind is Kind.DEMOTE),
            "rollout": sum(1 for a in self.actions if a.kind is Kind.ROLLOUT),
            "abort": sum(1 for a in self.actions if a.kind is Kind.ABORT),
            "blocked": sum(1 for a in self.actions if a.kind is Kind.BLOCKED),
            "noop": sum(1 for a in self.actions if a.kind is Kind.NOOP),
        }

    @property
    def has_changes(self) -> bool:
        return any(a.kind not in (Kind.NOOP, Kind.BLOCKED) for a in self.actions)

    @property
    def blocked(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.kind is Kind.BLOCKED)

    def summary(self) -> str:
        c = self.counts()
        parts = [f"{c['train']} to train", f"{c['promote']} to promote"]
        if c["evaluate"] and not c["train"]:
            parts.append(f"{c['evaluate']} to evaluate")
        if c["restore"]:
            parts.append(f"{c['restore']} to restore")
        if c["rollout"]:
            parts.append(f"{c['rollout']} to roll out")
        if c["abort"]:
            parts.append(f"{c['abort']} rollout{'s' if c['abort'] > 1 else ''} to abort")
        if c["remove"]:
            parts.append(f"{c['remove']} to remove")
        parts.append(f"{c['blocked']} blocked")
        return "Plan: " + ", ".join(parts) + "."

    @property
    def id(self) -> str:
        body = json.dumps([a.record() for a in self.actions], sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()[:12]

    def train_matrix(self) -> dict[str, list[dict[str, str]]]:
        """The models to train, one entry per model (its first fingerprint in plan order), as a
        GitHub Actions matrix (`strategy.matrix: ${{ fromJSON(...) }}`): each job runs
        `apply --only train:<model>`, which trains every fingerprint of that model."""
        seen: dict[str, dict[str, str]] = {}
        for a in self.actions:
            if a.kind is Kind.TRAIN and a.fingerprint and a.model not in seen:
                seen[a.model] = {"model": a.model, "environment": a.environment, "fingerprint": a.fingerprint[:12]}
        return {"include": list(seen.values())}

    def blocking(self, reasons: Mapping[tuple[str, str], str]) -> Plan:
        """The plan with every action of each (environment, model) in `reasons` replaced by one
        blocked action carrying the reason."""
        if not reasons:
            return self
        actions: list[Action] = []
        done: set[tuple[str, str]] = set()
        for a in self.actions:
            key = (a.environment, a.model)
            if key not in reasons:
                actions.append(a)
            elif key not in done:
                done.add(key)
                actions.append(
                    Action(
                        Kind.BLOCKED,
                        a.environment,
                        a.model,
                        a.fingerprint,
                        a.from_version,
                        a.to_version,
                        reasons[key],
                        changes=a.changes,
                        gates=a.gates,
                    )
                )
        return replace(self, actions=tuple(actions))

    def with_preview(self, steps: tuple[PreviewStep, ...]) -> Plan:
        """The plan made after a preview, with what the preview could not do as blocked: a
        candidate that failed to train or to be evaluated now fails the same way on merge."""
        failed = {(s.model, s.fingerprint or ""): s for s in steps if s.status == "failed" and s.fingerprint}
        reasons: dict[tuple[str, str], str] = {}
        for a in self.actions:
            step = failed.get((a.model, a.fingerprint or ""))
            if step is not None and a.kind in (Kind.TRAIN, Kind.EVALUATE):
                where = f" in {step.environment}" if step.environment != a.environment else ""
                reasons.setdefault((a.environment, a.model), f"preview: {step.kind}{where} failed: {step.message}")
        return replace(self.blocking(reasons), preview=steps)

    def only(self, selectors: list[tuple[str, str]]) -> Plan:
        """The actions matching any (kind, model) selector; `*` matches any model."""
        keep = tuple(a for a in self.actions if any(a.kind.value == k and m in ("*", a.model) for k, m in selectors))
        return replace(self, actions=keep)
