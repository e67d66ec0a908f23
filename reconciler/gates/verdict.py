"""What gates decide, as recorded on a version: one result per rule and the verdict."""

from __future__ import annotations

import json
from dataclasses import dataclass

from reconciler.rules.base import RuleResult as RuleResult


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
