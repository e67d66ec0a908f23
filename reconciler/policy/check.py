"""Judge (environment, model) pairs against the policies in scope."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.policy.context import spec_context
from reconciler.policy.sandbox import compile_expression, evaluate, render_message
from reconciler.spec.kinds import Policy
from reconciler.spec.loader import LoadResult
from reconciler.spec.problems import Problem
from reconciler.spec.references import Located


@dataclass(frozen=True)
class Violation:
    policy: str
    severity: str  # error | warning
    environment: str
    model: str
    message: str

    def describe(self) -> str:
        return f"policy '{self.policy}': {self.message}"


def in_scope(policy: Policy, environment: str, model: str) -> bool:
    return any(fnmatch.fnmatchcase(environment, p) for p in policy.scope.environments) and any(
        fnmatch.fnmatchcase(model, p) for p in policy.scope.models
    )


def check(
    policies: Sequence[Policy], environment: str, model: str, context: Mapping[str, Any], *, stage: str
) -> list[Violation]:
    """`stage` spec runs policies that read only the specs; plan runs them all."""
    out: list[Violation] = []
    for policy in policies:
        if not in_scope(policy, environment, model):
            continue
        compiled = compile_expression(policy.require)  # validated when the specs were loaded
        if stage == "spec" and compiled.stage != "spec":
            continue
        try:
            passed = bool(evaluate(policy.require, dict(context)))
        except Exception as exc:
            # A policy that cannot be evaluated blocks, with its reason: failing open would
            # let exactly the change it was written to stop through.
            out.append(
                Violation(
                    policy.name, "error", environment, model, f"could not be evaluated: {type(exc).__name__}: {exc}"
                )
            )
            continue
        if not passed:
            text = render_message(policy.message, dict(context)) if policy.message else policy.description
            out.append(
                Violation(policy.name, policy.severity, environment, model, text or f"requires {policy.require}")
            )
    return out


def judge_specs(result: LoadResult) -> list[Located]:
    """Policies that read only the specs, judged when they are loaded so `validate` reports them."""
    specs = result.desired.specs
    policies = [p for name, p in specs.policies.items() if ("Policy", name) not in result.flawed]
    out = []
    for (env_name, model_name), item in sorted(result.desired.resolved.items()) if policies else ():
        context = spec_context(item, specs.environments[env_name])
        for v in check(policies, env_name, model_name, context, stage="spec"):
            out.append(
                Located(
                    "Environment",
                    env_name,
                    Problem(("models", model_name), v.describe(), key=True),
                    severity=v.severity,
                )
            )
    return out
