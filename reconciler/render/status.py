"""Status rows: each (environment, model) with a state word users know from Argo CD."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.plan.model import Kind, Plan
from reconciler.render.views import rows
from reconciler.state.actual import ActualState


@dataclass(frozen=True)
class StatusRow:
    environment: str
    model: str
    desired: str
    actual: str
    state: str  # Synced | OutOfSync | Degraded | Missing
    since: str
    commit: str
    detail: str


def status_rows(plan: Plan, actual: ActualState) -> list[StatusRow]:
    blocked = {(a.environment, a.model): a.reason for a in plan.actions if a.kind is Kind.BLOCKED}
    out = []
    for row in rows(plan):
        rm = actual.model(row.model)
        last = rm.last_move(row.environment) if rm else None
        actual_version = rm.aliases.get(row.environment) if rm else None
        key = (row.environment, row.model)
        if key in blocked:
            state, detail = "Degraded", blocked[key]
        elif row.symbol == "=":
            state, detail = "Synced", ""
        elif actual_version is None:
            state, detail = "Missing", "; ".join(row.reasons)
        else:
            state, detail = "OutOfSync", "; ".join(row.reasons)
        out.append(
            StatusRow(
                environment=row.environment,
                model=row.model,
                desired=row.after if row.symbol != "=" else row.before,
                actual=f"v{actual_version}" if actual_version else "(none)",
                state=state,
                since=last.at[:10] if last else "-",
                commit=last.commit[:7] if last and last.commit else "-",
                detail=detail,
            )
        )
    return out
