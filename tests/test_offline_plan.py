"""The plan from git alone: the one planner against what git says the registry holds
(reconciler.plan.git_view), as pure functions on data."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from reconciler.desired.model import DesiredEntry
from reconciler.gates.evaluate import gates_hash
from reconciler.plan.diff import spec_changes
from reconciler.plan.model import UNKNOWN_VERSION, Kind
from reconciler.plan.offline import OFFLINE_NOTE, offline_plan
from reconciler.spec.kinds import Gate

ENVS = ["dev", "staging"]


def gate(minimum: float) -> Gate:
    return Gate.model_validate({"kind": "Gate", "name": "q", "rules": [{"metric": "accuracy", "min": minimum}]})


def entry(env: str, fp: str, model: str = "m", c: float = 1.0, minimum: float = 0.8) -> DesiredEntry:
    g = gate(minimum)
    ancestors = (("dev", gates_hash([g])),) if env == "staging" else ()
    spec = {"model": {"estimator": {"params": {"C": c}}}, "dataset_hash": "d"}
    return DesiredEntry(env, model, fp, spec, (g,), gates_hash([g]), ancestors)


def kinds(p: object) -> list[tuple[str, str]]:
    return [(a.kind.value, a.environment) for a in p.actions]  # type: ignore[attr-defined]


def test_unchanged_specs_plan_nothing_and_say_it_was_not_checked() -> None:
    base = [entry("dev", "fp1"), entry("staging", "fp1")]
    p = offline_plan(base, base, ENVS, spec_changes, revision="abc")
    assert kinds(p) == [("noop", "dev"), ("noop", "staging")]
    assert not p.has_changes and not p.checked and p.notes == (OFFLINE_NOTE,)
    assert all(a.from_version == UNKNOWN_VERSION for a in p.actions), "which version is deployed is unknown"


def test_a_changed_model_trains_once_and_is_evaluated_and_promoted_upstream_first() -> None:
    base = [entry("dev", "fp1"), entry("staging", "fp1")]
    head = [entry("dev", "fp2", c=0.5), entry("staging", "fp2", c=0.5)]
    p = offline_plan(base, head, ENVS, spec_changes)
    assert kinds(p) == [
        ("train", "dev"),
        ("evaluate", "dev"),
        ("promote", "dev"),
        ("evaluate", "staging"),
        ("promote", "staging"),
    ]
    promote = p.actions[2]
    assert promote.from_version == UNKNOWN_VERSION and promote.to_version is None
    assert [(c.op, c.path, c.old, c.new) for c in promote.changes] == [
        ("update", ("estimator", "params", "C"), 1.0, 0.5)
    ]


def test_a_tightened_gate_reevaluates_the_deployed_version_without_training() -> None:
    base = [entry("dev", "fp1")]
    p = offline_plan(base, [entry("dev", "fp1", minimum=0.9)], ["dev"], spec_changes)
    assert kinds(p) == [("evaluate", "dev")]
    assert p.actions[0].reason == "gates changed" and p.actions[0].to_version == UNKNOWN_VERSION


def test_a_revert_to_a_known_state_promotes_without_training() -> None:
    before_revert = [entry("dev", "fp2", c=0.5)]
    reverted_to = [entry("dev", "fp1")]
    p = offline_plan(before_revert, reverted_to, ["dev"], spec_changes, known=reverted_to)
    assert kinds(p) == [("promote", "dev")]
    assert p.actions[0].reason == "a version already holds this spec; no training"


def test_a_model_removed_from_an_environment_is_demoted() -> None:
    p = offline_plan(
        [entry("dev", "fp1"), entry("dev", "fp9", model="old")], [entry("dev", "fp1")], ["dev"], spec_changes
    )
    assert kinds(p) == [("noop", "dev"), ("demote", "dev")]
    assert p.actions[1].model == "old" and p.actions[1].from_version == UNKNOWN_VERSION


def test_bad_data_blocks_only_what_would_train() -> None:
    bad = entry("dev", "fp2", c=0.5)
    bad = DesiredEntry(**{**bad.__dict__, "data_problems": ("column 'x' has 3 null values (no_nulls)",)})
    p = offline_plan([entry("dev", "fp1")], [bad], ["dev"], spec_changes)
    assert kinds(p) == [("blocked", "dev")] and "no_nulls" in p.actions[0].reason


@given(
    st.lists(st.sampled_from(["fp1", "fp2", "fp3"]), min_size=1, max_size=4),
    st.lists(st.sampled_from(["fp1", "fp2", "fp3"]), min_size=1, max_size=4),
)
def test_exactly_the_models_whose_fingerprint_moved_change(base_fps: list[str], head_fps: list[str]) -> None:
    """Models in both with the same fingerprint are no-ops, the others change (a new one, a new
    fingerprint, one removed); and once the head is what is deployed, nothing changes."""
    base = [entry("dev", fp, model=f"m{i}") for i, fp in enumerate(base_fps)]
    head = [entry("dev", fp, model=f"m{i}") for i, fp in enumerate(head_fps)]
    p = offline_plan(base, head, ["dev"], spec_changes)
    changing = {a.model for a in p.actions if a.kind is not Kind.NOOP}
    before = {e.model: e.fingerprint for e in base}
    after = {e.model: e.fingerprint for e in head}
    assert changing == {m for m in before.keys() | after.keys() if before.get(m) != after.get(m)}
    removed = {a.model for a in p.actions if a.kind is Kind.DEMOTE}
    assert removed == before.keys() - after.keys()
    again = offline_plan(head, head, ["dev"], spec_changes)
    assert not again.has_changes and {a.kind for a in again.actions} == {Kind.NOOP}
