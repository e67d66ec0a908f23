"""The fleet's status as a static site (`reconciler status --html DIR`): an environments x
models matrix, and per model its alias ledger as a timeline, each version's gate verdicts and
costs, rollouts under way and the latest monitoring check with its drift histograms.

Pure: pages from the plan, the registry's state, the specs and the monitoring reports already
read; the command writes them. Every page is self-contained (inline CSS and SVG, no script, no
request at view time) and every value that came from specs, data or the registry is escaped by
the templates' autoescaping."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.gates.measures import MODEL_SIZE, PREDICT_P50, PREDICT_P95, TRAINING_SECONDS
from reconciler.gates.verdict import Verdict
from reconciler.monitor.drift import Histogram
from reconciler.plan.model import Plan
from reconciler.render.monitor import Chart, chart
from reconciler.render.status import StatusRow, status_rows
from reconciler.render.views import environment
from reconciler.spec.loader import DesiredState
from reconciler.state.actual import ActualState, RegisteredModelState, VersionState

# The state words and a mark for each, so that colour is never the only signal.
MARKS = {"Synced": "✓", "OutOfSync": "≠", "Progressing": "↻", "Degraded": "✗", "Missing": "∅"}
STATES = tuple(MARKS)


@dataclass(frozen=True)
class Cell:
    """One (environment, model) in the matrix."""

    environment: str
    model: str
    state: str
    mark: str
    actual: str
    desired: str
    fingerprint: str  # the deployed version's, first 8 characters ("" when none)
    reason: str
    since: str
    commit: str
    drift: str = ""  # the latest monitoring check of the deployed version, when it drifted


@dataclass(frozen=True)
class Move:
    """One ledger entry as the timeline shows it."""

    at: str
    environment: str
    before: str
    after: str
    kind: str  # promote | rollback | remove | rollout
    commit: str
    reason: str
    dirty: bool


@dataclass(frozen=True)
class Cost:
    label: str
    value: str


@dataclass(frozen=True)
class VersionView:
    version: str
    fingerprint: str
    commit: str
    created: str
    holds: tuple[str, ...]  # environments whose alias is on it now
    verdicts: tuple[Verdict, ...]  # the environments' order first, then any other recorded
    costs: tuple[Cost, ...]


@dataclass(frozen=True)
class Feature:
    name: str
    drifted: bool
    psi: str
    chart: Chart | None


@dataclass(frozen=True)
class MonitorView:
    environment: str
    version: str
    verdict: str
    at: str
    rows: str
    drifted: tuple[str, ...]
    features: tuple[Feature, ...]
    note: str  # why there are no histograms, when there are none


@dataclass(frozen=True)
class RolloutView:
    environment: str
    candidate: str
    champion: str
    where: str
    phase: str
    analysis: tuple[str, ...]
    started: str


@dataclass(frozen=True)
class ModelPage:
    name: str
    href: str
    description: str
    dataset: str
    estimator: str
    cells: tuple[Cell, ...]
    moves: tuple[Move, ...]  # newest first
    versions: tuple[VersionView, ...]  # newest first
    monitors: tuple[MonitorView, ...]
    rollouts: tuple[RolloutView, ...]


@dataclass(frozen=True)
class Site:
    generated: str
    revision: str
    registry: str
    environments: tuple[str, ...]
    models: tuple[ModelPage, ...]
    counts: tuple[tuple[str, str, int], ...]  # state, mark, how many cells

    def cell(self, environment: str, model: str) -> Cell | None:
        page = next((m for m in self.models if m.name == model), None)
        return next((c for c in page.cells if c.environment == environment), None) if page else None


def page_name(model: str) -> str:
    """A file name for the model's page: model names are spec data, so anything outside a safe
    alphabet is replaced, and a digest keeps two names that differ only there apart."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", model)[:80].lstrip(".") or "model"
    if safe != model:
        import hashlib

        safe += "-" + hashlib.sha256(model.encode()).hexdigest()[:8]
    return f"models/{safe}.html"


