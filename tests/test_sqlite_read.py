"""The direct SQLite read sees exactly what MLflow's searches see, including what MLflow hides
(deleted versions, prompts, the lock), and gives up, rather than guess, on a store it does not
know; a no-op plan on the embedded store never imports MLflow."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reconciler.state import tags as t
from reconciler.state.mlflow_store import LOCK_MODEL, Lease, MlflowStore
from reconciler.state.sqlite_read import read_sqlite
from tests.conftest import ROOT
from tests.e2e.conftest import SMALL_SPECS, make_repo


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("MLFLOW_TRACKING_URI", "MLFLOW_ENABLE_WORKSPACES", "MLFLOW_WORKSPACE"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding every kind of thing a registry can hold beside our models."""
    db = tmp_path_factory.mktemp("store") / "mlflow.db"
    store = MlflowStore(f"sqlite:///{db}")
    client = store.client
    for name in ("alpha", "beta"):
        client.create_registered_model(name, tags={t.MANAGED: "true", f"{t.LEDGER_PREFIX}000001": "not json"})
    client.set_registered_model_tag(
        "alpha",
        f"{t.LEDGER_PREFIX}000002",
        json.dumps({"env": "dev", "from": None, "to": "1", "commit": "c", "at": "x", "plan": "p"}),
    )
    for i in range(1, 5):
        client.create_model_version(
            "alpha", f"file:///m/{i}", run_id=None, tags={t.FINGERPRINT: f"fp{i}", "note": 'it\'s "quoted"'}
        )
    client.create_model_version("beta", "file:///b/1", tags={t.FINGERPRINT: "b1"})
    client.delete_model_version("alpha", "3")  # kept by MLflow as Deleted_Internal, hidden from searches
    client.set_registered_model_alias("alpha", "dev", "1")
    client.set_registered_model_alias("alpha", "production", "4")
    client.create_registered_model("someone-elses", tags={"team": "x"})
    client.register_prompt("a-prompt", "Say hello to {{name}}")
    client.create_registered_model(LOCK_MODEL, tags={"lease": "{}"})
    return db


def test_the_direct_read_equals_mlflows_own(populated: Path) -> None:
    store = MlflowStore(f"sqlite:///{populated}")
    direct = read_sqlite(populated, store.location, LOCK_MODEL)
    through = store.read_through_mlflow()
    assert direct is not None
    assert direct == through
    alpha = direct.models["alpha"]
    assert list(alpha.versions) == ["1", "2", "4"], "the deleted version is hidden, the rest in order"
    assert alpha.aliases == {"dev": "1", "production": "4"}
    assert alpha.versions["2"].fingerprint == "fp2" and alpha.versions["2"].tags["note"] == 'it\'s "quoted"'
    assert [e.seq for e in alpha.ledger] == [2], "an unreadable ledger entry is skipped, as MLflow's path does"
    assert direct.unmanaged == {"someone-elses"}, "prompts and the lock are not someone else's models"
    assert store.read() == through and store._mlflow_module is not None  # read_through_mlflow opened it


def _copy(populated: Path, tmp_path: Path) -> Path:
    db = tmp_path / "mlflow.db"
    shutil.copy(populated, db)
    return db


def test_an_unknown_schema_is_left_to_mlflow(populated: Path, tmp_path: Path) -> None:
    db = _copy(populated, tmp_path)
    with sqlite3.connect(db) as con:
        con.execute("ALTER TABLE model_versions RENAME COLUMN source TO origin")
    assert read_sqlite(db, "here", LOCK_MODEL) is None


