"""The pull-request check tells the truth: a preview that cannot train or evaluate fails the
plan, a preview never changes what main reports, policies on the change fail closed, a dirty
tree is refused (or recorded as dirty), and policies that read verdicts recorded earlier in the
same apply are judged when the alias moves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sklearn.datasets import load_iris

from reconciler.state.invariants import violations
from reconciler.state.mlflow_store import MlflowStore
from tests.conftest import ROOT
from tests.e2e.conftest import SMALL_SPECS, Repo, actions, make_repo

IRIS_CSV = "kind: Dataset\nname: iris\nsource: {csv: data/iris.csv}\ntarget: target\nsplit: {test_size: 0.3, seed: 7}\n"


def iris_csv(infinite: bool = False) -> str:
    frame = load_iris(as_frame=True).frame
    if infinite:  # a column of numbers validate cannot fault, which scikit-learn refuses to fit
        frame.loc[::10, "sepal length (cm)"] = float("inf")
    return str(frame.to_csv(index=False))


def test_a_preview_that_cannot_train_fails_the_plan_in_every_view(repo: Repo, tmp_path: Path) -> None:
    repo.write("data/iris.csv", iris_csv())
    repo.write("specs/datasets/iris.yaml", IRIS_CSV)
    repo.commit("iris from a CSV")
    assert repo.apply()[0] == 0
    # The CSV gains infinite values: the specs still validate (a text column would not: validate
    # follows it to the estimator), but nothing can fit on it.
    repo.git.git.checkout("-b", "infinite-values")
    repo.write("data/iris.csv", iris_csv(infinite=True))
    repo.commit("infinite values")
    versions = repo.version_count()

    markdown, doc = tmp_path / "plan.md", tmp_path / "plan.json"
    code, out, err = repo.run("plan", "--preview", "--write-markdown", str(markdown), "--write-json", str(doc))
    assert code == 1, out + err
    assert "Preview failed:" in out and "train dev/iris-classifier" in out and "contains infinity" in out
    assert "x iris-classifier" in out
    plan = json.loads(doc.read_text())
    failed = [s for s in plan["preview"] if s["status"] == "failed"]
    assert [(s["kind"], s["environment"], s["model"]) for s in failed] == [("train", "dev", "iris-classifier")]
    blocked = {(a["environment"], a["model"]) for a in actions(plan, "blocked")}
    assert blocked == {(env, "iris-classifier") for env in ("dev", "staging", "production")}
    assert all("preview: train" in a["reason"] for a in actions(plan, "blocked"))
    assert "The preview failed" in markdown.read_text() and "contains infinity" in markdown.read_text()
    assert repo.version_count() == versions, "nothing was registered for the failed candidate"


def preview_on_a_branch(repo: Repo, branch: str, rel: str, old: str, new: str) -> tuple[int, str, str]:
    """Apply main, then preview a branch that edits one spec."""
    assert repo.apply()[0] == 0
    repo.git.git.checkout("-b", branch)
    repo.commit_edit(rel, old, new)
    return repo.run("plan", "--preview")


def test_the_text_plan_of_a_preview_shows_each_candidates_metrics_and_deltas(git_repo: Repo) -> None:
    code, out, err = preview_on_a_branch(git_repo, "larger-c", "specs/models/iris-classifier.yaml", "C: 1.0", "C: 2.0")
    assert code == 0, out + err
    assert "Metrics: candidate vs the version it replaces" in out
    line = next(x for x in out.splitlines() if x.strip().startswith("dev/iris-classifier  accuracy"))
    assert " -> " in line and "(" in line, line  # current -> candidate (delta)


def test_a_preview_does_not_change_what_main_reports(repo: Repo) -> None:
    code, out, err = preview_on_a_branch(repo, "tighter-gate", "specs/gates/quality.yaml", "min: 0.8", "min: 0.85")
    assert code == 0, out + err
    repo.git.git.checkout("main")
    assert {a["kind"] for a in repo.plan()["actions"]} == {"noop"}, "main's plan is unchanged by the preview"
    code, out, _ = repo.run("status")
    assert code == 0 and "OutOfSync" not in out

    # Merged, the preview's verdicts are adopted without measuring again.
    repo.git.git.merge("tighter-gate")
    plan = repo.plan()
    evaluates = actions(plan, "evaluate")
    assert evaluates and all("a preview made" in a["reason"] for a in evaluates)
    code, out = repo.apply()
    assert code == 0, out
    assert "recorded by a preview" in out
    assert {a["kind"] for a in repo.plan()["actions"]} == {"noop"}


def test_a_preview_verdict_is_apart_from_mains(repo: Repo) -> None:
    """A preview under failing gates records its failure where main never reads it."""
    code, out, err = preview_on_a_branch(repo, "impossible-gate", "specs/gates/quality.yaml", "min: 0.8", "min: 0.9999")
    assert code == 1, out + err  # the tightened gate fails the serving versions: blocked
    repo.git.git.checkout("main")
    assert {a["kind"] for a in repo.plan()["actions"]} == {"noop"}
    code, out, _ = repo.run("status", "--check")
    assert code == 0 and "invariants hold" in out


# --- policies on the change fail closed ---------------------------------------------------


@pytest.fixture
def git_repo(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Repo:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    policy = (ROOT / "policies" / "no-lowered-gates-with-model-change.yaml").read_text()
    return make_repo(tmp_path / "repo", {**SMALL_SPECS, "policies/no-lowered-gates.yaml": policy}, capsys)


def test_a_base_with_invalid_specs_blocks_instead_of_passing(git_repo: Repo) -> None:
    git_repo.edit("specs/models/iris-classifier.yaml", "seed: 42", "sead: 42")
    git_repo.commit("a typo")
    git_repo.edit("specs/models/iris-classifier.yaml", "sead: 42", "seed: 42")
    git_repo.commit("fixed")
    for command in ("apply", "plan"):
        code, out, err = git_repo.run(command)
        assert code == 1, out + err
        assert "the specs at HEAD^ do not validate" in err and "--base" in err
        if command == "apply":
            assert git_repo.registry_is_empty(), "apply stops before it opens the registry"
    code, out, err = git_repo.run("plan", "--base", "HEAD~2")
    assert code == 0, out + err


def test_a_shallow_clone_without_the_base_says_how_to_fetch_it(git_repo: Repo, tmp_path: Path) -> None:
    git_repo.edit("specs/models/iris-classifier.yaml", "C: 1.0", "C: 0.5")
    git_repo.commit("smaller C")
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", git_repo.path.as_uri(), str(shallow)], check=True)
    code, out, err = git_repo.run_plain("plan", str(shallow))
    assert code == 1, out + err
    assert "shallow" in err and "fetch-depth: 0" in err and "Traceback" not in err


def test_the_first_commit_has_nothing_before_it(git_repo: Repo) -> None:
    code, out, err = git_repo.run("plan")
    assert code == 0, out + err
    code, out, err = git_repo.run("plan", "--base", "no-such-branch")
    assert code == 1 and "'no-such-branch' does not exist" in err


# --- dirty trees ---------------------------------------------------------------------------


def test_apply_refuses_a_dirty_tree_and_records_one_when_allowed(git_repo: Repo) -> None:
    git_repo.edit("specs/models/iris-classifier.yaml", "C: 1.0", "C: 0.5")
    code, out, err = git_repo.run("apply")
    assert code == 1
    assert "uncommitted changes" in err and "specs/models/iris-classifier.yaml" in err and "--allow-dirty" in err
    assert git_repo.registry_is_empty()
    code, out, err = git_repo.run("plan", "--preview")
    assert code == 1 and "--allow-dirty" in err

    code, out, err = git_repo.run("apply", "--allow-dirty")
    assert code == 0, out + err
    store = MlflowStore(git_repo.uri)
    rm = store.read().models["iris-classifier"]
    assert all(v.dirty for v in rm.versions.values())
    assert all(e.dirty for e in rm.ledger)
    run = git_repo.client().get_run(next(iter(rm.versions.values())).run_id)
    assert run.data.tags["reconciler.git_dirty"] == "true"
    code, out, _ = git_repo.run("history", "iris-classifier")
    assert code == 0 and "+dirty" in out
    # Untracked files elsewhere do not make the specs dirty.
    (git_repo.path / "notes.txt").write_text("scratch")
    git_repo.commit("C 0.5")
    (git_repo.path / "scratch.txt").write_text("not read by the reconciler")
    code, out, err = git_repo.run("apply")
    assert code == 0, out + err


# --- policies that read verdicts recorded in the same apply ------------------------------


def with_staging_policy(repo: Repo) -> Repo:
    policy = (ROOT / "policies" / "production-requires-staging.yaml").read_text()
    repo.write("policies/production-requires-staging.yaml", policy)
    repo.commit("production requires staging")
    return repo


@pytest.fixture
def staged_repo(repo: Repo) -> Repo:
    return with_staging_policy(repo)


def test_the_fan_out_flow_reaches_production_under_production_requires_staging(staged_repo: Repo) -> None:
    for model in ("iris-classifier", "wine-classifier"):
        code, out, err = staged_repo.run("apply", "--only", f"train:{model}", "--jobs", "1")
        assert code == 0, out + err
    code, out = staged_repo.apply()
    assert code == 0, out
    assert len(staged_repo.aliases()) == 6


def test_one_rerun_after_a_crash_between_dev_and_staging_reaches_production(git_repo: Repo) -> None:
    staged_repo = with_staging_policy(git_repo)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILER_")}
    if staged_repo.server_uri:
        env["MLFLOW_TRACKING_URI"] = staged_repo.server_uri
    command = [sys.executable, "-m", "reconciler", "apply", str(staged_repo.path), "--jobs", "1"]
    killed = subprocess.run(
        command, env={**env, "RECONCILER_KILL_AT": "promote:after-ledger"}, capture_output=True, text=True, check=False
    )
    assert killed.returncode == -9, killed.stdout + killed.stderr
    assert staged_repo.aliases() == {("dev", "iris-classifier"): "1"}
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert len(staged_repo.aliases()) == 6
    staged_repo.check_invariants()


def test_the_policy_still_blocks_a_version_that_fails_staging(staged_repo: Repo) -> None:
    """Judged when the alias moves, with the real verdict: a candidate staging rejects never
    reaches production, and the plan does not claim otherwise once the verdict exists."""
    staged_repo.write(
        "environments/staging.yaml",
        "kind: Environment\nname: staging\npromotes_from: dev\nmodels:\n"
        "  iris-classifier: {gates: [strict]}\n  wine-classifier: {gates: [quality]}\n",
    )
    staged_repo.write(
        "specs/gates/strict.yaml", "kind: Gate\nname: strict\nrules:\n  - {metric: accuracy, min: 0.9999}\n"
    )
    staged_repo.commit("a strict staging gate")
    code, out = staged_repo.apply()
    assert code == 1, out
    aliases = staged_repo.aliases()
    assert ("production", "iris-classifier") not in aliases and ("staging", "iris-classifier") not in aliases
    assert violations(MlflowStore(staged_repo.uri).read()) == []


# --- one bad model never aborts the others ------------------------------------------------

BAD_F1 = """kind: Model
name: bad-f1
dataset: iris
estimator: {class: sklearn.linear_model.LogisticRegression, params: {max_iter: 500}}
metrics: [accuracy, f1]
"""


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_model_whose_scorer_cannot_score_fails_alone_with_any_jobs(git_repo: Repo, jobs: str) -> None:
    git_repo.write("specs/models/bad-f1.yaml", BAD_F1)
    git_repo.edit("environments/dev.yaml", "models:\n", "models:\n  bad-f1: {gates: [quality]}\n")
    git_repo.commit("a model scored with binary f1 on three classes")
    code, out, _ = git_repo.run("validate")
    assert code == 1 and "bad-f1.yaml:5:21: metrics: 'f1' needs a binary target" in out
    code, out, err = git_repo.run("apply", "--jobs", jobs)
    assert code == 1, out + err
    assert "internal error" not in out + err
    failed = [line for line in err.splitlines() if line.strip().startswith("failed:")]
    assert failed == [
        "  failed: train dev/bad-f1: specs/models/bad-f1.yaml: metrics: scikit-learn could not score: "
        + failed[0].split("could not score: ", 1)[1]
    ]
    assert "Target is multiclass" in failed[0]
    assert len(git_repo.aliases()) == 6, "the other models converged"


def test_a_bug_keeps_its_traceback_under_reconciler_debug(git_repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure that is nobody's spec (here: the registry returning garbage for the lock)
    is an internal error in one line, with the traceback when asked for."""
    from reconciler.cli import main

    monkeypatch.setattr("reconciler.apply.lock.RegistryLock.fence", lambda self, critical=False: 1 / 0)
    code, out, err = git_repo.run("apply", "--jobs", "1")
    assert code == 1 and "internal error: ZeroDivisionError" in err, out + err
    monkeypatch.setenv("RECONCILER_DEBUG", "1")
    git_repo.capsys.readouterr()
    assert main(["apply", str(git_repo.path), "--jobs", "1"]) == 3
    err = git_repo.capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "ZeroDivisionError" in err  # redacted, still whole


