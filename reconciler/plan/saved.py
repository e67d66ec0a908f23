"""Saved plans: `plan --out FILE` then `apply FILE` applies exactly that plan, or refuses when
the registry or the specs moved since (like Terraform's stale saved plans).

The file is not trusted to say what to do: it sits in a workspace or an artifact anyone with
write access can edit. Apply recomputes the plan from the specs and the registry, checks that
the file's serials still describe them, and runs the recomputed actions only if they are exactly
the file's; an edited action (an appended demote, a rewritten promote) is refused.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reconciler.canonical import sha256_json
from reconciler.desired.model import DesiredEntry
from reconciler.diagnostics import ReconcilerError
from reconciler.plan.model import Action, Kind, Plan
from reconciler.state import tags as t
from reconciler.state.actual import ActualState

SAVED_FORMAT = 1


def state_serial(actual: ActualState) -> str:
    """What the planner's decisions depend on in the registry: aliases, fingerprints, verdicts
    and the ledger. Measurements recorded later do not change a decision."""
    snapshot = {
        name: {
            "aliases": dict(sorted(rm.aliases.items())),
            "versions": {
                v: {
                    "fp": s.fingerprint,
                    **{k: s.tags[k] for k in sorted(s.tags) if k.startswith((t.GATE_PREFIX, t.PREVIEW_PREFIX))},
                }
                for v, s in sorted(rm.versions.items())
            },
            "ledger": len(rm.ledger),
        }
        for name, rm in sorted(actual.models.items())
    }
    return sha256_json({"models": snapshot, "unmanaged": sorted(actual.unmanaged)})[:16]


def specs_serial(entries: Sequence[DesiredEntry]) -> str:
    return sha256_json(
        sorted(
            [e.environment, e.model, e.fingerprint, e.gates_hash, list(e.data_problems), sha256_json(e.spec)]
            for e in entries
        )
    )[:16]


def save(path: Path, plan: Plan, actual: ActualState, entries: Sequence[DesiredEntry]) -> None:
    doc = {
        "saved_plan": SAVED_FORMAT,
        "state_serial": state_serial(actual),
        "specs_serial": specs_serial(entries),
        "plan": plan.to_dict(),
    }
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def load(path: Path, plan_location: str) -> tuple[Plan, str, str]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or doc.get("saved_plan") != SAVED_FORMAT:
            raise ValueError("not a saved plan of this format")
        raw = doc["plan"]
        if not isinstance(raw, dict) or not isinstance(raw.get("actions"), list):
            raise ValueError("'plan.actions' is not a list")
        actions = tuple(_action(a) for a in raw["actions"])
        plan = Plan(
            actions,
            tuple(raw["environments"]),
            plan_location,
            raw.get("revision", ""),
            tuple(raw.get("notes", ())),
            bool(raw.get("checked_against_registry", True)),
        )
        return plan, str(doc["state_serial"]), str(doc["specs_serial"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise ReconcilerError(f"{path}: not a readable saved plan ({type(exc).__name__}: {str(exc)[:200]})") from exc


def _action(raw: Any) -> Action:
    if not isinstance(raw, dict):
        raise ValueError("an action is not an object")
    for key in ("environment", "model"):
        if not isinstance(raw.get(key), str):
            raise ValueError(f"an action's '{key}' is not a string")
    return Action(
        kind=Kind(raw["kind"]),
        environment=raw["environment"],
        model=raw["model"],
        fingerprint=raw.get("fingerprint"),
        from_version=raw.get("from_version"),
        to_version=raw.get("to_version"),
        reason=raw.get("reason", ""),
        changes=tuple(raw.get("changes", ())),
        evaluate_in=tuple(raw.get("evaluate_in", ())),
        gates=tuple(raw.get("gates", ())),
        drift=bool(raw.get("drift", False)),
    )


def check_fresh(
    path: Path, saved_state: str, saved_specs: str, actual: ActualState, entries: Sequence[DesiredEntry]
) -> None:
    now = state_serial(actual)
    if now != saved_state:
        raise ReconcilerError(
            f"{path}: the registry changed since this plan was made (state {saved_state}, now {now}); "
            "run `reconciler plan --out` again"
        )
    now_specs = specs_serial(entries)
    if now_specs != saved_specs:
        raise ReconcilerError(
            f"{path}: the specs changed since this plan was made (specs {saved_specs}, now {now_specs}); "
            "run `reconciler plan --out` again"
        )


def check_same_actions(path: Path, saved: Plan, recomputed: Plan) -> None:
    """The file's actions must be exactly those its inputs give: nothing added, removed or changed."""
    mine = [a.to_dict() for a in saved.actions]
    derived = [a.to_dict() for a in recomputed.actions]
    if mine == derived:
        return
    index = next(
        (i for i, (a, b) in enumerate(zip(mine, derived, strict=False)) if a != b), min(len(mine), len(derived))
    )
    if index < len(mine):
        a = saved.actions[index]
        what = f"action {index + 1} ({a.kind.value} {a.environment}/{a.model})"
        why = "is not one the specs and the registry give" if index >= len(derived) else "differs from the plan"
    else:
        b = recomputed.actions[index]
        what = f"action {index + 1} ({b.kind.value} {b.environment}/{b.model})"
        why = "is missing from the file"
    raise ReconcilerError(
        f"{path}: {what} {why}: the file's actions are not the ones its specs and registry state give "
        "(was it edited?); nothing was applied. Run `reconciler plan --out` again"
    )
