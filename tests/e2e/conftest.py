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
        assert code in (0, 1, 2), err
        return dict(json.loads(out))

    def apply(self) -> tuple[int, str]:
        code, out, err = self.run("apply")
        assert "Traceback" not in out + err
        self.check_invariants()
        return code, out + err

    def check_invariants(self) -> None:
        """After every scenario: one version per fingerprint, no alias on a failed version."""
        from reconciler.state.invariants import violations
        from reconciler.state.mlflow_store import MlflowStore

        if (self.path / ".reconciler" / "mlflow.db").exists():
            assert violations(MlflowStore(self.uri).read()) == []

    @property
    def uri(self) -> str:
        return f"sqlite:///{self.path / '.reconciler' / 'mlflow.db'}"

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


@pytest.fixture
def repo(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Repo]:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    yield make_repo(tmp_path / "repo", SMALL_SPECS, capsys)


def actions(plan: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [a for a in plan["actions"] if a["kind"] == kind]
