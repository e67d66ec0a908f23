"""The read-only context a policy expression sees. Pure: plain dicts built from specs, the
planned action, recorded versions and the change between base and head."""

from __future__ import annotations

from collections.abc import Mapping
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


def version_dict(version: VersionState | None) -> dict[str, Any] | None:
    if version is None:
        return None
    verdicts = {}
    for key in version.tags:
        if key.startswith("reconciler.gate."):
            env = key[len("reconciler.gate.") :]
            verdict = version.verdict(env)
            if verdict is not None:
                verdicts[env] = verdict.passed
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
) -> dict[str, Any]:
    return {
        **base,
        "action": action_dict(action) if action is not None else None,
        "candidate": version_dict(candidate),
        "current": version_dict(current),
        "change": dict(change) if change is not None else None,
    }
