"""`metric`: a threshold on a scikit-learn scorer computed on the test split (or a slice of
it): a minimum, a maximum, and a largest drop against the version the environment holds now.

Measurements are recorded on versions as tags `reconciler.metric.<key>`; MLflow tag keys
allow only [/\\w.\\- :], so a slice is named by a short hash of its definition.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import Annotated, Any, ClassVar

from pydantic import Field, StringConstraints, model_validator

from reconciler.canonical import sha256_json
from reconciler.diagnostics import ReconcilerError
from reconciler.fields import Scalar, Spec, Threshold
from reconciler.rules.base import Measure, RuleResult, RuleType, SpecPath, Split
from reconciler.rules.scoring import score
from reconciler.suggest import did_you_mean

# Equal metrics must never fail a regression rule through float rounding.
EPSILON = 1e-12
SLICE_OPS = ("gt", "ge", "lt", "le", "eq", "ne", "in")


class Slice(Spec):
    """A subset of the test split: rows where `column` satisfies one comparison."""

    column: Annotated[str, StringConstraints(min_length=1)]
    gt: Threshold | None = None
    ge: Threshold | None = None
    lt: Threshold | None = None
    le: Threshold | None = None
    eq: Scalar | None = None
    ne: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in")

    @model_validator(mode="after")
    def _one_operator(self) -> Slice:
        given = [op for op in SLICE_OPS if getattr(self, op.rstrip("_") if op != "in" else "in_") is not None]
        if len(given) != 1:
            raise ValueError(f"a slice needs exactly one of {', '.join(SLICE_OPS)} (got {len(given)})")
        return self

    @property
    def operator(self) -> tuple[str, object]:
        for op in SLICE_OPS:
            value = getattr(self, "in_" if op == "in" else op)
            if value is not None:
                return op, value
        raise AssertionError("validated: one operator")

    def describe(self) -> str:
        op, value = self.operator
        symbol = {"gt": ">", "ge": ">=", "lt": "<", "le": "<=", "eq": "==", "ne": "!=", "in": "in"}[op]
        return f"{self.column} {symbol} {value}"


class MetricRule(Spec):
    """A threshold on a scikit-learn scorer computed on the test split (or a slice of it)."""

    metric: str
    min: Threshold | None = None
    max: Threshold | None = None
    max_regression: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = Field(
        default=None,
        description="Largest allowed drop against the version the environment holds now, on the same test split.",
    )
    relative: bool = Field(default=False, description="max_regression as a fraction of the current value.")
    slice: Slice | None = Field(default=None, description="Evaluate on the rows of the test split that match.")

    @model_validator(mode="after")
    def _has_threshold(self) -> MetricRule:
        if self.min is None and self.max is None and self.max_regression is None:
            raise ValueError("a rule needs at least one of min, max, max_regression")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if self.relative and self.max_regression is None:
            raise ValueError("relative applies to max_regression, which this rule does not set")
        return self


def slice_id(s: Slice) -> str:
    return sha256_json(s.model_dump(mode="json", by_alias=True, exclude_none=True))[:10]


def metric_key(metric: str, s: Slice | None = None) -> str:
    return f"slice.{slice_id(s)}.{metric}" if s is not None else metric


def label(rule: MetricRule) -> str:
    return rule.metric + (f" [{rule.slice.describe()}]" if rule.slice else "")


def select(x: Any, y: Any, s: Slice) -> tuple[Any, Any]:
    if s.column not in x.columns:
        raise ReconcilerError(f"slice column '{s.column}' is not a feature of the test split")
    column = x[s.column]
    op, value = s.operator
    mask = {
        "gt": lambda: column > value,
        "ge": lambda: column >= value,
        "lt": lambda: column < value,
        "le": lambda: column <= value,
        "eq": lambda: column == value,
        "ne": lambda: column != value,
        "in": lambda: column.isin(value),
    }[op]()
    return x[mask], y[mask]


def on_test_split(metric: str) -> Measure:
    def measure(estimator: Any, data: Split) -> float:
        return score(estimator, [metric], data.x_test, data.y_test)[metric]

    return measure


def on_slice(metric: str, s: Slice) -> Measure:
    def measure(estimator: Any, data: Split) -> float:
        x, y = select(data.x_test, data.y_test, s)
        if len(y) == 0:
            raise ReconcilerError(f"slice '{s.describe()}' selects no rows of the test split")
        return score(estimator, [metric], x, y)[metric]

    return measure


class Metric(RuleType[MetricRule]):
    subject = "metric"
    spec = MetricRule
    thresholds: ClassVar[Mapping[str, bool]] = {"min": False, "max": True, "max_regression": True}

    def measurements(self, rule: MetricRule) -> dict[str, Measure]:
        key = metric_key(rule.metric, rule.slice)
        return {key: on_slice(rule.metric, rule.slice) if rule.slice else on_test_split(rule.metric)}

    def regression_keys(self, rule: MetricRule) -> set[str]:
        return {metric_key(rule.metric, rule.slice)} if rule.max_regression is not None else set()

    def evaluate(
        self,
        gate: str,
        rule: MetricRule,
        candidate: Mapping[str, float],
        current: Mapping[str, float] | None,
        advisory: bool,
    ) -> list[RuleResult]:
        out: list[RuleResult] = []
        key = metric_key(rule.metric, rule.slice)
        shown = label(rule)
        value = candidate.get(key)
        if rule.min is not None:
            passed = value is not None and value >= rule.min
            out.append(RuleResult(gate, shown, "min", rule.min, value, None, passed, advisory=advisory))
        if rule.max is not None:
            passed = value is not None and value <= rule.max
            out.append(RuleResult(gate, shown, "max", rule.max, value, None, passed, advisory=advisory))
        if rule.max_regression is not None:
            kind = "max_regression_relative" if rule.relative else "max_regression"
            baseline = current.get(key) if current is not None else None
            if baseline is None or value is None:
                note = "nothing deployed" if current is None else "no baseline measurement"
                out.append(
                    RuleResult(
                        gate, shown, kind, rule.max_regression, value, None, value is not None, note, advisory=advisory
                    )
                )
            else:
                drop = baseline - value
                if rule.relative:
                    drop = drop / abs(baseline) if baseline else (0.0 if drop <= 0 else float("inf"))
                passed = drop <= rule.max_regression + EPSILON
                out.append(
                    RuleResult(gate, shown, kind, rule.max_regression, value, baseline, passed, advisory=advisory)
                )
        return out

    def describe(self, rule: MetricRule) -> str:
        shown = label(rule)
        parts = []
        if rule.min is not None:
            parts.append(f"{shown} >= {rule.min:g}")
        if rule.max is not None:
            parts.append(f"{shown} <= {rule.max:g}")
        if rule.max_regression is not None:
            limit = f"{rule.max_regression:.0%}" if rule.relative else f"{rule.max_regression:g}"
            parts.append(f"{shown} regression <= {limit}")
        return ", ".join(parts)

    def identity(self, rule: MetricRule) -> tuple[str, ...]:
        return ("metric", rule.metric, slice_id(rule.slice) if rule.slice else "")

    def problems(self, rule: MetricRule, scorers: Collection[str]) -> Iterator[tuple[SpecPath, str]]:
        if rule.metric not in scorers:
            yield ("metric",), f"unknown scorer '{rule.metric}'{did_you_mean(rule.metric, scorers)}"

    def model_metrics(self, rule: MetricRule) -> set[str]:
        # A plain metric is the one the model records at training; a slice is measured apart.
        return {rule.metric} if rule.slice is None else set()
