"""`parity`: a metric may not differ by more than `max_gap` between groups of the test split
(each group a slice, as in metric rules). A model can pass `accuracy >= 0.9` overall while
failing one group; this rule holds the groups to each other.

Each group's value is a slice measurement, shared with metric rules on the same slice.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import Annotated, ClassVar

from pydantic import Field

from reconciler.fields import Spec
from reconciler.rules.base import Measure, RuleResult, RuleType, SpecPath
from reconciler.rules.metric import Slice, metric_key, on_slice, slice_id
from reconciler.suggest import did_you_mean


class ParityRule(Spec):
    """A metric may differ by at most max_gap between groups of the test split."""

    parity: str = Field(description="the scikit-learn scorer compared across groups, e.g. accuracy")
    groups: list[Slice] = Field(min_length=2, max_length=20, description="the groups, each a slice of the test split")
    max_gap: Annotated[float, Field(ge=0, allow_inf_nan=False)] = Field(
        description="largest allowed difference between the best and the worst group"
    )


def _label(rule: ParityRule) -> str:
    return f"{rule.parity} gap [{' | '.join(g.describe() for g in rule.groups)}]"


class Parity(RuleType[ParityRule]):
    subject = "parity"
    spec = ParityRule
    thresholds: ClassVar[Mapping[str, bool]] = {"max_gap": True}

    def measurements(self, rule: ParityRule) -> dict[str, Measure]:
        return {metric_key(rule.parity, g): on_slice(rule.parity, g) for g in rule.groups}

    def evaluate(
        self,
        gate: str,
        rule: ParityRule,
        candidate: Mapping[str, float],
        current: Mapping[str, float] | None,
        advisory: bool,
    ) -> list[RuleResult]:
        values = [candidate.get(metric_key(rule.parity, g)) for g in rule.groups]
        measured = [v for v in values if v is not None]
        if len(measured) < len(values):
            return [RuleResult(gate, _label(rule), "max", rule.max_gap, None, None, False, advisory=advisory)]
        gap = max(measured) - min(measured)
        return [RuleResult(gate, _label(rule), "max", rule.max_gap, gap, None, gap <= rule.max_gap, advisory=advisory)]

    def describe(self, rule: ParityRule) -> str:
        return f"{rule.parity} gap across {len(rule.groups)} groups <= {rule.max_gap:g}"

    def identity(self, rule: ParityRule) -> tuple[str, ...]:
        return ("parity", rule.parity, *sorted(slice_id(g) for g in rule.groups))

    def problems(self, rule: ParityRule, scorers: Collection[str]) -> Iterator[tuple[SpecPath, str]]:
        if rule.parity not in scorers:
            yield ("parity",), f"unknown scorer '{rule.parity}'{did_you_mean(rule.parity, scorers)}"
        ids = [slice_id(g) for g in rule.groups]
        for i, group in enumerate(rule.groups):
            if ids.index(ids[i]) != i:
                yield ("groups", i), f"group '{group.describe()}' is listed twice"
