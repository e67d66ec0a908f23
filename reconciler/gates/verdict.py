"""What gates decide, as recorded on a version: one result per rule and the verdict."""

from __future__ import annotations

import json
from dataclasses import dataclass


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


@dataclass(frozen=True)
class Verdict:
    """The outcome of one environment's gates on one version, as recorded on the version."""

    environment: str
    passed: bool
    gates_hash: str
    rules: tuple[RuleResult, ...]
    at: str = ""
    commit: str = ""
    against: str | None = None  # version the regression rules compared with

    def failures(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.rules if not r.passed)

    def to_json(self) -> str:
        return json.dumps(
            {
                "passed": self.passed,
                "gates_hash": self.gates_hash,
                "at": self.at,
                "commit": self.commit,
                "against": self.against,
                "rules": [
                    [r.gate, r.metric, r.rule, r.threshold, r.value, r.baseline, r.passed, r.note, r.advisory]
                    for r in self.rules
                ],
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, environment: str, text: str) -> Verdict | None:
        try:
            raw = json.loads(text)
            rules = tuple(
                RuleResult(g, m, r, float(th), v, b, bool(p), n, bool(rest[0]) if rest else False)
                for g, m, r, th, v, b, p, n, *rest in raw["rules"]
            )
            return cls(
                environment,
                bool(raw["passed"]),
                raw["gates_hash"],
                rules,
                raw.get("at", ""),
                raw.get("commit", ""),
                raw.get("against"),
            )
        except (ValueError, KeyError, TypeError):
            return None
