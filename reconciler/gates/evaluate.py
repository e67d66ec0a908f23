"""Evaluate an environment's gates on a candidate's metrics. Pure: numbers in, verdict out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from reconciler.spec.fingerprint import sha256_json
from reconciler.spec.kinds import Gate
from reconciler.state.actual import RuleResult, Verdict


def gates_hash(gates: Sequence[Gate]) -> str:
    """Identity of the rules a verdict was computed under; a changed gate makes old verdicts stale."""
    return sha256_json([{"name": g.name, "rules": [r.model_dump(mode="json") for r in g.rules]} for g in gates])[:16]


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
    """`current` holds the metrics of the version the environment holds now (None: nothing)."""
    results: list[RuleResult] = []
    for gate in gates:
        for rule in gate.rules:
            value = candidate.get(rule.metric)
            if rule.min is not None:
                results.append(
                    RuleResult(
                        gate.name, rule.metric, "min", rule.min, value, None, value is not None and value >= rule.min
                    )
                )
            if rule.max is not None:
                results.append(
                    RuleResult(
                        gate.name, rule.metric, "max", rule.max, value, None, value is not None and value <= rule.max
                    )
                )
            if rule.max_regression is not None:
                baseline = current.get(rule.metric) if current is not None else None
                if baseline is None or value is None:
                    note = "nothing deployed" if current is None else "no recorded baseline metric"
                    results.append(
                        RuleResult(
                            gate.name,
                            rule.metric,
                            "max_regression",
                            rule.max_regression,
                            value,
                            None,
                            value is not None,
                            note,
                        )
                    )
                else:
                    # A tiny tolerance so that equal metrics never fail through float rounding.
                    ok = baseline - value <= rule.max_regression + 1e-12
                    results.append(
                        RuleResult(gate.name, rule.metric, "max_regression", rule.max_regression, value, baseline, ok)
                    )
    return Verdict(environment, all(r.passed for r in results), gates_hash(gates), tuple(results), at, commit, against)
