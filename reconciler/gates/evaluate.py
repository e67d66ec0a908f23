"""Evaluate an environment's gates on measurements. Pure: numbers in, verdict out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from reconciler.canonical import sha256_json
from reconciler.gates.verdict import Verdict
from reconciler.rules import rule_type
from reconciler.rules.base import RuleResult
from reconciler.spec.kinds import Gate


def gates_hash(gates: Sequence[Gate]) -> str:
    """Identity of the rules a verdict was computed under; a changed gate makes old verdicts stale."""
    return sha256_json(
        [
            {"name": g.name, "enforcement": g.enforcement, "rules": [r.model_dump(mode="json") for r in g.rules]}
            for g in gates
        ]
    )[:16]


def evaluate(
    environment: str,
    gates: Sequence[Gate],
    candidate: Mapping[str, float],
    current: Mapping[str, float] | None,
    *,
    against: str | None = None,
    at: str = "",
    commit: str = "",
) -> Verdict:
    """`current` holds the measurements of the version the environment holds now, on the same
    test split (None: nothing deployed). Advisory gates are reported but never fail a verdict."""
    results: list[RuleResult] = []
    for gate in gates:
        advisory = gate.enforcement == "advisory"
        for rule in gate.rules:
            results.extend(rule_type(rule).evaluate(gate.name, rule, candidate, current, advisory))
    passed = all(r.passed or r.advisory for r in results)
    return Verdict(environment, passed, gates_hash(gates), tuple(results), at, commit, against)
