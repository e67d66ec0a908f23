"""Opening a store: nothing happens until it is used; a new SQLite file then gets its whole
schema at once (under the file lock); an existing one is read without MLflow at all."""

from __future__ import annotations

import re
import subprocess
import sys
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
    assert again._registry is not None and again._client is None, "a registry write opens no tracking store"
    assert "m" in again.read().models


@pytest.mark.parametrize("content", [b"", b"not a database at all" * 100])
def test_a_file_that_is_not_a_store_has_no_schema(tmp_path: Path, content: bytes) -> None:
    db = tmp_path / "mlflow.db"
    db.write_bytes(content)
    assert not _has_schema(db)


@pytest.fixture(scope="module")
def whole_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store MLflow created whole, to copy and break the way a killed first apply leaves one."""
    path = tmp_path_factory.mktemp("whole") / "mlflow.db"
    store = MlflowStore(f"sqlite:///{path}")
    store.read_through_mlflow()
    return path


# What a SIGKILL between MLflow's migration steps leaves (alembic writes each step's tables, then
# stamps the version): every table there, the version missing or several steps behind.
HALF_MADE = {
    "no version yet": "DROP TABLE alembic_version",
    "stamped steps behind": "UPDATE alembic_version SET version_num = '451aebb31d03'",
}


@pytest.mark.parametrize("damage", sorted(HALF_MADE))
def test_a_store_left_half_made_by_a_killed_first_apply_is_made_again(
    whole_store: Path, tmp_path: Path, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil
    import sqlite3

    db = tmp_path / ".reconciler" / "mlflow.db"
    db.parent.mkdir()
    shutil.copyfile(whole_store, db)
    with sqlite3.connect(db) as conn:
        conn.execute(HALF_MADE[damage])
    store = MlflowStore.for_repo(tmp_path)
    store.ensure_model("m")  # opens MLflow: without the recovery, "Detected out-of-date database schema"
    assert set(MlflowStore.for_repo(tmp_path).read().models) == {"m"}
    assert "was left half-created by a run that was killed; it held nothing" in capsys.readouterr().err
    assert list(db.parent.glob("mlflow.db.incomplete-*")), "the old file is kept aside, not deleted"


def test_a_half_migrated_store_that_holds_data_is_left_alone_with_the_fix(whole_store: Path, tmp_path: Path) -> None:
    import shutil
    import sqlite3

    from reconciler.diagnostics import ReconcilerError

    db = tmp_path / ".reconciler" / "mlflow.db"
    db.parent.mkdir()
    shutil.copyfile(whole_store, db)
    MlflowStore.for_repo(tmp_path).ensure_model("precious")
    with sqlite3.connect(db) as conn:
        conn.execute(HALF_MADE["stamped steps behind"])
    before = db.read_bytes()
    # A new process, as the rerun is (this one's MLflow keeps the store it opened above).
    probe = "from pathlib import Path; from reconciler.state.mlflow_store import MlflowStore; "
    probe += f"MlflowStore.for_repo(Path({str(tmp_path)!r})).ensure_model('m')"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert ReconcilerError.__name__ in result.stderr
    assert re.search(r"holds data\. Back it up .* then run: mlflow db upgrade sqlite:///", result.stderr), result.stderr
    assert db.read_bytes() == before and not list(db.parent.glob("*.incomplete-*"))
