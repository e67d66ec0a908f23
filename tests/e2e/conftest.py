"""End-to-end fixtures: real git repositories and a real SQLite MLflow store in a temp dir."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import git
import pytest

from reconciler.cli import main
from tests.e2e.server import PostgresServer
from tests.e2e.server import start as start_server

# One iris model, as the serving, rollout and feedback scenarios deploy it alone.
IRIS_MODEL = """kind: Model
name: iris-classifier
dataset: iris
estimator:
  class: sklearn.linear_model.LogisticRegression
  params: {C: 1.0, max_iter: 500}
seed: 42
metrics: [accuracy]
"""

SMALL_SPECS = {
    "specs/datasets/iris.yaml": """kind: Dataset
name: iris
source: {sklearn: load_iris}
target: target
split: {test_size: 0.3, seed: 7, stratify: true}
checks: {min_rows: 100, no_nulls: true}
""",
    "specs/datasets/wine.yaml": """kind: Dataset
name: wine
source: {sklearn: load_wine}
target: target
split: {test_size: 0.3, seed: 11, stratify: true}
""",
    "specs/models/iris-classifier.yaml": """kind: Model
name: iris-classifier
description: Species from measurements.
dataset: iris
estimator:
  class: sklearn.linear_model.LogisticRegression
  params: {C: 1.0, max_iter: 500}
seed: 42
metrics: [accuracy, f1_macro]
""",
    "specs/models/wine-classifier.yaml": """kind: Model
name: wine-classifier
dataset: wine
estimator:
  class: sklearn.pipeline.Pipeline
  steps:
    - {name: scale, class: sklearn.preprocessing.StandardScaler}
    - {name: clf, class: sklearn.linear_model.LogisticRegression, params: {C: 1.0, max_iter: 1000}}
metrics: [accuracy]
""",
    "specs/gates/quality.yaml": """kind: Gate
name: quality
rules:
  - {metric: accuracy, min: 0.8}
  - {metric: accuracy, max_regression: 0.05}
""",
    "environments/dev.yaml": """kind: Environment
name: dev
models:
  iris-classifier: {gates: [quality]}
  wine-classifier: {gates: [quality]}
""",
    "environments/staging.yaml": """kind: Environment
name: staging
promotes_from: dev
models:
  iris-classifier: {gates: [quality]}
  wine-classifier: {gates: [quality]}
""",
    "environments/production.yaml": """kind: Environment
name: production
promotes_from: staging
models:
  iris-classifier: {gates: [quality]}
  wine-classifier: {gates: [quality]}
