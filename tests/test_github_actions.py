from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.github import actions as gha


def test_nothing_leaks_outside_github_actions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out, summary = tmp_path / "out", tmp_path / "summary"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    gha.set_outputs({"changes": True})
    gha.write_summary("# plan")
    gha.annotate("error", "t", "m")
    assert not out.exists() and not summary.exists()
    assert capsys.readouterr().out == ""


def test_outputs_summary_and_annotations_inside_actions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out, summary = tmp_path / "out", tmp_path / "summary"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    gha.set_outputs({"changes": True, "trains": 2, "detail": "two\nlines"})
    gha.write_summary("# plan")
    gha.annotate("error", "dev/m: blocked", "accuracy 50% < 80%\nsee plan")
    text = out.read_text().splitlines()
    assert text[:2] == ["changes=true", "trains=2"]
    assert text[2].startswith("detail<<EOF_") and text[3:5] == ["two", "lines"] and text[5] == text[2].split("<<")[1]
    assert summary.read_text() == "# plan\n"
    assert capsys.readouterr().out == "::error title=dev/m%3A blocked::accuracy 50%25 < 80%25%0Asee plan\n"


def test_comment_is_capped_with_a_link_to_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_REPOSITORY", "o/r")
    monkeypatch.setenv("GITHUB_RUN_ID", "9")
    body = "<!-- m -->\n<details>\n\n```diff\n" + "~ x: 1 -> 2\n" * 20_000
    capped = gha.cap(body, limit=1000)
    assert len(capped) < 1300
    assert capped.count("```") % 2 == 0 and capped.count("<details>") == capped.count("</details>")
    assert "https://github.com/o/r/actions/runs/9" in capped
    assert gha.cap("short") == "short"


def test_untrusted_lines_are_never_commands_but_our_annotations_are(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    from reconciler.github.guard import guarded
    from tests.github.harness import workflow_commands

    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    with guarded():
        print("text from a spec\n::error title=pwned::injected\n  ::set-output name=x::y")
        print(":", end="")
        print(":error::split across writes")
        print("a line in progress ", end="")
        gha.annotate("warning", "dev/m drift", "moved\n::error::by hand")
        print("::error::untrusted, on stderr", file=sys.stderr)
    out, err = capsys.readouterr()
    assert workflow_commands(out) == [("warning", "title=dev/m drift", "moved%0A::error::by hand")]
    assert workflow_commands(err) == []
    assert "(text) ::error title=pwned::injected" in out and "(text) ::error::split across writes" in out
    assert "a line in progress \n::warning" in out, "our command starts a line of its own"


def test_machine_output_is_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`plan --format json > file` in a workflow: the guard changes only lines that start with `::`."""
    import json

    from reconciler.cli import main
    from tests.conftest import copy_examples

    repo = copy_examples(tmp_path / "r")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert main(["plan", str(repo), "--offline", "--format", "json"]) in (0, 2)
    assert json.loads(capsys.readouterr().out)["actions"]


def test_every_command_line_is_guarded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from reconciler.cli import main
    from tests.conftest import copy_examples
    from tests.github.harness import workflow_commands

    repo = copy_examples(tmp_path / "r")
    (repo / "specs" / "models" / "bad.yaml").write_text('kind: Model\nname: "x\\n::error::pwned"\n')
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert main(["validate", str(repo), "--format", "github"]) == 1
    assert main(["validate", str(repo)]) == 1
    out, err = capsys.readouterr()
    commands = workflow_commands(out + err)
    assert commands and all(c[0] == "error" and c[1].startswith("file=specs/models/bad.yaml") for c in commands)
