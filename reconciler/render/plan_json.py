"""The plan as JSON (`plan --format json`, `--write-json`): each action with its changes as
lines and as records (`diff`: op, path, old, new), its gates in words, and the train matrix."""

from __future__ import annotations

from typing import Any

from reconciler.plan.diff import change_line
from reconciler.plan.model import Action, Plan
from reconciler.render.views import gate_words

PLAN_FORMAT = 1


def action_dict(action: Action) -> dict[str, Any]:
    return {
        "kind": action.kind.value,
        "environment": action.environment,
        "model": action.model,
        "fingerprint": action.fingerprint,
        "from_version": action.from_version,
        "to_version": action.to_version,
        "reason": action.reason,
        "changes": [change_line(c) for c in action.changes],
        "evaluate_in": list(action.evaluate_in),
        "gates": list(gate_words(action.gates)),
        "drift": action.drift,
        "diff": [{"op": c.op, "path": list(c.path), "old": c.old, "new": c.new} for c in action.changes],
    }


def plan_dict(plan: Plan) -> dict[str, Any]:
    return {
        "format": PLAN_FORMAT,
        "id": plan.id,
        "revision": plan.revision,
        "location": plan.location,
        "environments": list(plan.environments),
        "summary": plan.counts(),
        "actions": [action_dict(a) for a in plan.actions],
        "notes": list(plan.notes),
        "checked_against_registry": plan.checked,
        "preview": [s.to_dict() for s in plan.preview],
        "matrix": plan.train_matrix(),
    }
