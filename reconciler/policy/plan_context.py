"""What a policy expression sees of a plan: the planned action, the candidate and current
versions with their verdicts, and the change between base and head. Pure: plain dicts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.plan.model import Action, Kind
from reconciler.state.actual import VersionState


def version_dict(
    version: VersionState | None, gates_hashes: Mapping[str, str] | None = None, pending: Iterable[str] = ()
) -> dict[str, Any] | None:
    """`verdicts` holds each environment's verdict under the gates the specs give it now
    (`gates_hashes`); `pending` environments are evaluated earlier in the same apply, so at plan
    time they count as passed, and the policy is judged again with the real verdict right
    before the alias moves."""
    if version is None:
        return None
    hashes = dict(gates_hashes or {})
    verdicts = {}
    for env in sorted({*version.verdict_environments(), *hashes}):
        verdict = version.verdict(env, hashes[env]) if env in hashes else version.verdict(env)
        if verdict is not None:
            verdicts[env] = verdict.passed
    for env in pending:
        verdicts.setdefault(env, True)
    return {
        "version": version.version,
        "fingerprint": version.fingerprint,
        "commit": version.commit,
        "created": version.created,
        "metrics": version.metrics,
        "verdicts": verdicts,
    }


def action_dict(action: Action) -> dict[str, Any]:
    # A rollout is how a promotion reaches traffic: policies written for `promote` judge it too,
    # and `rollout` says whether it comes gradually.
    rollout = action.kind is Kind.ROLLOUT
    return {
        "kind": Kind.PROMOTE.value if rollout else action.kind.value,
        "rollout": rollout,
        "from_version": action.from_version,
        "to_version": action.to_version,
        "reason": action.reason,
        "fingerprint": action.fingerprint,
        "drift": action.drift,
    }


def plan_context(
    base: Mapping[str, Any],
    action: Action | None,
    candidate: VersionState | None,
    current: VersionState | None,
    change: Mapping[str, Any] | None,
    gates_hashes: Mapping[str, str] | None = None,
    pending: Iterable[str] = (),
) -> dict[str, Any]:
    return {
        **base,
        "action": action_dict(action) if action is not None else None,
        "candidate": version_dict(candidate, gates_hashes, pending),
        "current": version_dict(current, gates_hashes),
        "change": dict(change) if change is not None else None,
    }
