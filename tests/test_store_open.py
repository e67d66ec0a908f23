"""Opening a store: nothing happens until it is used; a new SQLite file then gets its whole
schema at once (under the file lock); an existing one is read without MLflow at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.state.mlflow_store import MlflowStore, _has_schema


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def test_a_new_store_is_created_whole_and_reopened_without_warm_up(tmp_path: Path) -> None:
    db = tmp_path / ".reconciler" / "mlflow.db"
    assert not _has_schema(db)
    first = MlflowStore.for_repo(tmp_path)
    assert not _has_schema(db) and first.calls == 0, "a store costs nothing until it is used"
    assert first.read().models == {}
    assert _has_schema(db) and first.calls == 3, "both schemas created under the file lock, then one search"

    again = MlflowStore.for_repo(tmp_path)
    state = again.read()
    assert state.models == {} and again.calls == 1, "one read-only SQLite connection"
    assert again._mlflow_module is None and again._client is None, "read without opening MLflow"
    again.ensure_model("m")
    assert again._client is not None
    assert "m" in again.read().models


@pytest.mark.parametrize("content", [b"", b"not a database at all" * 100])
def test_a_file_that_is_not_a_store_has_no_schema(tmp_path: Path, content: bytes) -> None:
    db = tmp_path / "mlflow.db"
    db.write_bytes(content)
    assert not _has_schema(db)
