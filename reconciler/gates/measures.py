"""Names of the measurements gate rules read. Pure: a rule maps to the keys it needs.

Measurements are recorded on versions as tags `reconciler.metric.<key>`; MLflow tag keys
allow only [/\\w.\\- :], so a slice is named by a short hash of its definition.
"""

from __future__ import annotations

from reconciler.canonical import sha256_json
from reconciler.spec.kinds import BaselineRule, CostRule, Gate, MetricRule, Slice

TRAINING_SECONDS = "cost.training_seconds"
MODEL_SIZE = "cost.model_size_kb"
# Recorded on every version at training (not gate keys): predict time per row on a batch.
PREDICT_P50 = "cost.predict_p50_us_per_row"
PREDICT_P95 = "cost.predict_p95_us_per_row"
COST_BATCH = 1000
COST_REPEATS = 15


def slice_id(s: Slice) -> str:
    return sha256_json(s.model_dump(mode="json", by_alias=True, exclude_none=True))[:10]


def metric_key(metric: str, s: Slice | None = None) -> str:
    return f"slice.{slice_id(s)}.{metric}" if s is not None else metric


def cost_key(rule: CostRule) -> str:
    if rule.cost == "latency_p95_ms":
        return f"cost.latency_p95_ms.b{rule.batch}.r{rule.repeats}"
    return TRAINING_SECONDS if rule.cost == "training_seconds" else MODEL_SIZE


def baseline_key(rule: BaselineRule) -> str:
    return f"baseline.{rule.baseline}.{rule.metric}"


def keys(gates: list[Gate] | tuple[Gate, ...]) -> set[str]:
    """Every measurement the gates need, for the candidate."""
    out: set[str] = set()
    for gate in gates:
        for rule in gate.rules:
            if isinstance(rule, MetricRule):
                out.add(metric_key(rule.metric, rule.slice))
            elif isinstance(rule, CostRule):
                out.add(cost_key(rule))
            else:
                out.add(rule.metric)
                out.add(baseline_key(rule))
    return out


def regression_keys(gates: list[Gate] | tuple[Gate, ...]) -> set[str]:
    """What the current version must be measured on (the same split) for regression rules."""
    return {
        metric_key(r.metric, r.slice)
        for g in gates
        for r in g.rules
        if isinstance(r, MetricRule) and r.max_regression is not None
    }


def describe_rule(rule: MetricRule | CostRule | BaselineRule) -> str:
    """A rule in a few words, for plans: `accuracy >= 0.9`, `latency_p95_ms <= 5`."""
    if isinstance(rule, CostRule):
        extra = f" (batch {rule.batch})" if rule.cost == "latency_p95_ms" else ""
        return f"{rule.cost} <= {rule.max:g}{extra}"
    if isinstance(rule, BaselineRule):
        return f"{rule.metric} beats {rule.baseline} by >= {rule.margin:g}"
    label = rule.metric + (f" [{rule.slice.describe()}]" if rule.slice else "")
    parts = []
    if rule.min is not None:
        parts.append(f"{label} >= {rule.min:g}")
    if rule.max is not None:
        parts.append(f"{label} <= {rule.max:g}")
    if rule.max_regression is not None:
        limit = f"{rule.max_regression:.0%}" if rule.relative else f"{rule.max_regression:g}"
        parts.append(f"{label} regression <= {limit}")
    return ", ".join(parts)


def specs(gates: list[Gate] | tuple[Gate, ...]) -> dict[str, MetricRule | CostRule | BaselineRule | str]:
    """Each measurement key with what defines it (the rule, or a bare metric name)."""
    out: dict[str, MetricRule | CostRule | BaselineRule | str] = {}
    for gate in gates:
        for rule in gate.rules:
            if isinstance(rule, MetricRule):
                out[metric_key(rule.metric, rule.slice)] = rule if rule.slice else rule.metric
            elif isinstance(rule, CostRule):
                out[cost_key(rule)] = rule
            else:
                out[rule.metric] = rule.metric
                out[baseline_key(rule)] = rule
    return out
