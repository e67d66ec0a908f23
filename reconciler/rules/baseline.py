"""`baseline`: the model must beat a trivial baseline (DummyClassifier / DummyRegressor,
fitted on the same training split) by a margin on a metric."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from reconciler.fields import Spec
from reconciler.rules.base import Measure, RuleResult, RuleType, SpecPath, Split
from reconciler.rules.metric import on_test_split
from reconciler.rules.scoring import dummy_score
from reconciler.suggest import did_you_mean


class BaselineRule(Spec):
    """The model must beat a trivial baseline (DummyClassifier / DummyRegressor) by a margin."""

    baseline: Literal["dummy"]
    metric: str
    margin: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0


def baseline_key(rule: BaselineRule) -> str:
    return f"baseline.{rule.baseline}.{rule.metric}"


class Baseline(RuleType[BaselineRule]):
    subject = "baseline"
    spec = BaselineRule
    thresholds: ClassVar[Mapping[str, bool]] = {"margin": False}

    def measurements(self, rule: BaselineRule) -> dict[str, Measure]:
        def dummy(estimator: Any, data: Split) -> float:
            return dummy_score(estimator, rule.metric, data.x_train, data.y_train, data.x_test, data.y_test)

        return {rule.metric: on_test_split(rule.metric), baseline_key(rule): dummy}

    def evaluate(
        self,
        gate: str,
        rule: BaselineRule,
        candidate: Mapping[str, float],
        current: Mapping[str, float] | None,
        advisory: bool,
    ) -> list[RuleResult]:
        value = candidate.get(rule.metric)
        dummy = candidate.get(baseline_key(rule))
        ok = value is not None and dummy is not None and value >= dummy + rule.margin
        return [RuleResult(gate, rule.metric, "baseline_margin", rule.margin, value, dummy, ok, advisory=advisory)]

    def describe(self, rule: BaselineRule) -> str:
        return f"{rule.metric} beats {rule.baseline} by >= {rule.margin:g}"

    def identity(self, rule: BaselineRule) -> tuple[str, ...]:
        return ("baseline", rule.metric, rule.baseline)

    def problems(self, rule: BaselineRule, scorers: Collection[str]) -> Iterator[tuple[SpecPath, str]]:
        if rule.metric not in scorers:
            yield ("metric",), f"unknown scorer '{rule.metric}'{did_you_mean(rule.metric, scorers)}"
