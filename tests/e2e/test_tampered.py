"""A saved plan is not trusted to say what to do, and no action touches what the reconciler
does not own: each case edits a real saved plan (or hands the executor a forged one) and
compares the whole registry before and after."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.apply.executor import Executor
from reconciler.cli.common import open_session
from reconciler.plan.model import Action, Kind, Plan
from reconciler.spec.catalog import load_catalog
from tests.e2e.conftest import SMALL_SPECS, Repo, make_repo
from tests.e2e.test_hostile import snapshot

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def two_versions_and_a_saved_plan(repo: Repo) -> tuple[Path, dict[str, Any]]:
    """v1 then v2 everywhere, then a saved plan that trains v3 for a third spec."""
    assert repo.apply()[0] == 0
    repo.commit_edit("specs/models/iris-classifier.yaml", "C: 1.0", "C: 0.5")
    assert repo.apply()[0] == 0
    repo.commit_edit("specs/models/iris-classifier.yaml", "C: 0.5", "C: 0.7")
    someone_elses_model(repo)
    saved = repo.path.parent / "plan.json"
    code, out, err = repo.run("plan", "--out", str(saved))
    assert code == 0, out + err
    return saved, json.loads(saved.read_text())


def someone_elses_model(repo: Repo) -> None:
    """A registered model in the same registry that the reconciler does not manage."""
    client = repo.client()
    client.create_registered_model("someone-elses")
    source = client.get_model_version("iris-classifier", "1")
    client.create_model_version("someone-elses", source.source, run_id=source.run_id)
    client.set_registered_model_alias("someone-elses", "production", "1")


def promote_of(doc: dict[str, Any], env: str) -> dict[str, Any]:
    return next(a for a in doc["plan"]["actions"] if a["kind"] == "promote" and a["environment"] == env)


def demote(env: str, model: str, version: str) -> dict[str, Any]:
    return {"kind": "demote", "environment": env, "model": model, "from_version": version, "reason": "x"}


TAMPERS = {
    "appended demote of production": lambda doc, v1fp: doc["plan"]["actions"].append(
        demote("production", "iris-classifier", "2")
    ),
    "promote rewritten to an older version": lambda doc, v1fp: promote_of(doc, "production").update(
        to_version="1", fingerprint=v1fp
    ),
    "demote of an unmanaged model": lambda doc, v1fp: doc["plan"]["actions"].append(
        demote("production", "someone-elses", "1")
    ),
    "action removed": lambda doc, v1fp: doc["plan"]["actions"].pop(),
    "reason rewritten": lambda doc, v1fp: promote_of(doc, "dev").update(reason="::error::pwned"),
}


@pytest.mark.parametrize("tamper", sorted(TAMPERS))
def test_an_edited_saved_plan_applies_nothing(repo: Repo, tamper: str) -> None:
    saved, doc = two_versions_and_a_saved_plan(repo)
    v1fp = repo.client().get_model_version("iris-classifier", "1").tags["reconciler.fingerprint"]
    TAMPERS[tamper](doc, v1fp)
    saved.write_text(json.dumps(doc))
    before = snapshot(repo.uri)
    code, out, err = repo.run_plain("apply", str(saved), "--repo", str(repo.path))
    assert code == 1, out + err
    assert "was it edited?" in err and "nothing was applied" in err
    assert "Traceback" not in out + err
    assert snapshot(repo.uri) == before


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        '{"saved_plan": 1, "state_serial": "x", "specs_serial": "y", "plan": {"actions": "x"}}',
        '{"saved_plan": 1, "state_serial": "x", "specs_serial": "y", "plan": {"actions": [7], "environments": []}}',
        '{"saved_plan": 1, "state_serial": "x", "specs_serial": "y", '
        '"plan": {"actions": [{"kind": "promote", "environment": 3, "model": "m"}], "environments": []}}',
        '{"saved_plan": 1, "state_serial": "x", "specs_serial": "y", '
        '"plan": {"actions": [{"kind": "explode", "environment": "dev", "model": "m"}], "environments": []}}',
        '{"saved_plan": 1, "plan": {"actions": [',
        "null",
        '"just a string"',
    ],
)
def test_a_malformed_saved_plan_is_a_clear_error(repo: Repo, text: str) -> None:
    assert repo.apply()[0] == 0
    saved = repo.path.parent / "plan.json"
    saved.write_text(text)
    before = snapshot(repo.uri)
    code, out, err = repo.run_plain("apply", str(saved), "--repo", str(repo.path))
    assert code == 1, out + err
    assert "not a readable saved plan" in err and "Traceback" not in out + err and "internal error" not in err
    assert snapshot(repo.uri) == before


def test_a_saved_plan_applies_in_the_repository_it_was_made_in(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`apply FILE` from another directory used to read specs from, and create a store in, that
    directory; the file now says which repository it is for."""
    saved, _ = two_versions_and_a_saved_plan(repo)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, out, err = repo.run_plain("apply", str(saved))
    assert code == 0, out + err
    assert f"Applying the saved plan {saved}" in out
    assert list(elsewhere.iterdir()) == []
    assert repo.aliases()[("production", "iris-classifier")] == "3"