# --- small lies --------------------------------------------------------------------------


def test_only_with_an_unknown_model_is_a_usage_error(git_repo: Repo) -> None:
    with pytest.raises(SystemExit) as stop:
        git_repo.run("apply", "--only", "train:iris-clasifier")
    assert stop.value.code == 2
    err = git_repo.capsys.readouterr().err
    assert "no model 'iris-clasifier'" in err and "did you mean 'iris-classifier'" in err
    assert git_repo.registry_is_empty()


def test_history_dates_and_exit_codes(git_repo: Repo) -> None:
    assert git_repo.apply()[0] == 0
    with pytest.raises(SystemExit) as stop:
        git_repo.run("history", "iris-classifier", "--env", "dev", "--at", "yesterday")
    assert stop.value.code == 2
    assert "expected an ISO 8601 date" in git_repo.capsys.readouterr().err
    assert git_repo.run("history", "iris-classifier", "--env", "dev", "--at", "2001-01-01")[0] == 1
    assert git_repo.run("history", "iris-classifier", "--env", "dev", "--at", "2999-01-01T10:00")[0] == 0
    assert git_repo.run("history", "no-such-model")[0] == 1


def test_the_rollback_label_goes_once_the_revert_is_applied(git_repo: Repo) -> None:
    assert git_repo.apply()[0] == 0
    change = git_repo.commit_edit("specs/models/iris-classifier.yaml", "C: 1.0", "C: 0.9")
    assert git_repo.apply()[0] == 0
    git_repo.revert(change)
    code, out, _ = git_repo.run("plan")
    assert code == 0 and "Rollback: reverts" in out
    assert git_repo.apply()[0] == 0
    code, out, _ = git_repo.run("plan")
    assert code == 0 and "Rollback" not in out


