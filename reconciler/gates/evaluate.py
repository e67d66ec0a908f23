"""Evaluate an environment's gates on measurements. Pure: numbers in, verdict out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from reconciler.canonical import sha256_json
from reconciler.gates import measures
from reconciler.gates.verdict import RuleResult, Verdict
from reconciler.spec.kinds import BaselineRule, CostRule, Gate, MetricRule

# Equal metrics must never fail a regression rule through float rounding.
EPSILON = 1e-12


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
            results.extend(_rule(gate.name, rule, candidate, current, advisory))
    passed = all(r.passed or r.advisory for r in results)
    return Verdict(environment, passed, gates_hash(gates), tuple(results), at, commit, against)


def _rule(
    gate: str,
    rule: MetricRule | CostRule | BaselineRule,
    candidate: Mapping[str, float],
    current: Mapping[str, float] | None,
    advisory: bool,
) -> list[RuleResult]:
    out: list[RuleResult] = []
    if isinstance(rule, MetricRule):
        key = measures.metric_key(rule.metric, rule.slice)
        label = rule.metric + (f" [{rule.slice.describe()}]" if rule.slice else "")
        value = candidate.get(key)
        if rule.min is not None:
            out.append(
                RuleResult(
                    gate,
                    label,
                    "min",
                    rule.min,
                    value,
                    None,
                    value is not None and value >= rule.min,
                    advisory=advisory,
                )
            )
        if rule.max is not None:
            out.append(
                RuleResult(
                    gate,
                    label,
                    "max",
                    rule.max,
                    value,
                    None,
                    value is not None and value <= rule.max,
                    advisory=advisory,
                )
            )
        if rule.max_regression is not None:
            kind = "max_regression_relative" if rule.relative else "max_regression"
            baseline = current.get(key) if current is not None else None
            if baseline is None or value is None:
                note = "nothing deployed" if current is None else "no baseline measurement"
                out.append(
                    RuleResult(
                        gate, label, kind, rule.max_regression, value, None, value is not None, note, advisory=advisory
                    )
                )
            else:
                drop = baseline - value
                if rule.relative:
                    drop = drop / abs(baseline) if baseline else (0.0 if drop <= 0 else float("inf"))
                out.append(
                    RuleResult(
                        gate,
                        label,
                        kind,
                        rule.max_regression,
                        value,
                        baseline,
                        drop <= rule.max_regression + EPSILON,
                        advisory=advisory,
                    )
                )
    elif isinstance(rule, CostRule):
        value = candidate.get(measures.cost_key(rule))
        out.append(
            RuleResult(
                gate,
                rule.cost,
                "cost_max",
                rule.max,
                value,
                None,
                value is not None and value <= rule.max,
                "" if value is not None else "not measured",
                advisory=advisory,
            )
        )
    else:
        value = candidate.get(rule.metric)
        dummy = candidate.get(measures.baseline_key(rule))
        ok = value is not None and dummy is not None and value >= dummy + rule.margin
        out.append(RuleResult(gate, rule.metric, "baseline_margin", rule.margin, value, dummy, ok, advisory=advisory))
    return out
