"""Random sequences of spec edits and applies: after every apply the plan is empty (only
in-sync or blocked entries) and no alias points at a version that failed its environment's
gates, except where the plan reports exactly that as blocked (Degraded)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.conftest import SMALL_SPECS, Repo, make_repo

C_VALUES = ("0.0001", "0.5", "1.0", "2.0")
GATE_MINS = ("0.5", "0.8", "0.97", "0.9999")

steps = st.lists(
    st.one_of(
        st.tuples(st.just("C"), st.sampled_from(("iris-classifier", "wine-classifier")), st.sampled_from(C_VALUES)),
        st.tuples(st.just("gate"), st.just(""), st.sampled_from(GATE_MINS)),
        st.tuples(st.just("toggle"), st.just("wine-classifier"), st.just("")),
    ),
    min_size=1,
    max_size=3,
)


def apply_step(repo: Repo, step: tuple[str, str, str], state: dict[str, Any]) -> None:
    kind, model, value = step
    if kind == "C":
        rel = f"specs/models/{model}.yaml"
        repo.edit(rel, f"C: {state[model]}", f"C: {value}")
        state[model] = value
    elif kind == "gate":
        repo.edit("specs/gates/quality.yaml", f"min: {state['gate']}", f"min: {value}")
        state["gate"] = value
    else:
        line = "  wine-classifier: {gates: [quality]}\n"
        if state["wine-in-prod"]:
            repo.edit("environments/production.yaml", line, "")
        else:
            repo.write("environments/production.yaml", (repo.path / "environments/production.yaml").read_text() + line)
        state["wine-in-prod"] = not state["wine-in-prod"]
    repo.commit(f"step {step}")


def check_invariants(repo: Repo) -> dict[str, Any]:
    plan = repo.plan()
    pending = [a for a in plan["actions"] if a["kind"] not in ("noop", "blocked")]
    assert pending == [], pending
    blocked = {(a["environment"], a["model"]) for a in plan["actions"] if a["kind"] == "blocked"}
    client = repo.client()
    versions = client.search_model_versions(max_results=1000)
    seen: set[tuple[str, str]] = set()
    for v in versions:
        key = (v.name, v.tags["reconciler.fingerprint"])
        assert key not in seen, f"two versions for fingerprint {key}"
        seen.add(key)
    by_key = {(v.name, str(v.version)): v for v in versions}
    ledgers = {rm.name: rm.tags for rm in client.search_registered_models()}
    for (env, model), version in repo.aliases().items():
        raw = by_key[(model, version)].tags.get(f"reconciler.gate.{env}")
        assert raw is not None, f"{model}@{env} -> v{version} was never evaluated"
        verdict = json.loads(raw)
        moves = [json.loads(v) for k, v in sorted(ledgers[model].items()) if k.startswith("reconciler.ledger.")]
        last = [m for m in moves if m["env"] == env][-1]
        assert last["to"] == version
        if verdict["gates_hash"] == last["gates"]:
            # Judged under the gates in force when the alias moved: it must have passed.
            assert verdict["passed"], f"{model}@{env} -> v{version} was promoted on a failed verdict"
        elif not verdict["passed"]:
            # Gates tightened after the move: the alias is kept (never take a serving model down
            # on a threshold edit) and reported as blocked (Degraded).
            assert (env, model) in blocked, f"{model}@{env} -> v{version} fails its gates and is not reported"
    return plan


@pytest.mark.slow
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=steps)
def test_apply_converges_and_guards_every_alias(
    sequence: list[tuple[str, str, str]], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with tempfile.TemporaryDirectory() as tmp:
        repo = make_repo(Path(tmp) / "repo", SMALL_SPECS, capsys)
        state: dict[str, Any] = {
            "iris-classifier": "1.0",
            "wine-classifier": "1.0",
            "gate": "0.8",
            "wine-in-prod": True,
        }
        code, out = repo.apply()
        assert code == 0, out
        check_invariants(repo)
        for step in sequence:
            apply_step(repo, step, state)
            code, out = repo.apply()
            plan = check_invariants(repo)
            blocked = any(a["kind"] == "blocked" for a in plan["actions"])
            assert code == (1 if blocked else 0), out
