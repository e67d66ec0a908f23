"""CI runs the benchmarks in quick mode, so they cannot rot: one test per benchmark script, so a
parallel run spreads them over its workers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import QUICK
from tests.conftest import ROOT

HEADINGS = {
    "validate_bench": "# validate benchmark",
    "engine_bench": "# engine benchmark",
    "hash_bench": "# hashing benchmark",
    "monitor_bench": "# monitoring benchmark",
    "serve_bench": "# serving benchmark",
    "rollout_bench": "# rollout benchmark",
    "external_bench": "# data outside git",
    "status_page_bench": "# status page benchmark",
}


def test_every_benchmark_is_run_here() -> None:
    assert set(HEADINGS) == {name.removesuffix(".py") for name in QUICK}


@pytest.mark.parametrize("name", sorted(HEADINGS))
def test_benchmark_runs_in_quick_mode(name: str, tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", name, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    text = out.read_text()
    assert HEADINGS[name] in text
    others = [heading for other, heading in HEADINGS.items() if other != name and heading in text]
    assert others == [], "--only ran more than it was asked"
    if name == "engine_bench":
        assert "0 trainings" in text, "a revert rollback never trains"
