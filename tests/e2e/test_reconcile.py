"""The engine's promises, end to end: real git commits and reverts, a real MLflow store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.e2e.conftest import Repo, actions, make_repo

ENVS = ("dev", "staging", "production")


def test_fresh_apply_of_the_examples_then_nothing_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    files = {}
    for top in ("specs", "environments", "data"):
        for p in (ROOT / top).rglob("*.*"):
            files[p.relative_to(ROOT).as_posix()] = p.read_text()
    repo = make_repo(tmp_path / "examples", files, capsys)
    code, out = repo.apply()
    assert code == 0, out
    aliases = repo.aliases()
    models = (
        "iris-classifier",
        "wine-classifier",
        "breast-cancer-classifier",
        "diabetes-regressor",
        "tumour-classifier",
    )
    assert set(aliases) == {(env, m) for env in ENVS for m in models}
    # Same spec in every environment: one version promoted through all three.
    assert {aliases[(env, "iris-classifier")] for env in ENVS} == {"1"}
    # Production overrides max_depth: its own version.
    assert aliases[("production", "breast-cancer-classifier")] != aliases[("dev", "breast-cancer-classifier")]
    assert repo.version_count() == 6  # one per model, and production's own breast-cancer version

    code, out = repo.apply()
    assert code == 0 and "Nothing to do" in out
    code, _, _ = repo.run("plan", "--detailed-exitcode")
    assert code == 0
    assert repo.version_count() == 6


def test_param_change_trains_once_and_revert_rolls_back_without_training(repo: Repo) -> None:
    assert repo.apply()[0] == 0
    before = repo.aliases()
    count = repo.version_count()

    repo.edit("specs/models/iris-classifier.yaml", "C: 1.0", "C: 0.5")
    change = repo.commit("iris: C 0.5")
    plan = repo.plan()
    assert len(actions(plan, "train")) == 1
    promotes = actions(plan, "promote")
    assert [(a["environment"], a["model"]) for a in promotes] == [(e, "iris-classifier") for e in ENVS]
    assert "estimator.params.C: 1.0 -> 0.5" in promotes[0]["changes"]
    assert {"op": "update", "path": ["estimator", "params", "C"], "old": 1.0, "new": 0.5} in promotes[0]["diff"]
    code, _, _ = repo.run("plan", "--detailed-exitcode")
    assert code == 2

    assert repo.apply()[0] == 0
    assert repo.version_count() == count + 1
    after = repo.aliases()
    assert {after[(e, "iris-classifier")] for e in ENVS} == {"2"}, "version numbers are per model"
    assert after[("dev", "wine-classifier")] == before[("dev", "wine-classifier")]

    repo.revert(change)
    plan = repo.plan()
    assert actions(plan, "train") == []
    assert [(a["environment"], a["to_version"]) for a in actions(plan, "promote")] == [
        (e, before[(e, "iris-classifier")]) for e in ENVS
    ]
    code, out = repo.apply()
    assert code == 0, out
    assert "0 trained" in out
    assert repo.aliases() == before
    assert repo.version_count() == count + 1


def test_descriptive_edits_change_nothing(repo: Repo) -> None:
    assert repo.apply()[0] == 0
    repo.edit(
        "specs/models/iris-classifier.yaml",
        "description: Species from measurements.",
        "description: A better description.\nowner: someone-else  # a comment\ntags: {team: ml}",
    )
    repo.edit(
        "specs/models/iris-classifier.yaml",
        "params: {C: 1.0, max_iter: 500}",
        "params: {max_iter: 500, 'C': 1}  # reordered, requoted",
    )
    repo.commit("docs only")
    plan = repo.plan()
    assert plan["summary"]["train"] == 0 and plan["summary"]["promote"] == 0
    code, _, _ = repo.run("plan", "--detailed-exitcode")
    assert code == 0


def test_failing_gate_keeps_alias_records_failure_and_others_converge(repo: Repo) -> None:
    assert repo.apply()[0] == 0
    before = repo.aliases()
    # A tiny C underfits iris badly; wine changes harmlessly in the same commit.
    repo.edit("specs/models/iris-classifier.yaml", "C: 1.0", "C: 0.0001")
    repo.edit("specs/models/wine-classifier.yaml", "C: 1.0", "C: 0.9")
    repo.commit("iris underfits, wine tweak")
    code, out = repo.apply()
    assert code == 1
    assert "accuracy" in out and ">= 0.8" in out
    after = repo.aliases()
    for env in ENVS:
        assert after[(env, "iris-classifier")] == before[(env, "iris-classifier")]
        assert after[(env, "wine-classifier")] != before[(env, "wine-classifier")]
    failed = repo.client().search_model_versions("name='iris-classifier'")
    newest = max(failed, key=lambda v: int(v.version))
    verdict = newest.tags["reconciler.gate.dev"]
    assert '"passed":false' in verdict and "0.8" in verdict

    count = repo.version_count()
    plan = repo.plan()
    assert plan["summary"]["train"] == 0
    blocked = actions(plan, "blocked")
    assert next((a["environment"], a["model"]) for a in blocked) == ("dev", "iris-classifier")
    assert "failed gates" in blocked[0]["reason"] and "accuracy" in blocked[0]["reason"]
    code, out = repo.apply()
    assert code == 1
    assert repo.version_count() == count, "a failed candidate is never retrained"


def test_alias_moved_by_hand_is_drift_and_apply_restores_it(repo: Repo) -> None:
    assert repo.apply()[0] == 0
    repo.edit("specs/models/iris-classifier.yaml", "C: 1.0", "C: 2.0")
    repo.commit("iris C 2")
    assert repo.apply()[0] == 0
    wanted = repo.aliases()[("production", "iris-classifier")]
    repo.client().set_registered_model_alias("iris-classifier", "production", "1")

    plan = repo.plan()
    (restore,) = actions(plan, "promote")
    assert restore["environment"] == "production" and restore["drift"] is True
    assert "drift" in restore["reason"] and restore["from_version"] == "1" and restore["to_version"] == wanted
    code, out, _ = repo.run("plan")
    assert "! iris-classifier" in out
    code, status, _ = repo.run("status")
    assert code == 1 and "OutOfSync" in status

    assert repo.apply()[0] == 0
    assert repo.aliases()[("production", "iris-classifier")] == wanted


def test_model_removed_from_environment_loses_alias_keeps_versions(repo: Repo) -> None:
    assert repo.apply()[0] == 0
    count = repo.version_count()
    repo.edit("environments/production.yaml", "  wine-classifier: {gates: [quality]}\n", "")
    repo.commit("wine leaves production")
    plan = repo.plan()
    (demote,) = actions(plan, "demote")
    assert (demote["environment"], demote["model"]) == ("production", "wine-classifier")
    assert repo.apply()[0] == 0
    aliases = repo.aliases()
    assert ("production", "wine-classifier") not in aliases
    assert ("staging", "wine-classifier") in aliases
    assert repo.version_count() == count


def test_version_failing_staging_never_reaches_production(repo: Repo) -> None:
    # Staging demands more than the model can give; production alone would accept it.
    repo.write("specs/gates/strict.yaml", "kind: Gate\nname: strict\nrules:\n  - {metric: accuracy, min: 0.9999}\n")
    repo.edit("environments/staging.yaml", "iris-classifier: {gates: [quality]}", "iris-classifier: {gates: [strict]}")
    repo.commit("strict staging")
    code, _out = repo.apply()
    assert code == 1
    aliases = repo.aliases()
    assert ("dev", "iris-classifier") in aliases
    assert ("staging", "iris-classifier") not in aliases
    assert ("production", "iris-classifier") not in aliases
    plan = repo.plan()
    blocked = {(a["environment"], a["model"]): a["reason"] for a in actions(plan, "blocked")}
    assert "failed gates" in blocked[("staging", "iris-classifier")]
    assert "'staging'" in blocked[("production", "iris-classifier")]


def test_unmanaged_registered_model_is_never_touched(repo: Repo) -> None:
    client = repo.client()
    (repo.path / ".reconciler").mkdir(exist_ok=True)
    client.create_registered_model("iris-classifier", description="someone else's")
    code, out = repo.apply()
    assert code == 1 and "not managed" in out
    rm = client.get_registered_model("iris-classifier")
    assert rm.aliases == {} and rm.description == "someone else's"
    assert client.search_model_versions("name='iris-classifier'") == []
    assert ("dev", "wine-classifier") in repo.aliases()


def test_invalid_specs_stop_before_the_registry(repo: Repo) -> None:
    repo.edit("specs/models/iris-classifier.yaml", "C: 1.0", "C: -1")
    code, out, err = repo.run("apply")
    assert code == 1
    assert "specs/models/iris-classifier.yaml:7:15: estimator.params.C" in err
    assert "Traceback" not in out + err
    assert repo.registry_is_empty()


def test_pin_keeps_production_on_an_older_spec(repo: Repo) -> None:
    assert repo.apply()[0] == 0
    first = repo.git.head.commit.hexsha
    original = repo.aliases()[("production", "iris-classifier")]
    repo.edit(
        "environments/production.yaml",
        "iris-classifier: {gates: [quality]}",
        f"iris-classifier: {{gates: [quality], pin: '{first[:10]}'}}",  # quoted: digits alone read as a number
    )
    repo.edit("specs/models/iris-classifier.yaml", "C: 1.0", "C: 0.7")
    repo.commit("staging moves on; production pinned")
    plan = repo.plan()
    assert len(actions(plan, "train")) == 1
    assert {a["environment"] for a in actions(plan, "promote")} == {"dev", "staging"}
    assert repo.apply()[0] == 0
    aliases = repo.aliases()
    assert aliases[("production", "iris-classifier")] == original
    assert aliases[("staging", "iris-classifier")] != original


def test_status_and_history_answer_who_put_what_where(repo: Repo) -> None:
    assert repo.apply()[0] == 0
    first = repo.git.head.commit.hexsha
    code, out, _ = repo.run("status")
    assert code == 0
    assert all("Synced" in line for line in out.splitlines()[1:])
    repo.edit("specs/models/iris-classifier.yaml", "C: 1.0", "C: 0.3")
    second = repo.commit("iris C 0.3")
    assert repo.apply()[0] == 0
    code, out, _ = repo.run("history", "iris-classifier")
    assert code == 0
    lines = out.splitlines()
    assert lines[1].startswith("v2") and second[:7] in lines[1]
    assert lines[2].startswith("v1") and first[:7] in lines[2] and "production" in lines[2]
    code, out, _ = repo.run("history", "iris-classifier", "--env", "production", "--at", "2999-01-01")
    assert code == 0 and "v2" in out and second[:7] in out
    code, out, _ = repo.run("history", "iris-classifier", "--env", "production", "--at", "2000-01-01")
    assert code == 1 and "held nothing" in out


def test_env_scope_limits_the_plan(repo: Repo) -> None:
    plan = repo.plan("--env", "dev")
    assert {a["environment"] for a in plan["actions"]} == {"dev"}
    code, _, err = repo.run("plan", "--env", "qa")
    assert code == 1 and "no Environment named 'qa'" in err


def test_markdown_plan(repo: Repo) -> None:
    code, out, _ = repo.run("plan", "--format", "markdown")
    assert code == 0
    assert out.startswith("<!-- reconciler-plan -->")
    assert "#### dev\n" in out
    assert "| iris-classifier | (none) | (new) (fp `" in out


def test_csv_dataset_contract_blocks_training_and_content_change_retrains(repo: Repo) -> None:
    rows = "".join(f"{i % 7}.0,{(i * 3) % 5}.0,{i % 2}\n" for i in range(60))
    repo.write("data/toy.csv", "a,b,y\n" + rows)
    repo.write(
        "specs/datasets/toy.yaml",
        "kind: Dataset\nname: toy\nsource: {csv: data/toy.csv}\ntarget: y\n"
        "split: {test_size: 0.25, seed: 1}\nchecks: {min_rows: 50, no_nulls: true}\n",
    )
    repo.write(
        "specs/models/toy.yaml",
        "kind: Model\nname: toy\ndataset: toy\nestimator:\n"
        "  class: sklearn.tree.DecisionTreeClassifier\n  params: {max_depth: 3}\nmetrics: [accuracy]\n",
    )
    repo.write("environments/dev.yaml", (repo.path / "environments/dev.yaml").read_text() + "  toy: {}\n")
    repo.commit("toy csv model")
    assert repo.apply()[0] == 0
    v1 = repo.aliases()[("dev", "toy")]

    # A null breaks the contract: blocked with the reason, nothing trained.
    repo.write("data/toy.csv", "a,b,y\n" + rows + ",1.0,1\n")
    repo.commit("a null sneaks in")
    count = repo.version_count()
    plan = repo.plan()
    (blocked,) = actions(plan, "blocked")
    assert blocked["model"] == "toy" and "null values" in blocked["reason"]
    assert repo.apply()[0] == 1
    assert repo.version_count() == count and repo.aliases()[("dev", "toy")] == v1

    # Clean new content: the diff names the data, and one version is trained.
    repo.write("data/toy.csv", "a,b,y\n" + rows + "1.0,1.0,1\n")
    repo.commit("one more row")
    plan = repo.plan()
    (promote,) = [a for a in actions(plan, "promote") if a["model"] == "toy"]
    assert promote["changes"][0] == "dataset content changed"
    assert repo.apply()[0] == 0
    assert repo.version_count() == count + 1


def test_offline_plan_of_a_revert_is_a_rollback_with_no_training(repo: Repo) -> None:
    base = repo.git.head.commit.hexsha
    repo.edit("specs/models/iris-classifier.yaml", "C: 1.0", "C: 0.5")
    change = repo.commit("iris: C 0.5")
    offline = repo.plan("--offline", "--base", base)
    assert offline["checked_against_registry"] is False
    assert offline["summary"]["train"] == 1 and offline["summary"]["promote"] == 3
    repo.revert(change)
    code, out, _ = repo.run("plan", "--offline", "--base", change, "--format", "markdown")
    assert code == 0
    assert "**Rollback**: reverts `" + change[:7] + "` (iris: C 0.5). 0 trainings." in out
    assert "Plan: 0 to train, 3 to promote, 0 blocked." in out
    assert "Not checked against the registry" in out
    assert repo.registry_is_empty(), "offline plans never open the registry"


def test_policy_blocks_lowering_production_gates_with_a_model_change(repo: Repo) -> None:
    repo.write("policies/no-lowered.yaml", (ROOT / "policies" / "no-lowered-gates-with-model-change.yaml").read_text())
    repo.commit("policy")
    assert repo.apply()[0] == 0
    before = repo.aliases()
    repo.edit("specs/models/iris-classifier.yaml", "C: 1.0", "C: 0.5")
    repo.edit("specs/gates/quality.yaml", "min: 0.8", "min: 0.7")
    repo.commit("tune iris and lower the bar at once")

    for extra in (("--base", "HEAD^"), ("--offline", "--base", "HEAD^")):
        plan = repo.plan(*extra)
        blocked = {(a["environment"], a["model"]): a["reason"] for a in actions(plan, "blocked")}
        assert list(blocked) == [("production", "iris-classifier")], extra
        assert "policy 'no-lowered-gates-with-model-change'" in blocked[("production", "iris-classifier")]
        assert "quality accuracy >= 0.8 min: 0.8 -> 0.7" in blocked[("production", "iris-classifier")]

    code, out = repo.apply()
    assert code == 1 and "no-lowered-gates-with-model-change" in out
    after = repo.aliases()
    assert after[("production", "iris-classifier")] == before[("production", "iris-classifier")]
    assert after[("dev", "iris-classifier")] != before[("dev", "iris-classifier")], "outside its scope, it moves"

    # Lowering the bar in a change of its own is allowed.
    repo.edit("specs/models/iris-classifier.yaml", "C: 0.5", "C: 1.0")
    repo.commit("back to C 1.0")
    repo.edit("specs/gates/quality.yaml", "min: 0.7", "min: 0.6")
    repo.commit("bar lowered on its own")
    plan = repo.plan("--base", "HEAD^")
    assert actions(plan, "blocked") == []


def test_saved_plan_applies_exactly_and_refuses_when_stale(repo: Repo) -> None:
    saved = repo.path.parent / "plan.json"
    code, _, _ = repo.run("plan", "--out", str(saved))
    assert code == 0
    doc = json.loads(saved.read_text())
    assert doc["plan"]["summary"]["train"] == 2
    code, out, err = repo.run_plain("apply", str(saved), "--repo", str(repo.path))
    assert code == 0, out + err
    assert f"Applying the saved plan {saved}" in out and "2 trained" in out
    assert repo.aliases()[("production", "iris-classifier")] == "1"

    # Stale because the registry moved: refused, registry untouched.
    repo.edit("specs/models/iris-classifier.yaml", "C: 1.0", "C: 0.5")
    repo.commit("iris C 0.5")
    code, _, _ = repo.run("plan", "--out", str(saved))
    repo.client().set_registered_model_alias("iris-classifier", "dev", "1")  # someone else acts meanwhile
    repo.client().set_registered_model_tag(
        "iris-classifier", "reconciler.ledger.999999", json.dumps({"env": "dev", "to": "1"})
    )
    before = (repo.aliases(), repo.version_count())
    code, out, err = repo.run_plain("apply", str(saved), "--repo", str(repo.path))
    assert code == 1 and "the registry changed since this plan was made" in err
    assert (repo.aliases(), repo.version_count()) == before

    # Stale because the specs moved.
    code, _, _ = repo.run("plan", "--out", str(saved))
    repo.edit("specs/models/iris-classifier.yaml", "C: 0.5", "C: 0.6")
    repo.commit("iris C 0.6")
    code, out, err = repo.run_plain("apply", str(saved), "--repo", str(repo.path))
    assert code == 1 and "the specs changed since this plan was made" in err
    assert (repo.aliases(), repo.version_count()) == before


def test_status_check_reports_invariants(repo: Repo) -> None:
    assert repo.apply()[0] == 0
    code, out, _ = repo.run("status", "--check")
    assert code == 0 and out.strip() == "invariants hold"
    # Break one by hand: a second version claiming an existing fingerprint.
    client = repo.client()
    v1 = client.get_model_version("iris-classifier", "1")
    client.create_model_version(
        "iris-classifier",
        v1.source,
        run_id=v1.run_id,
        tags={"reconciler.fingerprint": v1.tags["reconciler.fingerprint"]},
        # A server requires the logged model a `models:/m-...` source belongs to.
        model_id=v1.model_id or v1.source.removeprefix("models:/"),
    )
    code, out, _ = repo.run("status", "--check")
    assert code == 1 and "iris-classifier v2: same fingerprint as v1" in out