def test_a_saved_plan_is_refused_in_another_repository(repo: Repo, tmp_path: Path) -> None:
    saved, _ = two_versions_and_a_saved_plan(repo)
    other = make_repo(tmp_path / "other", SMALL_SPECS, repo.capsys)  # same specs, another history
    before = snapshot(repo.uri)
    code, out, err = other.run_plain("apply", str(saved), "--repo", str(other.path))
    assert code == 1, out + err
    assert err.startswith(f"reconciler: {saved}: this plan was made for {repo.path}: the specs in the repository ")
    assert f"not {other.path}: the specs in the repository whose first commit is" in err
    assert "nothing was applied" in err and "Traceback" not in out + err
    assert not (other.path / ".reconciler").exists()
    assert snapshot(repo.uri) == before


def test_a_saved_plan_of_the_previous_format_is_refused(repo: Repo) -> None:
    saved, doc = two_versions_and_a_saved_plan(repo)
    doc["saved_plan"] = 2
    del doc["repository"]
    saved.write_text(json.dumps(doc))
    before = snapshot(repo.uri)
    code, _, err = repo.run_plain("apply", str(saved))
    assert code == 1 and "not a readable saved plan" in err and "not a saved plan of this format" in err
    assert snapshot(repo.uri) == before


def test_the_executor_touches_only_what_the_reconciler_owns(repo: Repo) -> None:
    """Forged actions handed straight to the executor (no saved-plan check in the way)."""
    assert repo.apply()[0] == 0
    someone_elses_model(repo)
    client = repo.client()
    v1 = client.get_model_version("iris-classifier", "1")
    client.set_registered_model_alias("iris-classifier", "hand-made", "1")  # never set by the reconciler
    session = open_session(repo.path, None, check_data=False)
    fp = v1.tags["reconciler.fingerprint"]
    forged = [
        Action(Kind.DEMOTE, "production", "someone-elses", None, "1", None, "forged"),
        Action(Kind.PROMOTE, "production", "someone-elses", fp, None, "1", "forged"),
        Action(Kind.DEMOTE, "hand-made", "iris-classifier", None, "1", None, "forged"),
        Action(Kind.DEMOTE, "production", "iris-classifier", None, "1", None, "forged"),
        Action(Kind.PROMOTE, "qa", "iris-classifier", fp, None, "1", "forged"),
        Action(Kind.TRAIN, "qa", "iris-classifier", fp, None, None, "forged"),
    ]
    before = snapshot(repo.uri)
    executor = Executor(
        session.store, session.desired.targets, load_catalog(), session.desired.provenance, actual=session.actual
    )
    report = executor.run(dataclasses.replace(session.plan, actions=tuple(forged)))
    assert [o.status for o in report.outcomes] == ["failed"] * len(forged)
    messages = [o.message for o in report.outcomes]
    assert "not managed by the reconciler" in messages[0] and "not managed by the reconciler" in messages[1]
    assert "was not set by the reconciler" in messages[2]
    assert "the specs deploy 'iris-classifier' to 'production'" in messages[3]
    assert "is not deployed to 'qa'" in messages[4] and "is not deployed to 'qa'" in messages[5]
    assert snapshot(repo.uri) == before
    assert isinstance(session.plan, Plan)