""",
    ".gitignore": ".reconciler/\n",
}


@dataclass
class Repo:
    """A real git repository of specs with the reconciler's default SQLite store inside it."""

    path: Path
    git: git.Repo
    capsys: pytest.CaptureFixture[str]
    server_uri: str | None = None  # set: the registry is a real mlflow server on PostgreSQL

    @property
    def server(self) -> bool:
        return self.server_uri is not None

    def write(self, rel: str, text: str) -> None:
        target = self.path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def edit(self, rel: str, old: str, new: str) -> None:
        text = (self.path / rel).read_text()
        assert old in text, f"{old!r} not in {rel}"
        self.write(rel, text.replace(old, new, 1))

    def remove(self, rel: str) -> None:
        self.git.index.remove([rel], working_tree=True)

    def commit(self, message: str) -> str:
        self.git.git.add(A=True)
        return str(self.git.index.commit(message).hexsha)

    def commit_edit(self, rel: str, old: str, new: str) -> str:
        self.edit(rel, old, new)
        return self.commit(f"{rel}: {old} -> {new}")

    def revert(self, sha: str) -> str:
        self.git.git.revert(sha, no_edit=True)
        return str(self.git.head.commit.hexsha)

    def run(self, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        if argv[0] == "history":  # history MODEL [REPO] [options]
            code = main([argv[0], argv[1], str(self.path), *argv[2:]])
        else:
            code = main([argv[0], str(self.path), *argv[1:]])
        out, err = self.capsys.readouterr()
        return code, out, err

    def run_plain(self, *argv: str) -> tuple[int, str, str]:
        """The command line exactly as given (no repository path added)."""
        self.capsys.readouterr()
        code = main(list(argv))
        out, err = self.capsys.readouterr()
        return code, out, err

    def plan(self, *extra: str) -> dict[str, Any]:
        code, out, err = self.run("plan", "--format", "json", *extra)
        plan = dict(json.loads(out))
        kinds = {a["kind"] for a in plan["actions"]}
        pending = bool(kinds - {"noop", "blocked"})
        expected = 1 if "blocked" in kinds else 2 if "--detailed-exitcode" in extra and pending else 0
        assert code == expected, err
        return plan

    def apply(self) -> tuple[int, str]:
        code, out, err = self.run("apply")
        assert "Traceback" not in out + err
        self.check_invariants()
        return code, out + err

    def check_invariants(self) -> None:
        """After every scenario: one version per fingerprint, no alias on a failed version."""
        from reconciler.state.invariants import violations
        from reconciler.state.mlflow_store import MlflowStore

        if self.server or (self.path / ".reconciler" / "mlflow.db").exists():
            assert violations(MlflowStore(self.uri).read()) == []

    @property
    def uri(self) -> str:
        return self.server_uri or f"sqlite:///{self.path / '.reconciler' / 'mlflow.db'}"

    def registry_is_empty(self) -> bool:
        """Nothing was ever written: no store file locally, no registered model on a server."""
        if not self.server:
            return not (self.path / ".reconciler" / "mlflow.db").exists()
        return self.client().search_registered_models() == []

    def client(self) -> Any:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    def aliases(self) -> dict[tuple[str, str], str]:
        out = {}
        for rm in self.client().search_registered_models():
            for alias, version in rm.aliases.items():
                out[(alias, rm.name)] = str(version)
        return out

    def version_count(self) -> int:
        return len(self.client().search_model_versions(max_results=1000))


def make_repo(path: Path, files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> Repo:
    path.mkdir(parents=True)
    repo = git.Repo.init(path, initial_branch="main")
    with repo.config_writer() as cw:
        cw.set_value("user", "name", "Test")
        cw.set_value("user", "email", "test@example.com")
    r = Repo(path, repo, capsys)
    for rel, text in files.items():
        r.write(rel, text)
    r.commit("initial specs")
    return r


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """One mlflow server on PostgreSQL for the session; `backend` empties it for each test."""
    yield from start_server(tmp_path_factory.mktemp("pg-server"))


@pytest.fixture(params=["sqlite", "server"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """The registry each scenario runs against: the embedded SQLite default, then a real
    `mlflow server` on PostgreSQL (MLFLOW_TRACKING_URI set, as a team would)."""
    if request.param == "sqlite":
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
        return None
    server: PostgresServer = request.getfixturevalue("pg_server")
    server.reset()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.uri)
    return server.uri


@pytest.fixture
def repo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, backend: str | None
) -> Iterator[Repo]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    r = make_repo(tmp_path / "repo", SMALL_SPECS, capsys)
    r.server_uri = backend
    yield r
    if backend is None and (r.path / ".reconciler" / "mlflow.db").exists():
        # Whatever the scenario left behind, the direct SQLite read (what plans use on the
        # embedded store) must see exactly what MLflow's own searches see.
        from reconciler.state.mlflow_store import LOCK_MODEL, MlflowStore
        from reconciler.state.sqlite_read import read_sqlite

        store = MlflowStore(r.uri)
        direct = read_sqlite(store.sqlite_path, store.location, LOCK_MODEL)  # type: ignore[arg-type]
        assert direct is not None, "the direct read gave up on a store MLflow made"
        assert direct == store.read_through_mlflow()


def actions(plan: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [a for a in plan["actions"] if a["kind"] == kind]


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Debian's Chromium, installed by the tests when missing (as root, from the package
    registry this machine reaches); skipped with the reason anywhere that cannot. Parallel
    workers install it one at a time (apt holds its own lock and fails the second one)."""
    import fcntl
    import os
    import shutil
    import subprocess

    def find() -> str | None:
        return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")

    found = find()
    if found is None and shutil.which("apt-get") and os.geteuid() == 0:
        lock = tmp_path_factory.getbasetemp().parent / "chromium-install.lock"
        with open(lock, "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            found = find()
            if found is None:
                subprocess.run(
                    ["apt-get", "install", "-y", "-q", "chromium"],
                    check=False,
                    capture_output=True,
                    timeout=900,
                    env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
                )
                found = find()
    if found is None:
        pytest.skip("no Chromium, and it cannot be installed here (needs root and apt-get)")
    return found
