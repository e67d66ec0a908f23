"""Rollouts as pure functions on data: the spec block, the planner's rollout actions, the
analysis of observations, and the next step."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from reconciler.desired.model import DesiredEntry
from reconciler.gates.evaluate import evaluate, gates_hash
from reconciler.plan.model import Kind
from reconciler.plan.planner import plan
from reconciler.rollout.analysis import Observations, analyse, prediction_psi
from reconciler.rollout.steps import ABORT, ADVANCE, PROMOTE, WAIT, decide, due
from reconciler.spec.kinds import Environment, Gate
from reconciler.spec.rollout import Rollout
from reconciler.state import tags as t
from reconciler.state.actual import ActualState, LedgerEntry, RegisteredModelState, VersionState, registered_model_state
from reconciler.state.rollout import ABORTED, RolloutState, RolloutVerdict, rollouts_of, state_key

GATE = Gate.model_validate({"kind": "Gate", "name": "q", "rules": [{"metric": "accuracy", "min": 0.8}]})
GH = gates_hash([GATE])
CANARY = Rollout.model_validate(
    {
        "strategy": "canary",
        "steps": [{"weight": 10}, {"pause": "1m"}, {"weight": 50}],
        "analysis": {
            "interval": "10s",
            "failure_limit": 1,
            "min_requests": 5,
            "metrics": [{"metric": "error_rate", "max": 0.05}, {"metric": "latency_p95", "max": 50}],
        },
    }
)


# --- the spec block -------------------------------------------------------------------------


def test_canary_block_reads_like_argo_rollouts() -> None:
    assert CANARY.describe() == "canary 10% -> 50% -> 100%"
    assert [CANARY.weight_at(i) for i in range(3)] == [10, 10, 50]
    assert CANARY.analysis is not None and CANARY.analysis.interval_seconds == 10


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (
            {
                "strategy": "canary",
                "steps": [{"pause": "1m"}],
                "analysis": {"metrics": [{"metric": "error_rate", "max": 0.1}]},
            },
            "starts with a {weight",
        ),
        ({"strategy": "canary", "steps": [{"weight": 10}]}, "needs an analysis"),
        (
            {
                "strategy": "canary",
                "steps": [{"weight": 10, "pause": "1m"}],
                "analysis": {"metrics": [{"metric": "error_rate", "max": 0.1}]},
            },
            "either {weight",
        ),
        (
            {
                "strategy": "canary",
                "steps": [{"weight": 101}],
                "analysis": {"metrics": [{"metric": "error_rate", "max": 0.1}]},
            },
            "less than or equal to 100",
        ),
        (
            {
                "strategy": "canary",
                "steps": [{"weight": 10}, {"pause": "5 minutes"}],
                "analysis": {"metrics": [{"metric": "error_rate", "max": 0.1}]},
            },
            "not a duration like 500ms, 30s",
        ),
        (
            {
                "strategy": "shadow",
                "steps": [{"weight": 10}],
                "analysis": {"metrics": [{"metric": "error_rate", "max": 0.1}]},
            },
            "pauses only",
        ),
        (
            {
                "strategy": "canary",
                "steps": [{"weight": 10}],
                "analysis": {"metrics": [{"metric": "error_rate", "min": 0.1}]},
            },
            "bounded by 'max'",
        ),
        (
            {
                "strategy": "canary",
                "steps": [{"weight": 10}],
                "analysis": {"metrics": [{"metric": "live_quality", "min": 0.9}]},
            },
            "'score' is required",
        ),
        (
            {
                "strategy": "canary",
                "steps": [{"weight": 10}],
                "analysis": {"metrics": [{"metric": "error_rate", "max": 0.1}, {"metric": "error_rate", "max": 0.2}]},
            },
            "listed twice",
        ),
        ({"strategy": "immediate", "steps": [{"weight": 10}]}, "takes no steps"),
        (
            {
                "strategy": "canary",
                "steps": [{"weight": 10}, {"pause": "200h"}],
                "analysis": {"metrics": [{"metric": "error_rate", "max": 0.1}]},
            },
            "at most 7 days",
        ),
    ],
)
def test_bad_rollout_blocks_say_why(block: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("{", r"\{")):
        Rollout.model_validate(block)


def test_a_model_can_replace_or_switch_off_its_environments_rollout() -> None:
    env = Environment.model_validate(
        {
            "kind": "Environment",
            "name": "production",
            "rollout": CANARY.model_dump(mode="json", exclude_defaults=True),
            "models": {"a": {}, "b": {"rollout": {"strategy": "immediate"}}},
        }
    )
    assert env.rollout_of("a") == CANARY
    assert env.rollout_of("b") is None


def test_environment_names_cannot_take_a_candidate_alias() -> None:
    with pytest.raises(ValidationError, match="aliases of rollouts' candidates"):
        Environment.model_validate({"kind": "Environment", "name": "production-candidate"})


# --- the planner ----------------------------------------------------------------------------


def entry(fp: str, rollout: Rollout | None = CANARY) -> DesiredEntry:
    return DesiredEntry("production", "m", fp, {"model": {"C": 1}}, (GATE,), GH, rollout=rollout)


def version(v: str, fp: str, extra: dict[str, str] | None = None) -> VersionState:
    tags = {
        t.FINGERPRINT: fp,
        t.GATE_PREFIX + "production": evaluate("production", [GATE], {"accuracy": 0.9}, None).to_json(),
    }
    return VersionState("m", v, fp, "run", "src", "2026-11-24T00:00:00+00:00", {**tags, **(extra or {})})


def rolling(candidate: str = "2", champion: str = "1", fp: str = "fp2") -> RolloutState:
    return RolloutState("production", candidate, champion, fp, CANARY, step_started=100.0)


def actual(versions: list[VersionState], alias: str | None, rollout: RolloutState | None = None) -> ActualState:
    ledger = (LedgerEntry(1, "production", None, alias, "c", "2026-11-24T00:00:00", "p"),) if alias else ()
    rollouts = {"production": rollout} if rollout else {}
    aliases = {"production": alias} if alias else {}
    rm = RegisteredModelState("m", True, aliases, {v.version: v for v in versions}, ledger, rollouts)
    return ActualState("sqlite://", {"m": rm})


def test_a_new_version_rolls_out_instead_of_moving_the_alias() -> None:
    p = plan([entry("fp2")], actual([version("1", "fp1")], "1"), ["production"])
    assert [a.kind for a in p.actions] == [Kind.TRAIN, Kind.EVALUATE, Kind.ROLLOUT]
    assert "canary 10% -> 50% -> 100%" in p.actions[-1].reason
    assert p.summary() == "Plan: 1 to train, 0 to promote, 1 to roll out, 0 blocked."


def test_the_first_version_and_a_restore_are_one_move() -> None:
    first = plan([entry("fp1")], actual([], None), ["production"])
    assert first.actions[-1].kind is Kind.PROMOTE
    v1, v2 = version("1", "fp1"), version("2", "fp2")
    moved_by_hand = replace(
        actual([v1, v2], "2"), models={"m": replace(actual([v1, v2], "2").models["m"], aliases={"production": "1"})}
    )
    restore = plan([entry("fp2")], moved_by_hand, ["production"])
    assert [a.kind for a in restore.actions] == [Kind.PROMOTE] and restore.actions[0].drift


def test_a_rollout_in_progress_is_left_alone() -> None:
    v1, v2 = version("1", "fp1"), version("2", "fp2")
    p = plan([entry("fp2")], actual([v1, v2], "1", rolling()), ["production"])
    assert [a.kind for a in p.actions] == [Kind.NOOP]
    assert "rollout of v2 in progress: step 1/3" in p.actions[0].reason
    assert not p.has_changes


def test_a_revert_during_a_rollout_aborts_it_and_moves_nothing() -> None:
    v1, v2 = version("1", "fp1"), version("2", "fp2")
    p = plan([entry("fp1")], actual([v1, v2], "1", rolling()), ["production"])
    assert [a.kind for a in p.actions] == [Kind.ABORT]
    assert p.actions[0].from_version == p.actions[0].to_version == "1"
    assert "no longer deploy v2" in p.actions[0].reason


def test_a_newer_change_during_a_rollout_aborts_it_and_starts_another() -> None:
    v1, v2 = version("1", "fp1"), version("2", "fp2")
    p = plan([entry("fp3")], actual([v1, v2], "1", rolling()), ["production"])
    assert [a.kind for a in p.actions] == [Kind.ABORT, Kind.TRAIN, Kind.EVALUATE, Kind.ROLLOUT]


def test_an_aborted_version_is_not_tried_again_until_its_spec_changes() -> None:
    verdict = RolloutVerdict("production", ABORTED, "error_rate 0.1 (<= 0.05) FAILED", "2026-11-29T10:00:00+00:00")
    v2 = version("2", "fp2", {state_key("production"): verdict.to_json()})
    p = plan([entry("fp2")], actual([version("1", "fp1"), v2], "1"), ["production"])
    assert [a.kind for a in p.actions] == [Kind.BLOCKED]
    assert "was aborted on 2026-11-29" in p.actions[0].reason and "change the model's spec" in p.actions[0].reason
    assert [a.kind for a in plan([entry("fp3")], actual([version("1", "fp1"), v2], "1"), ["production"]).actions][
        -1
    ] is Kind.ROLLOUT


def test_removing_the_model_aborts_its_rollout() -> None:
    v1, v2 = version("1", "fp1"), version("2", "fp2")
    p = plan([], actual([v1, v2], "1", rolling()), ["production"])
    assert [a.kind for a in p.actions] == [Kind.ABORT, Kind.DEMOTE]


def test_rollout_state_survives_its_tag_and_a_hand_edited_one_is_ignored() -> None:
    state = rolling()
    tags = {state_key("production"): state.to_json(), state_key("staging"): '{"environment": "staging"}'}
    assert rollouts_of(tags) == {"production": state}
    rm = registered_model_state("m", tags, {"production": "1"}, [])
    assert rm.rollout("production") == state and rm.rollout("staging") is None


# --- analysis and steps -----------------------------------------------------------------------


def observed(requests: int, errors: int = 0, latency: float = 5.0) -> Observations:
    seen = Observations()
    seen.candidate.requests, seen.candidate.errors = requests, errors
    seen.candidate.latencies_ms.extend([latency] * (requests - errors))
    return seen


def test_too_few_requests_is_inconclusive_never_a_failure() -> None:
    assert CANARY.analysis is not None
    run = analyse(CANARY.analysis, observed(3, errors=3))
    assert run.verdict == "inconclusive"
    assert "3 of 5 requests" in run.results[0].describe()


def test_errors_and_latency_are_judged_against_their_thresholds() -> None:
    assert CANARY.analysis is not None
    assert analyse(CANARY.analysis, observed(100, errors=2)).verdict == "passed"
    failed = analyse(CANARY.analysis, observed(100, errors=10))
    assert failed.verdict == "failed" and [r.metric for r in failed.failing] == ["error_rate"]
    assert failed.failing[0].describe() == "error_rate 0.1 (<= 0.05) FAILED"
    slow = analyse(CANARY.analysis, observed(100, latency=80.0))
    assert [r.metric for r in slow.failing] == ["latency_p95"]


def test_prediction_psi_is_zero_for_the_same_answers_and_large_for_others() -> None:
    rng = random.Random(0)
    same = [rng.choice("abc") for _ in range(500)]
    assert prediction_psi(same, same) == 0
    assert prediction_psi(same, ["a"] * 500) > 1
    values = [rng.gauss(0, 1) for _ in range(1000)]
    assert prediction_psi(values, [rng.gauss(0, 1) for _ in range(1000)]) < 0.1
    assert prediction_psi(values, [rng.gauss(1, 1) for _ in range(1000)]) > 0.2


def test_steps_advance_only_after_a_passing_run_and_the_pause() -> None:
    assert CANARY.analysis is not None
    state = rolling()
    good = analyse(CANARY.analysis, observed(50))
    assert not due(state, 105.0) and due(state, 110.0)
    first = decide(state, good, 110.0)
    assert first.kind == ADVANCE and first.state.step == 1 and first.state.weight == 10
    held = decide(first.state, good, 130.0)
    assert held.kind == WAIT and "pausing 40s more" in held.reason
    second = decide(held.state, good, 171.0)
    assert second.kind == ADVANCE and second.state.weight == 50
    last = decide(second.state, good, 181.0)
    assert last.kind == PROMOTE and last.state.phase == "promoted"


def test_more_failures_than_the_limit_abort() -> None:
    assert CANARY.analysis is not None
    bad = analyse(CANARY.analysis, observed(50, errors=10))
    once = decide(rolling(), bad, 110.0)
    assert once.kind == WAIT and once.state.failures == 1
    twice = decide(once.state, bad, 120.0)
    assert twice.kind == ABORT and twice.state.phase == "aborted" and "error_rate" in twice.reason
    assert twice.state.weight == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["passed", "failed", "inconclusive"]), max_size=30))
def test_whatever_the_runs_a_rollout_never_promotes_past_a_failure_over_the_limit(verdicts: list[str]) -> None:
    assert CANARY.analysis is not None
    runs = {
        "passed": analyse(CANARY.analysis, observed(50)),
        "failed": analyse(CANARY.analysis, observed(50, errors=20)),
        "inconclusive": analyse(CANARY.analysis, observed(1)),
    }
    state, now, failed = rolling(), 100.0, 0
    for verdict in verdicts:
        now += 100.0
        decision = decide(state, runs[verdict], now)
        failed += verdict == "failed"
        state = decision.state
        if decision.kind == PROMOTE:
            assert failed <= CANARY.analysis.failure_limit
            assert verdicts.count("passed") >= len(CANARY.steps)
        if decision.kind in (PROMOTE, ABORT):
            break
        assert state.weight in (10, 50)
    if failed > CANARY.analysis.failure_limit:
        assert state.phase == "aborted"


# --- the traffic split ------------------------------------------------------------------------


def test_a_callers_key_keeps_its_side_and_only_joins_the_candidate_as_the_weight_grows() -> None:
    from reconciler.serve.router import to_candidate

    keys = [f"user-{i}" for i in range(5000)]
    never = lambda: 1.0  # noqa: E731 - a draw that would keep every keyless request on the champion
    sides = {}
    for weight, step in ((10, 0), (50, 2)):
        state = replace(rolling(), step=step)
        assert state.weight == weight
        sides[weight] = {k for k in keys if to_candidate(state, k, never)}
        assert abs(len(sides[weight]) / len(keys) - weight / 100) < 0.03
        assert sides[weight] == {k for k in keys if to_candidate(state, k, never)}, "the same key, the same side"
    assert sides[10] <= sides[50], "a caller on the candidate at 10% stays on it at 50%"


def test_without_a_key_each_request_is_drawn_and_a_shadow_never_answers() -> None:
    from reconciler.serve.router import to_candidate

    rng = random.Random(3)
    state = rolling()
    share = sum(to_candidate(state, None, rng.random) for _ in range(10_000)) / 10_000
    assert 0.09 < share < 0.11
    shadow = Rollout.model_validate(
        {
            "strategy": "shadow",
            "steps": [{"pause": "1m"}],
            "analysis": {"metrics": [{"metric": "error_rate", "max": 0.1}]},
        }
    )
    assert not any(to_candidate(replace(state, spec=shadow), None, rng.random) for _ in range(1000))


def test_input_drift_compares_the_candidates_inputs_with_its_training_profile() -> None:
    from sklearn import datasets

    from reconciler.data.profile import profile_table
    from reconciler.serve.fleet import Slot
    from reconciler.serve.router import record_answer
    from reconciler.spec.kinds import Serving

    iris = datasets.load_iris(as_frame=True).frame.drop(columns="target")
    profile = {"features": profile_table(iris)}
    spec = Rollout.model_validate(
        {
            "strategy": "canary",
            "steps": [{"weight": 50}],
            "analysis": {"min_requests": 50, "metrics": [{"metric": "input_drift", "max": 0.25}]},
        }
    )
    assert spec.analysis is not None
    verdicts = {}
    for shift in (0.0, 1.5):
        slot = Slot("production", "m", Serving())
        slot.rollout, slot.seen_for = replace(rolling(), spec=spec), ("2", 0)
        moved = iris.assign(
            **{"petal length (cm)": iris["petal length (cm)"] + shift * iris["petal length (cm)"].std()}
        )
        for i in range(150):
            record_answer(slot, "candidate", "2", 0.001, [0], moved.iloc[[i]], f"r{i}")
        run = analyse(spec.analysis, slot.observations(), profile)
        verdicts[shift] = (run.verdict, run.results[0].detail)
    assert verdicts[0.0][0] == "passed"
    assert verdicts[1.5] == ("failed", "largest PSI: petal length (cm)")
