"""The planner as a pure function on data: no registry, no files."""

from __future__ import annotations

from reconciler.desired.model import DesiredEntry
from reconciler.gates.evaluate import evaluate, gates_hash
from reconciler.plan.model import Kind
from reconciler.plan.planner import plan
from reconciler.spec.kinds import Gate
from reconciler.state import tags as t
from reconciler.state.actual import ActualState, LedgerEntry, RegisteredModelState, VersionState

GATE = Gate.model_validate({"kind": "Gate", "name": "q", "rules": [{"metric": "accuracy", "min": 0.8}]})
GH = gates_hash([GATE])
ENVS = ["dev", "staging"]


def entry(env: str, fp: str = "fp1", model: str = "m") -> DesiredEntry:
    ancestors = (("dev", GH),) if env == "staging" else ()
    return DesiredEntry(env, model, fp, {"model": {"C": 1}}, (GATE,), GH, ancestors)


def version(v: str, fp: str, verdicts: dict[str, float] | None = None) -> VersionState:
    tags = {t.FINGERPRINT: fp, t.METRIC_PREFIX + "accuracy": "0.9"}
    for env, acc in (verdicts or {}).items():
        tags[t.GATE_PREFIX + env] = evaluate(env, [GATE], {"accuracy": acc}, None).to_json()
    return VersionState("m", v, fp, "run", "src", "2026-11-24T00:00:00+00:00", tags)


def state(
    versions: list[VersionState],
    aliases: dict[str, str],
    ledger: list[tuple[str, str]] | None = None,
    unmanaged: frozenset[str] = frozenset(),
) -> ActualState:
    moves = tuple(
        LedgerEntry(i + 1, env, None, to, "c", "2026-11-24T00:00:00", "p") for i, (env, to) in enumerate(ledger or [])
    )
    rm = RegisteredModelState("m", True, aliases, {v.version: v for v in versions}, moves)
    return ActualState("sqlite://", {"m": rm} if versions or aliases else {}, unmanaged)


def kinds(p: object) -> list[tuple[str, str, str]]:
    return [(a.kind.value, a.environment, a.model) for a in p.actions]  # type: ignore[attr-defined]


def test_empty_registry_trains_once_and_promotes_in_order() -> None:
    p = plan([entry("staging"), entry("dev")], state([], {}), ENVS)
    assert kinds(p) == [
        ("train", "dev", "m"),
        ("evaluate", "dev", "m"),
        ("promote", "dev", "m"),
        ("evaluate", "staging", "m"),
        ("promote", "staging", "m"),
    ]
    assert p.actions[3].evaluate_in == ("dev", "staging")
    assert p.summary() == "Plan: 1 to train, 2 to promote, 0 blocked."


def test_in_sync_is_noop_and_plan_is_deterministic() -> None:
    v1 = version("1", "fp1", {"dev": 0.9, "staging": 0.9})
    actual = state([v1], {"dev": "1", "staging": "1"}, [("dev", "1"), ("staging", "1")])
    p = plan([entry("dev"), entry("staging")], actual, ENVS)
    assert [a.kind for a in p.actions] == [Kind.NOOP, Kind.NOOP]
    assert not p.has_changes
    assert plan([entry("staging"), entry("dev")], actual, ENVS) == p


def test_existing_fingerprint_is_promoted_without_training() -> None:
    v1 = version("1", "fp1", {"dev": 0.9})
    v2 = version("2", "fp2", {"dev": 0.9})
    actual = state([v1, v2], {"dev": "2"}, [("dev", "1"), ("dev", "2")])
    p = plan([entry("dev", "fp1")], actual, ["dev"])
    assert kinds(p) == [("promote", "dev", "m")]
    assert p.actions[0].from_version == "2" and p.actions[0].to_version == "1"
    assert "no training" in p.actions[0].reason


def test_alias_moved_by_hand_is_drift() -> None:
    v1, v2 = version("1", "fp1", {"dev": 0.9}), version("2", "fp2", {"dev": 0.9})
    actual = state([v1, v2], {"dev": "2"}, [("dev", "1")])
    (action,) = plan([entry("dev", "fp1")], actual, ["dev"]).actions
    assert action.kind is Kind.PROMOTE and action.drift
    assert "outside git" in action.reason


def test_failed_verdict_blocks_instead_of_retraining() -> None:
    v2 = version("2", "fp2", {"dev": 0.5})
    actual = state([version("1", "fp1", {"dev": 0.9}), v2], {"dev": "1"}, [("dev", "1")])
    (action,) = plan([entry("dev", "fp2")], actual, ["dev"]).actions
    assert action.kind is Kind.BLOCKED
    assert "accuracy 0.5 < 0.8 (needs >= 0.8)" in action.reason


def test_upstream_failure_blocks_downstream() -> None:
    v1 = version("1", "fp1", {"dev": 0.5})
    (action,) = plan([entry("staging", "fp1")], state([v1], {}), ENVS, scope=["staging"]).actions
    assert action.kind is Kind.BLOCKED and "'dev'" in action.reason


def test_changed_gates_make_a_verdict_stale() -> None:
    v1 = version("1", "fp1", {"dev": 0.9})
    stricter = Gate.model_validate({"kind": "Gate", "name": "q", "rules": [{"metric": "accuracy", "min": 0.95}]})
    desired = DesiredEntry("dev", "m", "fp1", {}, (stricter,), gates_hash([stricter]))
    p = plan([desired], state([v1], {"dev": "1"}, [("dev", "1")]), ["dev"])
    assert kinds(p) == [("evaluate", "dev", "m")]
    assert p.actions[0].reason == "gates changed"


def test_removed_model_is_demoted_only_where_the_reconciler_put_it() -> None:
    v1 = version("1", "fp1", {"dev": 0.9})
    actual = state([v1], {"dev": "1", "champion": "1"}, [("dev", "1")])
    p = plan([], actual, ["dev"])
    assert kinds(p) == [("demote", "dev", "m")]


def test_unmanaged_model_is_blocked() -> None:
    p = plan([entry("dev")], ActualState("x", {}, frozenset({"m"})), ["dev"])
    assert p.actions[0].kind is Kind.BLOCKED and "not managed" in p.actions[0].reason


def test_data_problems_block_training() -> None:
    bad = DesiredEntry("dev", "m", "fp1", {}, (GATE,), GH, (), ("column 'x' has 3 null values (no_nulls)",))
    (action,) = plan([bad], state([], {}), ["dev"]).actions
    assert action.kind is Kind.BLOCKED and "null values" in action.reason
