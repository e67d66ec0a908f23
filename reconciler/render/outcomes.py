"""An apply's outcomes in words and as JSON: the message each step left, with what a newly
trained version costs beside the one the environment runs now."""

from __future__ import annotations

from typing import Any

from reconciler.apply.outcome import Cost, Outcome
from reconciler.gates.measures import MODEL_SIZE, PREDICT_P95

COSTS = ((MODEL_SIZE, "size", " KB"), (PREDICT_P95, "predict p95", " us/row"))


def cost_words(cost: Cost) -> str:
    """`cost: size 3.2 KB (+5% vs v1), predict p95 0.9 us/row`: a creeping cost shows in the PR
    comment and the apply log."""
    parts = []
    for key, label, unit in COSTS:
        part = f"{label} {cost.new[key]:.3g}{unit}"
        before = cost.current.get(key)
        if before:
            part += f" ({(cost.new[key] - before) / before * 100:+.0f}% vs v{cost.current_version})"
        parts.append(part)
    return "cost: " + ", ".join(parts)


def outcome_text(outcome: Outcome) -> str:
    if outcome.cost is None:
        return outcome.message
    return f"{outcome.message}; {cost_words(outcome.cost)}"


def outcome_dict(outcome: Outcome) -> dict[str, Any]:
    return {
        "kind": outcome.action.kind.value,
        "environment": outcome.action.environment,
        "model": outcome.action.model,
        "status": outcome.status.value,
        "message": outcome_text(outcome),
        "seconds": round(outcome.seconds, 3),
        "version": outcome.version,
    }
