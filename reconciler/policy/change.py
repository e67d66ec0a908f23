"""The change itself, between the base and head revisions, as policies see it. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reconciler.gates.measures import describe_rule
from reconciler.plan.diff import change_line
from reconciler.plan.model import Change
from reconciler.rules import rule_type
from reconciler.spec.kinds import Gate, Spec


def loosened(base: Sequence[Gate], head: Sequence[Gate]) -> list[dict[str, Any]]:
    """Every way the head's gates are weaker than the base's: a lowered minimum, a raised
    maximum or regression allowance, a rule or gate removed, a gate made advisory."""
    out: list[dict[str, Any]] = []
    now = {g.name: g for g in head}
    for old in base:
        new = now.get(old.name)
        if new is None:
            out.append({"gate": old.name, "rule": "", "field": "gate", "from": "present", "to": "removed"})
            continue
        if old.enforcement == "required" and new.enforcement == "advisory":
            out.append({"gate": old.name, "rule": "", "field": "enforcement", "from": "required", "to": "advisory"})
        # Rules on the same subject (two rules on accuracy, say) pair up in order.
        new_rules: dict[tuple[str, ...], list[Spec]] = {}
        for r in new.rules:
            new_rules.setdefault(rule_type(r).identity(r), []).append(r)
        seen: dict[tuple[str, ...], int] = {}
        for rule in old.rules:
            kind = rule_type(rule)
            key = kind.identity(rule)
            index = seen[key] = seen.get(key, -1) + 1
            candidates = new_rules.get(key, [])
            match = candidates[index] if index < len(candidates) else None
            if match is None:
                out.append(
                    {"gate": old.name, "rule": describe_rule(rule), "field": "rule", "from": "present", "to": "removed"}
                )
                continue
            for name, larger_is_looser in kind.thresholds.items():
                before, after = getattr(rule, name, None), getattr(match, name, None)
                if before is None:
                    continue
                if after is None or (after > before if larger_is_looser else after < before):
                    out.append(
                        {"gate": old.name, "rule": describe_rule(rule), "field": name, "from": before, "to": after}
                    )
    return out


def change_dict(
    base_revision: str,
    head_revision: str,
    base_fingerprint: str | None,
    head_fingerprint: str,
    base_gates: Sequence[Gate] | None,
    head_gates: Sequence[Gate],
    spec_diff: Sequence[Change],
) -> dict[str, Any]:
    lowered = loosened(base_gates or (), head_gates) if base_gates is not None else []
    return {
        "base": base_revision,
        "head": head_revision,
        "new": base_fingerprint is None,
        "model_changed": base_fingerprint is not None and base_fingerprint != head_fingerprint,
        "spec_diff": [change_line(c) for c in spec_diff],
        "diff": [{"op": c.op, "path": list(c.path), "old": c.old, "new": c.new} for c in spec_diff],
        "gates_lowered": lowered,
        "gates_changed": base_gates is not None
        and [g.model_dump() for g in base_gates] != [g.model_dump() for g in head_gates],
    }