def test_the_offline_plan_marks_a_change_with_tilde_and_checks_contracts(git_repo: Repo) -> None:
    git_repo.commit_edit("specs/models/iris-classifier.yaml", "C: 1.0", "C: 0.9")
    code, out, err = git_repo.run("plan", "--offline")
    assert code == 0, out + err
    assert "~ iris-classifier" in out and "+ iris-classifier" not in out
    git_repo.write("data/iris.csv", iris_csv())
    git_repo.write("specs/datasets/iris.yaml", IRIS_CSV + "checks: {min_rows: 5000}\n")
    git_repo.commit("iris from a CSV, with a contract it breaks")
    code, out, err = git_repo.run("plan", "--offline")
    assert code == 1, out + err
    assert "data checks failed: 150 rows, fewer than min_rows 5000" in out


def test_status_check_reports_an_alias_moved_by_hand_onto_an_unjudged_version(git_repo: Repo) -> None:
    assert git_repo.apply()[0] == 0
    git_repo.commit_edit("specs/models/iris-classifier.yaml", "C: 1.0", "C: 0.9")
    code, out, err = git_repo.run("apply", "--only", "train:iris-classifier")
    assert code == 0, out + err
    git_repo.client().set_registered_model_alias("iris-classifier", "production", "2")  # by hand, unjudged
    code, out, _ = git_repo.run("status", "--check")
    assert code == 1, out
    assert (
        "iris-classifier@production -> v2: moved outside the reconciler onto a version with no recorded verdict "
        "for 'production'" in out
    )
