"""Team scale: parallel training, fan-out of train steps, and the same registry end state on a
real mlflow server on PostgreSQL as on the embedded SQLite store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import SMALL_SPECS, Repo, make_repo
from tests.e2e.server import PostgresServer


def end_state(repo: Repo) -> dict[str, Any]:
    """What must not depend on the backend or on parallelism: per model, each version's
    fingerprint, where each alias points, and the ledger's moves (without times and commits)."""
    client = repo.client()
    out: dict[str, Any] = {}
    for rm in client.search_registered_models():
        if rm.name == "reconciler.lock":
            continue
        versions = client.search_model_versions(f"name = '{rm.name}'")
        moves = [json.loads(v) for k, v in sorted(rm.tags.items()) if k.startswith("reconciler.ledger.")]
        out[rm.name] = {
            "versions": sorted((int(v.version), v.tags["reconciler.fingerprint"]) for v in versions),
            # SQLite and REST clients type the version differently (int vs str): compare text.
            "aliases": {alias: str(v) for alias, v in sorted(rm.aliases.items())},
            "moves": [(m["env"], m["from"], m["to"]) for m in moves],
        }
    return out


def scenario(repo: Repo) -> dict[str, Any]:
    """Apply, change a parameter, a failing gate, then revert both: the end state."""
    assert repo.apply()[0] == 0
    repo.edit("specs/models/iris-classifier.yaml", "C: 1.0", "C: 0.5")
    change = repo.commit("iris C 0.5")
    assert repo.apply()[0] == 0
    repo.edit("specs/gates/quality.yaml", "min: 0.8", "min: 0.999")
    repo.edit("specs/models/wine-classifier.yaml", "C: 1.0", "C: 0.01")
    gate = repo.commit("impossible gate, weaker wine")
    assert repo.apply()[0] == 1
    repo.revert(gate)
    repo.revert(change)
    code, out = repo.apply()
    assert code == 0 and "0 trained" in out
    return end_state(repo)


def test_server_on_postgresql_reaches_the_same_end_state_as_sqlite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, pg_server: PostgresServer
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    local = scenario(make_repo(tmp_path / "sqlite", SMALL_SPECS, capsys))
    pg_server.reset()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", pg_server.uri)
    remote_repo = make_repo(tmp_path / "server", SMALL_SPECS, capsys)
    remote_repo.server_uri = pg_server.uri
    remote = scenario(remote_repo)
    assert local == remote
    assert set(local) == {"iris-classifier", "wine-classifier"}
    assert len(local["iris-classifier"]["versions"]) == 2 and len(local["wine-classifier"]["versions"]) == 2


def test_parallel_training_gives_the_same_registry_and_ordered_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    serial = make_repo(tmp_path / "serial", SMALL_SPECS, capsys)
    code, out, _ = serial.run("apply", "--jobs", "1")
    assert code == 0 and "fitted" not in out
    parallel = make_repo(tmp_path / "parallel", SMALL_SPECS, capsys)
    code, out, err = parallel.run("apply", "--jobs", "2")
    assert code == 0, out + err
    assert "(1/2," in out and "(2/2," in out, "a progress line per model fitted ahead (plain lines off a terminal)"
    steps = [line.split()[1] for line in out.splitlines() if line.split()[:1] in (["train"], ["promote"])]
    assert steps == [s for s in steps if s]  # every step is reported
    trains = [line for line in out.splitlines() if line.startswith("train") and " done " in line]
    assert [t.split()[1] for t in trains] == ["dev/iris-classifier", "dev/wine-classifier"], "plan order"
    assert end_state(serial) == end_state(parallel)
    parallel.check_invariants()


def test_fanned_out_train_jobs_then_one_apply_promotes(repo: Repo) -> None:
    plan = repo.plan()
    assert {e["model"] for e in plan["matrix"]["include"]} == {"iris-classifier", "wine-classifier"}
    for entry in plan["matrix"]["include"]:
        code, out, err = repo.run("apply", "--only", f"train:{entry['model']}", "--jobs", "1")
        assert code == 0, out + err
        assert "\npromote " not in out and "Apply: 1 trained" in out
    assert repo.aliases() == {}, "train jobs register versions and move no alias"
    assert repo.version_count() == 2
    code, out, _ = repo.run("apply")
    assert code == 0 and "Apply: 0 trained" in out
    assert len(repo.aliases()) == 6
    repo.check_invariants()


def test_only_rejects_a_malformed_selector(repo: Repo) -> None:
    with pytest.raises(SystemExit):
        repo.run("apply", "--only", "fit:iris-classifier")
