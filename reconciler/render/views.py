"""Turn plans and state into rows for the templates (decisions here, layout in templates)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from reconciler.plan.model import Action, Kind, Plan


@lru_cache(maxsize=1)
def environment() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("reconciler", "render/templates"),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
        undefined=jinja2.StrictUndefined,
    )


def render(template: str, **context: Any) -> str:
    return str(environment().get_template(template).render(**context))


@dataclass(frozen=True)
class Row:
    environment: str
    model: str
    symbol: str  # + new, ~ change, = in sync, ! drift, - remove, x blocked
    before: str
    after: str
    what: str  # short words: "train, evaluate, promote"
    reasons: tuple[str, ...]
    changes: tuple[str, ...]
    gates: tuple[str, ...]
    fingerprint: str


def _v(version: str | None, new: bool = False) -> str:
    if version:
        return f"v{version}"
    return "(new)" if new else "(none)"


def rows(plan: Plan, *, include_noop: bool = True) -> list[Row]:
    grouped: dict[tuple[str, str], list[Action]] = {}
    for action in plan.actions:
        grouped.setdefault((action.environment, action.model), []).append(action)
    out = []
    for (env, model), actions in grouped.items():
        kinds = [a.kind for a in actions]
        first = actions[0]
        last = actions[-1]
        if Kind.BLOCKED in kinds:
            symbol = "x"
        elif Kind.DEMOTE in kinds:
            symbol = "-"
        elif any(a.drift for a in actions):
            symbol = "!"
        elif kinds == [Kind.NOOP]:
            symbol = "="
        elif first.from_version is None:
            symbol = "+"
        else:
            symbol = "~"
        if symbol == "=" and not include_noop:
            continue
        new = Kind.TRAIN in kinds or (last.kind is Kind.PROMOTE and last.to_version is None)
        after = _v(last.to_version, new=new) if symbol != "-" else "(none)"
        before = _v(first.from_version)
        what = ", ".join(k.value for k in kinds) if symbol != "=" else "in sync"
        reasons = tuple(dict.fromkeys(a.reason for a in actions if a.kind is not Kind.EVALUATE or len(actions) == 1))
        changes = tuple(dict.fromkeys(c for a in actions for c in a.changes))
        gates = next((a.gates for a in actions if a.gates), ())
        out.append(Row(env, model, symbol, before, after, what, reasons, changes, gates, first.fingerprint or ""))
    return out


def plan_context(plan: Plan, *, title: str = "", registry_checked: bool = True) -> dict[str, Any]:
    all_rows = rows(plan)
    by_env: dict[str, list[Row]] = {}
    for row in all_rows:
        by_env.setdefault(row.environment, []).append(row)
    width = max((len(r.model) for r in all_rows), default=10)
    md_rows = [
        {
            "row": r,
            "to": r.after + (f" (fp `{r.fingerprint[:8]}…`)" if r.fingerprint and r.after == "(new)" else ""),
            "why": _md_cell([*(f"`{c}`" for c in r.changes), *r.reasons]),
            "gates": _md_cell(r.gates),
        }
        for r in all_rows
        if r.symbol != "="
    ]
    return {
        "plan": plan,
        "md_rows": md_rows,
        "title": title,
        "by_env": by_env,
        "changed_rows": [r for r in all_rows if r.symbol != "="],
        "width": width,
        "summary": plan.summary(),
        "registry_checked": registry_checked,
    }


def _md_cell(texts: list[str] | tuple[str, ...]) -> str:
    return "<br>".join(t.replace("|", "\\|").replace("\n", " ") for t in texts)
