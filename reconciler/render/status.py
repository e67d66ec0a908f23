"""Status rows: each (environment, model) with a state word users know from Argo CD."""

from __future__ import annotations

from dataclasses import dataclass, replace

from reconciler.gates.measures import MODEL_SIZE, PREDICT_P50, PREDICT_P95, TRAINING_SECONDS
from reconciler.plan.model import Kind, Plan
from reconciler.render.views import rows
from reconciler.state.actual import ActualState


@dataclass(frozen=True)
class StatusRow:
    environment: str
    model: str
    desired: str
    actual: str
    state: str  # Synced | OutOfSync | Degraded | Missing | Progressing
    since: str
    commit: str
    detail: str
    served: str | None = None  # with --serve-url: the version the server answers with


def with_served(rows: list[StatusRow], views: list[dict[str, object]] | None) -> list[StatusRow]:
    """Rows with what a running `reconciler serve` answers with (its /v1/status `models`): an
    alias the server has not followed yet is Progressing, like a rollout Argo CD waits on.
    `views` None: the server could not be reached."""
    served = {(str(v.get("environment")), str(v.get("model"))): v for v in views or []}
    out = []
    for row in rows:
        view = served.get((row.environment, row.model))
        if views is None or view is None:
            out.append(replace(row, served="?" if views is None else "-"))
            continue
        version = view.get("serving")
        shown = f"v{version}" if version else "(none)"
        row = replace(row, served=shown)
        if shown != row.actual and row.state == "Synced":
            why = f"the server still answers with {shown}" + (f": {view['error']}" if view.get("error") else "")
            row = replace(row, state="Progressing", detail=why)
        out.append(row)
    return out


def status_rows(plan: Plan, actual: ActualState) -> list[StatusRow]:
    blocked = {(a.environment, a.model): a.reason for a in plan.actions if a.kind is Kind.BLOCKED}
    out = []
    for row in rows(plan):
        rm = actual.model(row.model)
        last = rm.last_move(row.environment) if rm else None
        actual_version = rm.aliases.get(row.environment) if rm else None
        key = (row.environment, row.model)
        rolling = rm.rollout(row.environment) if rm else None
        if key in blocked:
            state, detail = "Degraded", blocked[key]
        elif rolling is not None:
            state, detail = "Progressing", f"rollout of v{rolling.candidate}: {rolling.where()}"
            if rolling.last:
                detail += "; last analysis: " + ", ".join(m.describe() for m in rolling.last)
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
                desired=f"v{rolling.candidate}" if rolling else row.after if row.symbol != "=" else row.before,
                actual=f"v{actual_version}" if actual_version else "(none)",
                state=state,
                since=last.at[:10] if last else "-",
                commit=last.commit[:7] if last and last.commit else "-",
                detail=detail,
            )
        )
    return out


COSTS = (
    (TRAINING_SECONDS, "fit s"),
    (MODEL_SIZE, "size KB"),
    (PREDICT_P50, "p50 us/row"),
    (PREDICT_P95, "p95 us/row"),
)


@dataclass(frozen=True)
class CostRow:
    """What the version an environment runs costs, beside the version it replaced."""

    environment: str
    model: str
    version: str
    previous: str
    costs: dict[str, float | None]
    before: dict[str, float | None]

    def change(self, key: str) -> str:
        now, then = self.costs.get(key), self.before.get(key)
        if now is None or then is None or then == 0:
            return ""
        return f"{(now - then) / then * 100:+.0f}%"


def cost_rows(actual: ActualState, environments: list[tuple[str, str]]) -> list[CostRow]:
    """For each (environment, model) holding a version: its recorded costs, and those of the
    version the ledger says held the alias before."""
    out = []
    for env, name in environments:
        rm = actual.model(name)
        version = rm.aliases.get(env) if rm else None
        if rm is None or version is None or version not in rm.versions:
            continue
        previous = next(
            (e.from_version for e in reversed(rm.ledger) if e.environment == env and e.to_version == version), None
        )
        now = rm.versions[version].metrics
        then = rm.versions[previous].metrics if previous and previous in rm.versions else {}
        out.append(
            CostRow(
                env,
                name,
                f"v{version}",
                f"v{previous}" if previous else "-",
                {k: now.get(k) for k, _ in COSTS},
                {k: then.get(k) for k, _ in COSTS},
            )
        )
    return out