@pytest.mark.parametrize("env", [{"MLFLOW_ENABLE_WORKSPACES": "true"}, {"MLFLOW_WORKSPACE": "team-a"}])
def test_workspaces_are_left_to_mlflow(populated: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert read_sqlite(populated, "here", LOCK_MODEL) is None


@pytest.mark.parametrize("content", [None, b"", b"not a database at all" * 100])
def test_a_missing_or_broken_file_is_left_to_mlflow(tmp_path: Path, content: bytes | None) -> None:
    db = tmp_path / "mlflow.db"
    if content is not None:
        db.write_bytes(content)
    assert read_sqlite(db, "here", LOCK_MODEL) is None


def test_rows_of_another_workspace_are_not_read(populated: Path, tmp_path: Path) -> None:
    db = _copy(populated, tmp_path)
    with sqlite3.connect(db) as con:
        columns = {row[1] for row in con.execute("PRAGMA table_info(registered_models)")}
        if "workspace" not in columns:
            pytest.skip("this MLflow's registry has no workspaces")
        con.execute("INSERT INTO registered_models (workspace, name) VALUES ('team-b', 'theirs')")
        con.execute(
            "INSERT INTO registered_model_tags (workspace, name, key, value) VALUES ('team-b', 'theirs', ?, 'true')",
            (t.MANAGED,),
        )
    state = read_sqlite(db, "here", LOCK_MODEL)
    assert state is not None and "theirs" not in state.models and "theirs" not in state.unmanaged


def _python(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False)


def _probe(repo: Path, *argv: str) -> str:
    return (
        "import sys\n"
        "from reconciler.cli import main\n"
        f"code = main({[*argv, str(repo), '--env', 'dev']!r})\n"
        "heavy = sorted(m for m in ('mlflow', 'sklearn', 'sqlalchemy', 'alembic') if m in sys.modules)\n"
        "print('IMPORTED', heavy, code)\n"
    )


@pytest.fixture(scope="module")
def applied_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    repo = make_repo(tmp_path_factory.mktemp("noop") / "repo", SMALL_SPECS, None)  # type: ignore[arg-type]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    applied = _python(env, "-m", "reconciler", "apply", str(repo.path), "--env", "dev")
    assert applied.returncode == 0, applied.stdout[-2000:] + applied.stderr[-2000:]
    return repo.path, env


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_nothing_to_do_on_the_embedded_store_never_imports_mlflow(
    applied_repo: tuple[Path, dict[str, str]], command: str
) -> None:
    repo, env = applied_repo
    out = _python(env, "-c", _probe(repo, command))
    assert "Plan: 0 to train, 0 to promote, 0 blocked." in out.stdout, out.stdout[-2000:] + out.stderr[-2000:]
    assert "IMPORTED [] 0" in out.stdout, out.stdout[-2000:] + out.stderr[-2000:]
    if command == "apply":
        assert "Nothing to do: the registry matches the specs." in out.stdout


def test_a_no_op_apply_still_waits_for_a_running_apply(applied_repo: tuple[Path, dict[str, str]]) -> None:
    """An empty plan read while another apply holds the lock may be stale: wait like any apply."""
    repo, env = applied_repo
    store = MlflowStore(f"sqlite:///{repo / '.reconciler' / 'mlflow.db'}")
    lease = Lease("tok", "someone@elsewhere pid 1", time.time(), time.time() + 60, "elsewhere", 1)
    assert store.try_lock(lease) is None
    try:
        out = _python(env, "-m", "reconciler", "apply", str(repo), "--env", "dev", "--lock-timeout", "0.5")
    finally:
        store.release_lock("tok")
    assert out.returncode != 0 and "Nothing to do" not in out.stdout, out.stdout[-2000:] + out.stderr[-2000:]
    assert "someone@elsewhere" in out.stdout + out.stderr


def test_an_alias_moved_without_its_ledger_entry_is_recorded_by_a_no_op_apply(
    applied_repo: tuple[Path, dict[str, str]],
) -> None:
    """Not an empty plan: the executor repairs history, so the fast path must step aside."""
    repo, env = applied_repo
    store = MlflowStore(f"sqlite:///{repo / '.reconciler' / 'mlflow.db'}")
    model = store.read_direct().model("iris-classifier")  # type: ignore[union-attr]
    assert model is not None and not model.unledgered("dev", model.aliases["dev"])
    tags = store.client.get_registered_model("iris-classifier").tags
    for key in [k for k in tags if k.startswith(t.LEDGER_PREFIX)]:
        store.client.delete_registered_model_tag("iris-classifier", key)
    assert store.read_direct().model("iris-classifier").unledgered("dev", model.aliases["dev"])  # type: ignore[union-attr]
    out = _python(env, "-c", _probe(repo, "apply"))
    assert "'mlflow'" in out.stdout.split("IMPORTED")[-1], out.stdout[-2000:] + out.stderr[-2000:]
    after = store.read_direct().model("iris-classifier")  # type: ignore[union-attr]
    assert not after.unledgered("dev", model.aliases["dev"])
    assert "interrupted apply" in after.ledger[-1].reason
