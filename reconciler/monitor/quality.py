"""Live quality: the environment's gated metrics recomputed on a labelled batch, against the
same thresholds the version had to pass to get there."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.diagnostics import ReconcilerError
from reconciler.rules.metric import MetricRule, label, metric_key, select
from reconciler.rules.scoring import score
from reconciler.spec.kinds import Gate


@dataclass(frozen=True)
class QualityCheck:
    gate: str
    metric: str  # with the slice, as shown
    live: float | None
    bound: str  # min | max | max_regression
    threshold: float
    passed: bool
    note: str = ""

    def describe(self) -> str:
        shown = "n/a" if self.live is None else f"{self.live:.4g}"
        op = {"min": ">=", "max": "<=", "max_regression": ">="}[self.bound]
        return f"{self.metric} {shown} (needs {op} {self.threshold:.4g}){' ' + self.note if self.note else ''}"


def live_quality(
    gates: Sequence[Gate], estimator: Any, x: Any, y: Any, recorded: Mapping[str, float]
) -> tuple[QualityCheck, ...]:
    """Each metric rule of `gates` on (x, y); a regression bound is measured from the value the
    version recorded on its test split."""
    out: list[QualityCheck] = []
    cache: dict[str, float | None] = {}
    for gate in gates:
        for rule in gate.rules:
            if not isinstance(rule, MetricRule):
                continue  # costs and baselines are judged at training, not on live labels
            key = metric_key(rule.metric, rule.slice)
            if key not in cache:
                cache[key] = _measure(rule, estimator, x, y)
            live = cache[key]
            for bound, threshold in _bounds(rule, recorded.get(key)):
                passed = live is not None and (live >= threshold if bound != "max" else live <= threshold)
                note = "no rows in this slice" if live is None else ""
                if bound == "max_regression" and live is not None:
                    how = f"{rule.max_regression:g}{' relative' if rule.relative else ''}"
                    note = f"(at most {how} below the {recorded.get(key, 0):.4g} recorded at training)"
                out.append(QualityCheck(gate.name, label(rule), live, bound, threshold, passed, note))
    return tuple(out)


def _measure(rule: MetricRule, estimator: Any, x: Any, y: Any) -> float | None:
    if rule.slice is not None:
        try:
            x, y = select(x, y, rule.slice)
        except ReconcilerError:
            return None
        if len(y) == 0:
            return None
    return score(estimator, [rule.metric], x, y)[rule.metric]


def _bounds(rule: MetricRule, recorded: float | None) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    if rule.min is not None:
        out.append(("min", rule.min))
    if rule.max is not None:
        out.append(("max", rule.max))
    if rule.max_regression is not None and recorded is not None:
        drop = abs(recorded) * rule.max_regression if rule.relative else rule.max_regression
        out.append(("max_regression", recorded - drop))  # recorded on the test split at training
    return out
