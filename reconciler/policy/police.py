"""Policies judge a plan: each changing (environment, model) in it, once when it is planned
and again right before its alias moves (with the candidate's fresh verdicts). An error blocks
that pair; a warning becomes a note on the plan."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from reconciler.desired.model import Desired
from reconciler.plan.model import Action, Kind, Plan
from reconciler.policy.check import check
from reconciler.policy.context import spec_context
from reconciler.policy.plan_context import plan_context
from reconciler.state.actual import ActualState, VersionState


def policy_context(
    desired: Desired,
    key: tuple[str, str],
    action: Action | None,
    candidate: VersionState | None,
    current: VersionState | None,
    changes: Mapping[tuple[str, str], Mapping[str, Any]] | None,
    pending: Sequence[str] = (),
) -> dict[str, Any]:
    target = desired.targets[key]
    base = spec_context(target.resolved, desired.state.specs.environments[key[0]])
    hashes = {env: t.entry.gates_hash for (env, model), t in desired.targets.items() if model == key[1]}
    return plan_context(base, action, candidate, current, (changes or {}).get(key), hashes, pending)


def _evaluated_before(plan: Plan, action: Action) -> tuple[str, ...]:
    """Environments whose gates this plan evaluates for the action's version before it runs."""
    out: list[str] = []
    for a in plan.actions:
        if a is action:
            break
        if a.kind is Kind.EVALUATE and a.model == action.model and a.fingerprint == action.fingerprint:
            out.extend(a.evaluate_in)
    return tuple(out)


def police(
    plan: Plan,
    desired: Desired,
    actual: ActualState | None,
    changes: Mapping[tuple[str, str], Mapping[str, Any]] | None,
) -> Plan:
    """Judge each changing (environment, model) against the policies; an error blocks it."""
    policies = list(desired.state.specs.policies.values())
    if not policies:
        return plan
    grouped: dict[tuple[str, str], list[Action]] = {}
    for a in plan.actions:
        grouped.setdefault((a.environment, a.model), []).append(a)
    blocked: dict[tuple[str, str], str] = {}
    notes = list(plan.notes)
    for key, group in grouped.items():
        if key not in desired.targets or all(a.kind in (Kind.NOOP, Kind.BLOCKED) for a in group):
            continue
        action = next((a for a in group if a.kind in (Kind.PROMOTE, Kind.ROLLOUT)), group[0])
        rm = actual.model(key[1]) if actual is not None else None
        candidate = rm.versions.get(action.to_version) if rm and action.to_version else None
        current = rm.versions.get(action.from_version) if rm and action.from_version else None
        context = policy_context(desired, key, action, candidate, current, changes, _evaluated_before(plan, action))
        for violation in check(policies, key[0], key[1], context, stage="plan"):
            if violation.severity == "error":
                blocked.setdefault(key, violation.describe())
            else:
                notes.append(f"warning for {key[0]}/{key[1]}: {violation.describe()}")
    if not blocked and notes == list(plan.notes):
        return plan
    return replace(plan.blocking(blocked), notes=tuple(notes))


# Policies judged right before an alias moves (action, candidate, current): the errors that stop it.
MoveCheck = Callable[[Action, VersionState, VersionState | None], list[str]]


def move_check(desired: Desired, changes: Mapping[tuple[str, str], Mapping[str, Any]] | None) -> MoveCheck | None:
    """The same judgement at apply time, right before an alias moves: the errors that stop it."""
    policies = list(desired.state.specs.policies.values())
    if not policies:
        return None

    def judge(action: Action, candidate: VersionState, current: VersionState | None) -> list[str]:
        key = (action.environment, action.model)
        context = policy_context(desired, key, action, candidate, current, changes)
        return [v.describe() for v in check(policies, key[0], key[1], context, stage="plan") if v.severity == "error"]

    return judge