def moves(rm: RegisteredModelState) -> tuple[Move, ...]:
    """The ledger, newest first. A move back to a version the environment held before is a
    rollback (a revert, or an alias put back), whatever commit made it."""
    held: dict[str, set[str]] = {}
    out = []
    for e in rm.ledger:
        before, after = _label(e.from_version), _label(e.to_version)
        if e.event and not e.moved:
            kind, after = "rollout", f"{e.event} v{e.candidate}"
        elif e.to_version is None:
            kind = "remove"
        elif e.to_version in held.get(e.environment, set()) and e.from_version is not None:
            kind = "rollback"
        else:
            kind = "promote"
        if e.from_version is not None:
            held.setdefault(e.environment, set()).add(e.from_version)
        out.append(Move(e.at, e.environment, before, after, kind, e.commit[:7] or "-", e.reason, e.dirty))
    return tuple(reversed(out))


def _label(version: str | None) -> str:
    return f"v{version}" if version is not None else "(none)"


def minute(moment: str) -> str:
    """`2026-11-30T10:00:00Z` as `2026-11-30 10:00`."""
    return moment[:16].replace("T", " ")


def _num(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}g}"


def verdicts(version: VersionState, environments: Sequence[str]) -> tuple[Verdict, ...]:
    others = [e for e in version.verdict_environments() if e not in environments]
    found = (version.verdict(env) for env in [*environments, *others])
    return tuple(v for v in found if v is not None)


def costs(version: VersionState, price_per_cpu_hour: float | None) -> tuple[Cost, ...]:
    """What the version costs: training time, size and predict time measured when it was
    trained; with a price per CPU hour (the environment's serving block), what 1,000 single-row
    requests cost at the measured median predict time."""
    m = version.metrics
    out = [
        Cost("training", f"{_num(m.get(TRAINING_SECONDS), 3)} s"),
        Cost("size", f"{_num(m.get(MODEL_SIZE), 3)} KB"),
        Cost("predict p50", f"{_num(m.get(PREDICT_P50), 3)} µs/row"),
        Cost("predict p95", f"{_num(m.get(PREDICT_P95), 3)} µs/row"),
    ]
    if price_per_cpu_hour is not None and PREDICT_P50 in m:
        per_thousand = m[PREDICT_P50] * 1e-6 * price_per_cpu_hour / 3600 * 1000
        out.append(Cost("per 1,000 requests (est.)", f"{per_thousand:.3g}"))
    return tuple(out)


def monitor_view(
    environment: str, version: str, summary: Mapping[str, Any], report: Mapping[str, Any] | None
) -> MonitorView:
    """The latest check of what the environment runs: its summary tag and, when the report the
    check logged could be read, a histogram per column (reference and live side by side)."""
    features: list[Feature] = []
    note = ""
    if report is None:
        note = "the check's report could not be read from the registry: no histograms"
    else:
        try:
            drift = report["drift"]
            columns = [*drift["features"], *([drift["prediction"]] if drift.get("prediction") else [])]
            for c in columns:
                h = c["histogram"]
                histogram = Histogram(
                    tuple(str(x) for x in h["labels"]),
                    tuple(float(x) for x in h["reference"]),
                    tuple(float(x) for x in h["live"]),
                )
                if not len(histogram.labels) == len(histogram.reference) == len(histogram.live):
                    raise ValueError("histogram lengths differ")
                features.append(Feature(str(c["name"]), bool(c["drifted"]), _num(float(c["psi"]), 3), chart(histogram)))
        except (KeyError, TypeError, ValueError) as exc:
            features, note = [], f"the check's report is not one this version reads ({type(exc).__name__})"
    drifted = summary.get("drifted")
    return MonitorView(
        environment,
        _label(version),
        str(summary.get("verdict", "?")),
        minute(str(summary.get("at", ""))),
        str(summary.get("rows", "?")),
        tuple(str(d) for d in drifted) if isinstance(drifted, list) else (),
        tuple(features),
        note,
    )


Report = Callable[[str, str, str], Mapping[str, Any] | None]  # (environment, model, run id) -> report


