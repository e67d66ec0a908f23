"""The read-only context a policy expression sees. Pure: plain dicts built from specs, the
planned action, recorded versions and the change between base and head."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.plan.model import Action
from reconciler.spec.kinds import Environment, Gate
from reconciler.spec.resolve import ResolvedModel
from reconciler.state.actual import VersionState


def spec_context(resolved: ResolvedModel, environment: Environment) -> dict[str, Any]:
    deployment = environment.models.get(resolved.name)
    return {
        "model": resolved.model.model_dump(by_alias=True, mode="json", exclude={"api_version"}),
        "dataset": resolved.dataset.model_dump(by_alias=True, mode="json", exclude={"api_version"}),
        "environment": {
            "name": environment.name,
            "promotes_from": environment.promotes_from,
            "gates": list(deployment.gates) if deployment else [],
            "pin": deployment.pin if deployment else None,
            "models": sorted(environment.models),
        },
        "gates": [gate_dict(g) for g in resolved.gates],
        "action": None,
        "candidate": None,
        "current": None,
        "change": None,
    }


def gate_dict(gate: Gate) -> dict[str, Any]:
    return gate.model_dump(by_alias=True, mode="json", exclude={"api_version"})


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
    return {
        "kind": action.kind.value,
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
