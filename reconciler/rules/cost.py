"""`cost`: a ceiling on what the model costs: prediction latency (p95 over timed calls on a
batch), serialized size, training time."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from reconciler.fields import Spec
from reconciler.rules.base import Measure, RuleResult, RuleType, Split
from reconciler.rules.scoring import latency_p95_ms, model_size_kb

TRAINING_SECONDS = "cost.training_seconds"
MODEL_SIZE = "cost.model_size_kb"

CostName = Literal["latency_p95_ms", "model_size_kb", "training_seconds"]


class CostRule(Spec):
    """A ceiling on what the model costs: prediction latency, serialized size, training time."""

    cost: CostName
    max: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    batch: Annotated[int, Field(ge=1, le=100_000)] = Field(default=1000, description="latency: rows per predict call")
    repeats: Annotated[int, Field(ge=3, le=1000)] = Field(default=30, description="latency: timed calls")


def cost_key(rule: CostRule) -> str:
    if rule.cost == "latency_p95_ms":
        return f"cost.latency_p95_ms.b{rule.batch}.r{rule.repeats}"
    return TRAINING_SECONDS if rule.cost == "training_seconds" else MODEL_SIZE


def _size(estimator: Any, data: Split) -> float:
    return model_size_kb(estimator)


class Cost(RuleType[CostRule]):
    subject = "cost"
    spec = CostRule
    thresholds: ClassVar[Mapping[str, bool]] = {"max": True}

    def measurements(self, rule: CostRule) -> dict[str, Measure]:
        if rule.cost == "latency_p95_ms":

            def latency(estimator: Any, data: Split) -> float:
                return latency_p95_ms(estimator, data.x_test, rule.batch, rule.repeats)

            return {cost_key(rule): latency}
        # Training time cannot be measured after the fact: it is recorded when the version trains.
        return {cost_key(rule): None if rule.cost == "training_seconds" else _size}

    def evaluate(
        self,
        gate: str,
        rule: CostRule,
        candidate: Mapping[str, float],
        current: Mapping[str, float] | None,
        advisory: bool,
    ) -> list[RuleResult]:
        value = candidate.get(cost_key(rule))
        passed = value is not None and value <= rule.max
        note = "" if value is not None else "not measured"
        return [RuleResult(gate, rule.cost, "cost_max", rule.max, value, None, passed, note, advisory=advisory)]

    def describe(self, rule: CostRule) -> str:
        extra = f" (batch {rule.batch})" if rule.cost == "latency_p95_ms" else ""
        return f"{rule.cost} <= {rule.max:g}{extra}"

    def identity(self, rule: CostRule) -> tuple[str, ...]:
        return ("cost", rule.cost, str(rule.batch) if rule.cost == "latency_p95_ms" else "")
