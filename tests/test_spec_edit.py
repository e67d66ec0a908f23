"""Round-trip edits of spec files: what the edit touches changes, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.diagnostics import ReconcilerError
from reconciler.spec.edit import add_snapshot, snapshots_of

TEXT = """# two datasets in one file
---
kind: Dataset
name: wine   # first
source: {sklearn: load_wine}
target: target
---
kind: Dataset
name: iris
source: {sklearn: load_iris}
target: target
snapshots:
  - {parquet: data/snapshots/iris-aaa.parquet, sha256: AAA}  # the first week
checks: {min_rows: 10}
"""


def test_a_snapshot_is_appended_to_its_dataset_and_nothing_else_changes(tmp_path: Path) -> None:
    path = tmp_path / "datasets.yaml"
    path.write_text(TEXT)
    assert add_snapshot(path, "iris", "data/snapshots/iris-bbb.parquet", "b" * 64)
    after = path.read_text()
    assert after == TEXT.replace(
        "  # the first week\n",
        '  # the first week\n  - {parquet: data/snapshots/iris-bbb.parquet, sha256: "' + "b" * 64 + '"}\n',
    )
    assert not add_snapshot(path, "iris", "data/snapshots/iris-bbb.parquet", "b" * 64), "already there"
    assert [s["sha256"] for s in snapshots_of(path, "iris")] == ["AAA", "b" * 64]
    assert add_snapshot(path, "wine", "data/snapshots/wine-ccc.parquet", "c" * 64)
    assert "name: wine   # first\nsource: {sklearn: load_wine}\ntarget: target\nsnapshots:\n" in path.read_text()
    with pytest.raises(ReconcilerError, match="no Dataset named 'diabetes'"):
        add_snapshot(path, "diabetes", "x.parquet", "d" * 64)
