"""What each step of an apply ended as: a closed set of statuses, like the plan's actions,
with the facts the views render (reconciler.render.outcomes)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from reconciler.plan.model import Action, Kind


class Status(str, Enum):
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"

    def __str__(self) -> str:  # f-strings and templates show the word, on every Python
        return self.value


@dataclass(frozen=True)
class Cost:
    """What a newly trained version costs to run, beside the version the environment runs now."""

    new: Mapping[str, float]
    current: Mapping[str, float]
    current_version: str | None


@dataclass(frozen=True)
class StepResult:
    status: Status
    message: str
    version: str | None = None
    cost: Cost | None = None


@dataclass(frozen=True)
class Outcome:
    action: Action
    status: Status
    message: str
    seconds: float = 0.0
    version: str | None = None
    reused: bool = False  # a train step that found its fingerprint already registered
    cost: Cost | None = None


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status is Status.FAILED]

    @property
    def trained(self) -> int:
        return sum(1 for o in self.outcomes if o.action.kind is Kind.TRAIN and o.status is Status.DONE and not o.reused)


Listener = Callable[[str, Action, Outcome | None], None]