def build(
    plan: Plan,
    actual: ActualState,
    desired: DesiredState,
    *,
    generated: str,
    revision: str,
    report: Report = lambda env, model, run_id: None,
) -> Site:
    """`report`: the JSON report the monitoring run logged (None: it could not be read), asked
    for the latest check of each version an environment runs."""
    rows: dict[tuple[str, str], StatusRow] = {(r.environment, r.model): r for r in status_rows(plan, actual)}
    environments = tuple(plan.environments) or desired.environment_order
    names = sorted({m for _, m in rows} | set(desired.specs.models))
    pages = []
    for name in names:
        rm = actual.model(name)
        spec = desired.specs.models.get(name)
        cells, monitors, rollouts = [], [], []
        for env in environments:
            held = rm.versions.get(rm.aliases.get(env, "")) if rm else None
            checked = held.monitor(env) if held else None
            row = rows.get((env, name))
            if row is not None:
                cells.append(
                    Cell(
                        env,
                        name,
                        row.state,
                        MARKS.get(row.state, "?"),
                        row.actual,
                        row.desired,
                        held.fingerprint[:8] if held else "",
                        row.detail,
                        row.since,
                        row.commit,
                        _drift_words(checked),
                    )
                )
            if held is not None and checked is not None:
                run_id = checked.get("run_id")
                logged = report(env, name, run_id) if isinstance(run_id, str) else None
                monitors.append(monitor_view(env, held.version, checked, logged))
            rolling = rm.rollout(env) if rm else None
            if rolling is not None:
                rollouts.append(
                    RolloutView(
                        env,
                        f"v{rolling.candidate}",
                        _label(rolling.champion),
                        rolling.where(),
                        rolling.phase,
                        tuple(m.describe() for m in rolling.last),
                        minute(rolling.started),
                    )
                )
        versions = []
        if rm is not None:
            price = _price(desired, environments, name)
            for v in sorted(rm.versions.values(), key=lambda v: int(v.version), reverse=True):
                holds = tuple(env for env in environments if rm.aliases.get(env) == v.version)
                versions.append(
                    VersionView(
                        f"v{v.version}",
                        v.fingerprint[:8],
                        (v.commit[:7] or "-") + ("+dirty" if v.dirty else ""),
                        minute(v.created),
                        holds,
                        verdicts(v, environments),
                        costs(v, price),
                    )
                )
        pages.append(
            ModelPage(
                name,
                page_name(name),
                spec.description if spec else "",
                spec.dataset if spec else "",
                _estimator(spec.estimator) if spec else "",
                tuple(cells),
                moves(rm) if rm else (),
                tuple(versions),
                tuple(monitors),
                tuple(rollouts),
            )
        )
    every = [c.state for p in pages for c in p.cells]
    counts = tuple((s, MARKS[s], every.count(s)) for s in STATES if every.count(s))
    return Site(generated, revision, actual.location, environments, tuple(pages), counts)


def _drift_words(summary: Mapping[str, Any] | None) -> str:
    if summary is None or summary.get("verdict") != "drifted":
        return ""
    drifted = summary.get("drifted")
    names = ", ".join(str(d) for d in drifted) if isinstance(drifted, list) and drifted else "the batch"
    return f"drift in {names} ({str(summary.get('at', ''))[:10]})"


def _price(desired: DesiredState, environments: Sequence[str], model: str) -> float | None:
    """The serving price of the first environment that sets one for the model."""
    for env in environments:
        spec = desired.specs.environments.get(env)
        if spec is not None and model in spec.models:
            price = spec.serving_of(model).price_per_cpu_hour
            if price is not None:
                return float(price)
    return None


def _estimator(estimator: Any) -> str:
    steps = getattr(estimator, "steps", None)
    if steps:
        return " → ".join(str(getattr(s, "class_", "")) for s in steps)
    return str(getattr(estimator, "class_", ""))


def pages(site: Site) -> dict[str, str]:
    """Relative path -> HTML, for every page of the site."""
    env = environment(html=True)
    out = {"index.html": str(env.get_template("site_index.html.j2").render(site=site, root=""))}
    model_page = env.get_template("site_model.html.j2")
    for page in site.models:
        out[page.href] = str(model_page.render(site=site, page=page, root="../", num=_num, minute=minute))
    return out
