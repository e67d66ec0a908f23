"""What a gate rule type is: its spec, the measurements it needs, how it judges them, how it
reads in a plan, how it is validated, and what loosening it means to a policy.

A rule type is one module in this package plus one line in its registry
(reconciler.rules.RULE_TYPES); nothing else dispatches on rule classes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from reconciler.fields import Spec

R = TypeVar("R", bound=Spec)
SpecPath = tuple[str | int, ...]


class Split(Protocol):
    """The train/test split a measurement reads (reconciler.data.frames.Split has this shape)."""

    @property
    def x_train(self) -> Any: ...
    @property
    def y_train(self) -> Any: ...
    @property
    def x_test(self) -> Any: ...
    @property
    def y_test(self) -> Any: ...


# Measure a fitted estimator on its split; None: recorded when the version was trained.
Measure = Callable[[Any, Split], float] | None


@dataclass(frozen=True)
class RuleResult:
    gate: str
    metric: str  # what was measured: a metric (with its slice), or a cost name
    rule: str  # min | max | max_regression | max_regression_relative | cost_max | baseline_margin
    threshold: float
    value: float | None
    baseline: float | None  # current version's value (regression) or the dummy's score (baseline)
    passed: bool
    note: str = ""
    advisory: bool = False

    def describe(self) -> str:
        text = self._describe()
        return text + (" (advisory)" if self.advisory and not self.passed else "")

    def _describe(self) -> str:
        """The value against its bound, in words that read right whether it passed or not:
        `accuracy 0.93 >= 0.8`, `roc_auc 0.5 < 0.7 (needs >= 0.7)`."""
        if self.rule.startswith("max_regression"):
            if self.baseline is None or self.value is None:
                return f"{self.metric} regression: no baseline ({self.note or 'nothing deployed'})"
            drop = self.baseline - self.value
            head = f"{self.metric} {self.value:.4g} vs {self.baseline:.4g}: drop"
            if self.rule == "max_regression_relative":
                rel = drop / abs(self.baseline) if self.baseline else 0.0
                return self._compare(f"{head} {rel:.2%}", "<=", f"{self.threshold:.2%}")
            return self._compare(f"{head} {drop:.4g}", "<=", f"{self.threshold:g}")
        if self.rule == "baseline_margin":
            if self.baseline is None or self.value is None:
                return f"{self.metric} vs dummy: missing (needs a margin >= {self.threshold:g})"
            head = (
                f"{self.metric} {self.value:.4g} vs dummy {self.baseline:.4g}: margin {self.value - self.baseline:.4g}"
            )
            return self._compare(head, ">=", f"{self.threshold:g}")
        op = ">=" if self.rule == "min" else "<="
        if self.value is None:
            text = f"{self.metric} missing (needs {op} {self.threshold:g})"
        else:
            text = self._compare(f"{self.metric} {self.value:.4g}", op, f"{self.threshold:g}")
        return text + (f" {self.note}" if self.rule == "cost_max" and self.note else "")

    def _compare(self, left: str, op: str, bound: str) -> str:
        if self.passed:
            return f"{left} {op} {bound}"
        return f"{left} {'<' if op == '>=' else '>'} {bound} (needs {op} {bound})"


class RuleType(Generic[R]):
    """One kind of gate rule. Subclasses set `subject` (the spec key that tells the rule apart:
    `metric`, `cost`, ...), `spec` (its pydantic class) and `thresholds`, and implement
    measurements, evaluate, describe and identity; the rest have defaults."""

    subject: ClassVar[str]
    spec: ClassVar[type[Spec]]
    # Each threshold field, with True when a larger value is looser: what a policy sees as
    # `change.gates_lowered`.
    thresholds: ClassVar[Mapping[str, bool]] = {}

    def measurements(self, rule: R) -> dict[str, Measure]:
        """Each measurement key the rule reads, with how to take it."""
        raise NotImplementedError

    def regression_keys(self, rule: R) -> set[str]:
        """Keys the version an environment holds now must also be measured on (same split)."""
        return set()

    def evaluate(
        self,
        gate: str,
        rule: R,
        candidate: Mapping[str, float],
        current: Mapping[str, float] | None,
        advisory: bool,
    ) -> list[RuleResult]:
        raise NotImplementedError

    def describe(self, rule: R) -> str:
        """The rule in a few words, for plans: `accuracy >= 0.9`."""
        raise NotImplementedError

    def identity(self, rule: R) -> tuple[str, ...]:
        """What the rule is about, without its thresholds: rules with the same identity in two
        revisions of a gate are the same rule, tightened or loosened."""
        raise NotImplementedError

    def problems(self, rule: R, scorers: Collection[str]) -> Iterator[tuple[SpecPath, str]]:
        """What is wrong with the rule beyond its schema (paths within the rule)."""
        return iter(())

    def model_metrics(self, rule: R) -> set[str]:
        """Metrics the gated model must compute itself (its `metrics` list)."""
        return set()
