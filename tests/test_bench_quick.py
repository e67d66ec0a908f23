"""CI runs the benchmarks in quick mode, so they cannot rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_benchmarks_run_in_quick_mode(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    text = out.read_text()
    for heading in (
        "# validate benchmark",
        "# engine benchmark",
        "# hashing benchmark",
        "# monitoring benchmark",
        "# serving benchmark",
        "# rollout benchmark",
        "# data outside git",
    ):
        assert heading in text
    assert "0 trainings" in text, "a revert rollback never trains"
