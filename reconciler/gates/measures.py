"""The measurements an environment's gates read: each rule type says which keys it needs and
how to take them (reconciler.rules). Pure.

Measurements are recorded on versions as tags `reconciler.metric.<key>`.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.rules import rule_type
from reconciler.rules.base import Measure
from reconciler.rules.cost import MODEL_SIZE as MODEL_SIZE
from reconciler.rules.cost import TRAINING_SECONDS as TRAINING_SECONDS
from reconciler.spec.kinds import Gate, Spec

# Recorded on every version at training (not gate keys): predict time per row on a batch.
PREDICT_P50 = "cost.predict_p50_us_per_row"
PREDICT_P95 = "cost.predict_p95_us_per_row"
COST_BATCH = 1000
COST_REPEATS = 15


def specs(gates: Sequence[Gate]) -> dict[str, Measure]:
    """Each measurement key the gates read, with how to take it (None: recorded at training)."""
    out: dict[str, Measure] = {}
    for gate in gates:
        for rule in gate.rules:
            out.update(rule_type(rule).measurements(rule))
    return out


def keys(gates: Sequence[Gate]) -> set[str]:
    """Every measurement the gates need, for the candidate."""
    return set(specs(gates))


def regression_keys(gates: Sequence[Gate]) -> set[str]:
    """What the current version must be measured on (the same split) for regression rules."""
    return {key for g in gates for r in g.rules for key in rule_type(r).regression_keys(r)}


def describe_rule(rule: Spec) -> str:
    """A rule in a few words, for plans: `accuracy >= 0.9`, `latency_p95_ms <= 5`."""
    return rule_type(rule).describe(rule)
