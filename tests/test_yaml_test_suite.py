"""Every input of the public YAML test suite, as a user's spec file: no crash, no hang, never
accepted, and invalid YAML always gets a positioned error."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.spec.loader import load_repo

SUITE = Path(__file__).parent / "corpus" / "yaml-test-suite"
CASES = sorted(p.parent for p in SUITE.rglob("in.yaml"))


def test_suite_is_complete() -> None:
    assert len(CASES) == 402


@pytest.mark.parametrize("case", CASES, ids=[c.relative_to(SUITE).as_posix() for c in CASES])
def test_suite_input(case: Path, tmp_path: Path) -> None:
    spec = tmp_path / "specs" / "case.yaml"
    spec.parent.mkdir(parents=True)
    spec.write_bytes((case / "in.yaml").read_bytes())
    result = load_repo(tmp_path)
    assert not result.ok, "a YAML test-suite input is not a spec and must not be accepted"
    for d in result.diagnostics:
        assert d.file == "specs/case.yaml"
        assert d.line >= 1 and d.col >= 1
        assert d.message
    if (case / "error").exists():
        assert result.desired.specs.count() == 0
