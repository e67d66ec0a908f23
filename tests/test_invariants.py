from __future__ import annotations

from reconciler.gates.evaluate import evaluate, gates_hash
from reconciler.spec.kinds import Gate
from reconciler.state import tags as t
from reconciler.state.actual import ActualState, LedgerEntry, RegisteredModelState, VersionState
from reconciler.state.invariants import violations

GATE = Gate.model_validate({"kind": "Gate", "name": "q", "rules": [{"metric": "accuracy", "min": 0.8}]})


def v(number: str, fp: str, accuracy: float | None) -> VersionState:
    tags = {t.FINGERPRINT: fp}
    if accuracy is not None:
        tags[t.GATE_PREFIX + "dev"] = evaluate("dev", [GATE], {"accuracy": accuracy}, None).to_json()
    return VersionState("m", number, fp, None, "", "", tags)


def state(versions: list[VersionState], alias: str | None, gates: str = gates_hash([GATE])) -> ActualState:
    ledger = (LedgerEntry(1, "dev", None, alias, "", "", "", "", gates),) if alias else ()
    rm = RegisteredModelState("m", True, {"dev": alias} if alias else {}, {x.version: x for x in versions}, ledger)
    return ActualState("x", {"m": rm})


def test_a_healthy_registry_has_no_violations() -> None:
    assert violations(state([v("1", "a", 0.9), v("2", "b", 0.5)], "1")) == []


def test_duplicate_fingerprints_and_failed_aliases_are_reported() -> None:
    assert violations(state([v("1", "a", 0.9), v("2", "a", 0.9)], "1")) == ["m v2: same fingerprint as v1"]
    assert violations(state([v("1", "a", 0.5)], "1")) == [
        "m@dev -> v1: moved onto a version that failed the gates of 'dev'"
    ]
    assert violations(state([v("1", "a", None)], "1")) == ["m@dev -> v1: no recorded verdict for 'dev'"]


def test_a_gate_tightened_after_the_move_is_not_a_breach() -> None:
    assert violations(state([v("1", "a", 0.5)], "1", gates="older-gates")) == []


def test_an_alias_moved_by_hand_onto_an_unjudged_version_is_reported() -> None:
    moved = state([v("1", "a", 0.9), v("2", "b", None)], "1")
    rm = moved.models["m"]
    by_hand = ActualState("x", {"m": RegisteredModelState("m", True, {"dev": "2"}, rm.versions, rm.ledger)})
    assert violations(by_hand) == [
        "m@dev -> v2: moved outside the reconciler onto a version with no recorded verdict for 'dev'"
    ]
    # Moved by hand onto a version that did pass: drift (plan restores it), not a breach.
    back = ActualState("x", {"m": RegisteredModelState("m", True, {"dev": "1"}, rm.versions, ())})
    assert violations(back) == []


def test_a_preview_verdict_is_kept_apart_from_the_environment_verdict() -> None:
    version = v("1", "a", 0.9)
    tightened = Gate.model_validate({"kind": "Gate", "name": "q", "rules": [{"metric": "accuracy", "min": 0.95}]})
    preview = evaluate("dev", [tightened], {"accuracy": 0.9}, None)
    tags = {**version.tags, t.preview_key("dev", preview.gates_hash): preview.to_json()}
    judged = VersionState("m", "1", "a", None, "", "", tags)
    assert judged.verdict("dev") is not None and judged.verdict("dev").passed  # type: ignore[union-attr]
    assert judged.verdict("dev", gates_hash([GATE])).passed  # type: ignore[union-attr]
    assert judged.verdict("dev", preview.gates_hash) == preview
    assert not judged.recorded("dev", preview.gates_hash)
    assert judged.verdict("dev", "unknown") is None
