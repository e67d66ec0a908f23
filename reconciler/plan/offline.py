"""A plan from git alone: the one planner, run against what git says the registry holds
(reconciler.plan.git_view) instead of the registry.

Pull requests from forks get no secrets, so the registry cannot be read. What git does tell:
which (environment, model) fingerprints change, hence what merging will train, evaluate and
promote, and what each change is. Which version numbers exist, and how gates will judge a new
version, is unknown here and said so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from reconciler.desired.model import DesiredEntry
from reconciler.plan.git_view import git_only_state
from reconciler.plan.model import UNKNOWN_VERSION, Action, Kind, Plan
from reconciler.plan.planner import ChangesFn, plan

OFFLINE_NOTE = "not checked against the registry: computed from git alone (base vs head)"


def offline_plan(
    base: Sequence[DesiredEntry],
    head: Sequence[DesiredEntry],
    environments: Sequence[str],
    changes: ChangesFn,
    *,
    known: Sequence[DesiredEntry] = (),
    revision: str = "",
    scope: Sequence[str] | None = None,
) -> Plan:
    """`known` holds entries of other revisions whose versions exist (e.g. the state a revert
    returns to), so that reaching them again is shown as a promotion, not a training."""
    planned = plan(head, git_only_state(base, known), environments, scope=scope, changes=changes, revision=revision)
    actions = tuple(_unknown_numbers(a) for a in planned.actions)
    return replace(planned, actions=actions, notes=(OFFLINE_NOTE,), checked=False)


def _unknown_numbers(action: Action) -> Action:
    """The git view's version numbers are placeholders: a deployed version is `?`, and the one
    an alias will move to is known by its fingerprint only."""
    before = UNKNOWN_VERSION if action.from_version is not None else None
    after = UNKNOWN_VERSION if action.kind in (Kind.NOOP, Kind.EVALUATE) and action.to_version else None
    return replace(action, from_version=before, to_version=after)
