"""Saved plans: `plan --out FILE` then `apply FILE` applies exactly that plan, or refuses when
the registry or the specs moved since (like Terraform's stale saved plans).

The file is not trusted to say what to do: it sits in a workspace or an artifact anyone with
write access can edit. Apply recomputes the plan from the specs and the registry, checks that
the file's serials still describe them, and runs the recomputed actions only if they are exactly
the file's; an edited action (an appended demote, a rewritten promote) is refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.canonical import sha256_json
from reconciler.desired.model import DesiredEntry
from reconciler.diagnostics import ReconcilerError
from reconciler.plan.model import Plan
from reconciler.state import tags as t
from reconciler.state.actual import ActualState
from reconciler.vcs.git import first_commit
from reconciler.vcs.workspace import Workspace

SAVED_FORMAT = 3  # 2: each action's changes also as records (`diff`); 3: the repository it is for


@dataclass(frozen=True)
class Origin:
    """The repository a plan was made in. `first_commit` (the root commit of HEAD's history) is
    the same in every clone of a repository and differs between unrelated ones; `subdir` is where
    the specs sit in it; `root` is only where it was, to find it again on the same machine."""

    root: str
    subdir: str
    first_commit: str

    def same_place(self, other: Origin) -> bool:
        if self.first_commit or other.first_commit:
            return (self.first_commit, self.subdir) == (other.first_commit, other.subdir)
        return self.root == other.root  # outside git (--no-git): only the directory says which

    def describe(self) -> str:
        if not self.first_commit:
            return f"{self.root} (no git)"
        where = f"'{self.subdir}/' of " if self.subdir else ""
        return f"{self.root}: the specs in {where}the repository whose first commit is {self.first_commit[:12]}"


def origin_of(workspace: Workspace) -> Origin:
    first = first_commit(workspace.root) if workspace.git_top is not None else ""
    return Origin(str(workspace.root), workspace.subdir, first)


@dataclass(frozen=True)
class SavedPlan:
    actions: list[dict[str, Any]]
    state_serial: str
    specs_serial: str
    origin: Origin


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


def save(
    path: Path, view: Mapping[str, Any], actual: ActualState, entries: Sequence[DesiredEntry], origin: Origin
) -> None:
    """`view` is the plan as `plan --format json` shows it: what people read, and what apply
    compares with the plan it recomputes."""
    doc = {
        "saved_plan": SAVED_FORMAT,
        "repository": {"root": origin.root, "subdir": origin.subdir, "first_commit": origin.first_commit},
        "state_serial": state_serial(actual),
        "specs_serial": specs_serial(entries),
        "plan": view,
    }
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def load(path: Path) -> SavedPlan:
    """The file's actions (as plan JSON), its two serials and the repository it was made in."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or doc.get("saved_plan") != SAVED_FORMAT:
            raise ValueError("not a saved plan of this format")
        repository = doc["repository"]
        if not isinstance(repository, dict):
            raise ValueError("'repository' is not an object")
        fields: dict[str, str] = {}
        for key in ("root", "subdir", "first_commit"):
            value = repository.get(key)
            if not isinstance(value, str):
                raise ValueError(f"'repository.{key}' is not a string")
            fields[key] = value
        raw = doc["plan"]
        if not isinstance(raw, dict) or not isinstance(raw.get("actions"), list):
            raise ValueError("'plan.actions' is not a list")
        for action in raw["actions"]:
            if not isinstance(action, dict):
                raise ValueError("an action is not an object")
            for key in ("kind", "environment", "model"):
                if not isinstance(action.get(key), str):
                    raise ValueError(f"an action's '{key}' is not a string")
        return SavedPlan(list(raw["actions"]), str(doc["state_serial"]), str(doc["specs_serial"]), Origin(**fields))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise ReconcilerError(f"{path}: not a readable saved plan ({type(exc).__name__}: {str(exc)[:200]})") from exc


def check_origin(path: Path, saved: SavedPlan, here: Origin) -> None:
    if not saved.origin.same_place(here):
        raise ReconcilerError(
            f"{path}: this plan was made for {saved.origin.describe()}, not {here.describe()}; "
            "nothing was applied. Apply it in the repository it was made in (--repo DIR), or plan again here"
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


def check_same_actions(
    path: Path, mine: Sequence[Mapping[str, Any]], derived: Sequence[Mapping[str, Any]], recomputed: Plan
) -> None:
    """The file's actions must be exactly those its inputs give (`derived`, the recomputed
    plan's actions as JSON): nothing added, removed or changed."""
    if list(mine) == list(derived):
        return
    index = next(
        (i for i, (a, b) in enumerate(zip(mine, derived, strict=False)) if a != b), min(len(mine), len(derived))
    )
    if index < len(mine):
        a = mine[index]
        what = f"action {index + 1} ({a['kind']} {a['environment']}/{a['model']})"
        why = "is not one the specs and the registry give" if index >= len(derived) else "differs from the plan"
    else:
        b = recomputed.actions[index]
        what = f"action {index + 1} ({b.kind.value} {b.environment}/{b.model})"
        why = "is missing from the file"
    raise ReconcilerError(
        f"{path}: {what} {why}: the file's actions are not the ones its specs and registry state give "
        "(was it edited?); nothing was applied. Run `reconciler plan --out` again"
    )
