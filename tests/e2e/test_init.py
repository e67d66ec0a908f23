"""`reconciler init`: a new repository that validates and applies as written, never overwrites
what is there, and whose workflows are this repository's own with the action by reference."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from reconciler.cli import main
from reconciler.scaffold import FILES, PLACEHOLDER_ACTION
from tests.conftest import ROOT, git_commit_all
from tests.github.harness import WORKFLOWS


def init(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = main(["init", *argv])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_init_commit_apply_then_nothing_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "models"
    code, out, err = init(capsys, str(repo))
    assert code == 0, err
    assert "  created  .gitignore" in out and f"use {PLACEHOLDER_ACTION}: replace it" in out
    assert "  git init -b main" in out
    git_commit_all(repo, "Start from reconciler init")
    monkeypatch.chdir(repo / "specs")
    assert main(["validate"]) == 0
    assert capsys.readouterr().out == "11 objects in 11 files: valid\n"
    assert main(["apply"]) == 0
    out = capsys.readouterr().out
    assert "Apply: 1 trained, 7 actions done, 0 failed." in out
    assert "production: (none) -> v1" in out
    assert main(["apply"]) == 0
    assert "Nothing to do: the registry matches the specs." in capsys.readouterr().out
    status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain"], capture_output=True, text=True)
    assert status.stdout == "", "the local state is ignored, so the tree stays clean"


def test_init_keeps_what_is_there_and_refuses_existing_specs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "README.md").write_text("# ours\n")
    (tmp_path / ".gitignore").write_text("*.pyc")
    code, out, _ = init(capsys, str(tmp_path), "--action", "acme/reconciler@v1.2.0")
    assert code == 0
    assert "  kept     README.md" in out and "  appended .gitignore" in out and "replace it" not in out
    assert (tmp_path / "README.md").read_text() == "# ours\n"
    assert (tmp_path / ".gitignore").read_text().splitlines()[0] == "*.pyc"
    assert ".reconciler/" in (tmp_path / ".gitignore").read_text().splitlines()
    assert "uses: acme/reconciler@v1.2.0" in (tmp_path / ".github" / "workflows" / "plan.yml").read_text()

    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    code, out, err = init(capsys, str(tmp_path))
    assert (code, out) == (2, "")
    assert err == (
        f"reconciler: {tmp_path} already has specs/, environments/, policies/: init starts a new repository "
        "and never mixes its examples into existing specs\n"
    )
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("action", ["acme", "acme/reconciler", "acme/reconciler@v1; rm -rf /", "./local@v1"])
def test_init_refuses_an_action_that_is_not_a_reference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], action: str
) -> None:
    code, out, err = init(capsys, str(tmp_path / "r"), "--action", action)
    assert (code, out) == (2, "")
    assert err == f"reconciler: --action {action!r}: expected OWNER/REPO@REF, e.g. {PLACEHOLDER_ACTION}\n"
    assert not (tmp_path / "r" / "specs").exists()


def test_the_shipped_policies_are_this_repositorys() -> None:
    """One set of policies: the scaffold's copies may not drift from the ones the examples use."""
    shipped = sorted((FILES / "policies").glob("*.yaml"))
    assert [p.name for p in shipped] == sorted(p.name for p in (ROOT / "policies").glob("*.yaml"))
    for path in shipped:
        assert path.read_text() == (ROOT / "policies" / path.name).read_text(), path.name


def _normalized(doc: dict[str, Any], tool_path: str | None) -> dict[str, Any]:
    """A workflow with the reconciler's action written as ACTION, however it is referenced, and
    without this repository's base-branch checkout of the tool (a tag pins reviewed code)."""
    for job in doc["jobs"].values():
        if "steps" not in job:  # a job calling a reusable workflow
            continue
        steps = []
        for step in job["steps"]:
            with_ = step.get("with") or {}
            if tool_path and with_.get("path") == tool_path:
                continue
            uses = str(step.get("uses", ""))
            if uses in ("./", f"./{tool_path}", PLACEHOLDER_ACTION):
                step = {**step, "uses": "ACTION", "with": {k: v for k, v in with_.items() if k != "package"}}
            steps.append(step)
        job["steps"] = steps
    return doc


@pytest.mark.parametrize("name", ["plan.yml", "apply.yml", "drift.yml"])
def test_the_scaffolded_workflows_are_this_repositorys(name: str) -> None:
    """The workflows a new repository gets do what this repository's do, step for step."""
    yaml = YAML(typ="safe")
    ours = yaml.load((WORKFLOWS / name).read_text())
    scaffolded = yaml.load((FILES / "workflows" / name).read_text().replace("__ACTION__", PLACEHOLDER_ACTION))
    assert _normalized(scaffolded, None) == _normalized(ours, ".reconciler-tool")
