"""What a policy expression sees of the specs. Pure: plain dicts built from the resolved model,
its dataset, environment and gates (reconciler.policy.plan_context adds the plan's part)."""

from __future__ import annotations

from typing import Any

from reconciler.spec.kinds import Environment, Gate
from reconciler.spec.resolve import ResolvedModel


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
