"""Turn plans and state into rows for the templates (decisions here, layout in templates)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from reconciler.gates.measures import describe_rule
from reconciler.plan.diff import change_line
from reconciler.plan.model import UNKNOWN_VERSION, Action, Kind, Plan
from reconciler.render.markdown import fence_for, md_code, md_text
from reconciler.spec.kinds import Gate
from reconciler.state.actual import ActualState, version_label
from reconciler.vcs.git import Revert


@lru_cache(maxsize=2)
def environment(html: bool = False) -> Any:
    """The one template environment, in its two modes: text and Markdown (values that did not
    come from this code go through the `md`/`code` filters), or HTML (autoescaped: feature names
    and categories come from data)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("reconciler", "render/templates"),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=not html,
        autoescape=html,
        undefined=jinja2.StrictUndefined,
        bytecode_cache=_bytecode_cache(),
    )
    env.filters.update(md=md_text, code=md_code, fence=fence_for)
    return env


def template_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gitops-model-reconciler" / "templates"


def _bytecode_cache() -> Any:
    """Templates compiled once per user and Jinja version instead of on every run (~0.09 s of a
    no-op plan). Jinja checks each entry against the template's source and the Python version;
    a cache that cannot be written is only slower."""
    import jinja2

    class QuietCache(jinja2.FileSystemBytecodeCache):
        def dump_bytecode(self, bucket: Any) -> None:
            with contextlib.suppress(OSError):
                super().dump_bytecode(bucket)

    directory = template_cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return QuietCache(str(directory))


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


def gate_words(gates: Sequence[Gate]) -> tuple[str, ...]:
    """Each gate with its rules in a few words: `quality (accuracy >= 0.9, advisory)`."""
    out = []
    for gate in gates:
        rules = ", ".join(describe_rule(r) for r in gate.rules)
        advisory = ", advisory" if gate.enforcement == "advisory" else ""
        out.append(f"{gate.name} ({rules}{advisory})")
    return tuple(out)


def _v(version: str | None, new: bool = False) -> str:
    if version == UNKNOWN_VERSION:
        return "(deployed)"
    return version_label(version, "(new)" if new else "(none)")


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
        if symbol == "=" and first.reason.startswith("rollout of"):
            what = first.reason
        reasons = tuple(dict.fromkeys(a.reason for a in actions if a.kind is not Kind.EVALUATE or len(actions) == 1))
        changes = tuple(dict.fromkeys(change_line(c) for a in actions for c in a.changes))
        gates = gate_words(next((a.gates for a in actions if a.gates), ()))
        out.append(Row(env, model, symbol, before, after, what, reasons, changes, gates, first.fingerprint or ""))
    return out


@dataclass(frozen=True)
class Rollback:
    """What a revert does: which commit it undoes and where the aliases go back to."""

    reverted: str
    subject: str
    returns: tuple[str, ...]  # "production/iris-classifier v2 -> v1"
    trains: int


def rollback_of(plan: Plan, reverts: Sequence[Revert]) -> Rollback | None:
    if not reverts or not plan.has_changes:
        return None  # applied already: nothing left to roll back
    first = reverts[0]
    returns = tuple(
        f"{a.environment}/{a.model} {_v(a.from_version)} -> {_v(a.to_version, new=True)}"
        if a.kind is Kind.PROMOTE
        else f"{a.environment}/{a.model} stays at {_v(a.from_version)} (its rollout is cancelled)"
        for a in plan.actions
        if a.kind in (Kind.PROMOTE, Kind.ABORT)
    )
    return Rollback(first.reverted[:7], first.subject, returns, plan.counts()["train"])


def _verdict_cell(actual: ActualState | None, action: Action, gates_hash: str | None) -> str | None:
    """Recorded verdicts with values vs thresholds, when the registry knows them (under the
    gates the specs give now: a preview's, on a pull request)."""
    if actual is None or action.to_version is None:
        return None
    rm = actual.model(action.model)
    version = rm.versions.get(action.to_version) if rm else None
    verdict = version.verdict(action.environment, gates_hash) if version else None
    if verdict is None:
        return None
    cells = (f"{md_text(r.gate)}: {md_text(r.describe())} {'✅' if r.passed else '❌'}" for r in verdict.rules)
    return "<br>".join(cells)


@dataclass(frozen=True)
class MetricRow:
    environment: str
    model: str
    metric: str
    current: str
    candidate: str
    delta: str


def metric_rows(plan: Plan, actual: ActualState | None) -> list[MetricRow]:
    """Candidate metrics next to the version each would replace (preview training)."""
    out: list[MetricRow] = []
    if actual is None:
        return out
    for a in plan.actions:
        if a.kind is not Kind.PROMOTE or a.to_version is None:
            continue
        rm = actual.model(a.model)
        if rm is None or a.to_version not in rm.versions:
            continue
        candidate = rm.versions[a.to_version].metrics
        previous = rm.versions.get(a.from_version) if a.from_version else None
        current = previous.metrics if previous is not None else {}
        # Costs, slices and baselines are shown with their gates, next to their thresholds.
        for metric in sorted(k for k in candidate if not k.startswith(("cost.", "slice.", "baseline."))):
            now = current.get(metric)
            delta = f"{candidate[metric] - now:+.4f}" if now is not None else ""
            out.append(
                MetricRow(
                    a.environment,
                    a.model,
                    metric,
                    f"{now:.4f}" if now is not None else "-",
                    f"{candidate[metric]:.4f}",
                    delta,
                )
            )
    return out


def plan_context(
    plan: Plan,
    *,
    actual: ActualState | None = None,
    reverts: Sequence[Revert] = (),
    base: str = "",
    gates_hashes: Mapping[tuple[str, str], str] | None = None,
) -> dict[str, Any]:
    all_rows = rows(plan)
    by_env: dict[str, list[Row]] = {}
    for row in all_rows:
        by_env.setdefault(row.environment, []).append(row)
    width = max((len(r.model) for r in all_rows), default=10)
    last_action = {(a.environment, a.model): a for a in plan.actions}
    md_rows: list[dict[str, Any]] = []
    for r in all_rows:
        if r.symbol == "=":
            continue
        key = (r.environment, r.model)
        new = r.after == "(new)"
        verdicts = _verdict_cell(actual, last_action[key], (gates_hashes or {}).get(key))
        md_rows.append(
            {
                "row": r,
                "before": r.before if plan.checked else "?",
                "to": md_text(r.after) + (f" (fp {md_code(r.fingerprint[:8] + '…')})" if r.fingerprint and new else ""),
                "why": "<br>".join([*(md_code(c) for c in r.changes), *(md_text(x) for x in r.reasons)]),
                "gates": verdicts if verdicts is not None else _md_cell(r.gates),
            }
        )
    md_envs: dict[str, list[dict[str, Any]]] = {}
    for m in md_rows:
        md_envs.setdefault(m["row"].environment, []).append(m)
    return {
        "plan": plan,
        "md_rows": md_rows,
        "md_envs": md_envs,
        "by_env": by_env,
        "changed_rows": [r for r in all_rows if r.symbol != "="],
        "width": width,
        "summary": plan.summary(),
        "registry_checked": plan.checked,
        "rollback": rollback_of(plan, reverts),
        "metrics": metric_rows(plan, actual),
        "base": base[:7],
        "notes": plan.notes,
        "preview": plan.preview,
        "preview_failed": plan.preview_failed,
    }


def _md_cell(texts: list[str] | tuple[str, ...]) -> str:
    return "<br>".join(md_text(t) for t in texts)
