"""Hostile specs and data: each case ends with a clear error, a non-zero exit, no traceback,
and a registry exactly as it was before (compared in full: models, versions, tags, runs).

A case is a directory under tests/corpus/hostile/ whose files are laid over a small specs
repository that has already been applied; `expected.txt` holds text the output must contain.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import git
import pytest

from reconciler.cli import main
from tests.e2e.conftest import SMALL_SPECS, make_repo

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "hostile"
CASES = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())


def snapshot(uri: str) -> dict[str, Any]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    models = {rm.name: (dict(rm.tags), dict(rm.aliases)) for rm in client.search_registered_models()}
    versions = {(v.name, v.version): dict(v.tags) for v in client.search_model_versions(max_results=1000)}
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = sorted(r.info.run_id for r in client.search_runs(experiments, max_results=1000)) if experiments else []
    return {"models": models, "versions": versions, "runs": runs}


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = make_repo(tmp_path_factory.mktemp("hostile") / "base", SMALL_SPECS, None)  # type: ignore[arg-type]
    assert main(["apply", str(repo.path)]) == 0
    return repo.path


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("name", CASES)
def test_hostile_case(
    name: str, applied: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    repo = tmp_path / "repo"
    shutil.copytree(applied, repo, symlinks=True)
    uri = f"sqlite:///{repo / '.reconciler' / 'mlflow.db'}"
    before = snapshot(uri)
    case = CORPUS / name
    for f in case.rglob("*"):
        if f.is_file() and f.name != "expected.txt":
            target = repo / f.relative_to(case)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, target)
    # Hostile specs arrive the way every change does: committed (a dirty tree is refused first).
    git.Repo(repo).git.add(A=True)
    git.Repo(repo).index.commit(f"hostile case {name}")
    capsys.readouterr()
    code = main(["apply", str(repo)])
    out, err = capsys.readouterr()
    assert code == 1, out + err
    assert "Traceback" not in out + err
    assert (case / "expected.txt").read_text().strip() in out + err, out + err
    assert snapshot(uri) == before, "the registry must be left exactly as it was"
