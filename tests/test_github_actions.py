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
