"""A Dataset tracked by DVC in the specs' own repository, with a local-directory remote: the
pointer's md5 is the pin, an edited working copy trains nothing and is never what trains,
`dvc add` + commit retrains its models only, a revert rolls back without training, and data
that does not match its pointer is refused."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import Repo, make_repo
from tests.e2e.external_data import deploy, iris, revert_rolls_back_without_training, rows_trained

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

DATASET = """kind: Dataset
name: iris-dvc
source: {dvc: {path: data/iris.csv}}
target: target
split: {test_size: 0.3, seed: 7, stratify: true}
checks: {min_rows: 100}
"""


def dvc(repo: Repo, *args: str) -> str:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("dvc")), *args],
        cwd=repo.path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def write_iris(repo: Repo, rows: int, rel: str = "data/iris.csv") -> None:
    (repo.path / rel).parent.mkdir(exist_ok=True)
    iris(rows).to_csv(repo.path / rel, index=False)


def test_a_dvc_pointer_pins_what_trains(repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    remote = tmp_path / "dvc-remote"
    dvc(repo, "init", "-q")
    dvc(repo, "remote", "add", "-d", "store", str(remote))
    write_iris(repo, 150)
    dvc(repo, "add", "-q", "data/iris.csv")
    dvc(repo, "push", "-q")
    md5_v1 = hashlib.md5((repo.path / "data/iris.csv").read_bytes(), usedforsecurity=False).hexdigest()
    repo.write("specs/datasets/iris-dvc.yaml", DATASET)
    deploy(repo, "dvc-classifier", "iris-dvc")
    repo.commit("iris tracked by DVC")
    # The pointer is what a pull request must touch to change the data: it is an input.
    assert "data/iris.csv.dvc" in repo.run("inputs")[1].split()
    code, out = repo.apply()
    assert code == 0, out
    version = repo.client().get_model_version("dvc-classifier", "1")
    assert version.tags["reconciler.dataset_source"] == "dvc:data/iris.csv"
    assert json.loads(version.tags["reconciler.spec"])["dataset_pin"] == f"md5 {md5_v1[:12]}"
    assert rows_trained(repo, "dvc-classifier", "1") == 150

    # The working copy edited without `dvc add`: the pin has not moved, nothing retrains...
    write_iris(repo, 120)
    assert {a["kind"] for a in repo.plan()["actions"]} == {"noop"}
    # ...and a new model on the same pin, with DVC's cache gone, reads the pinned bytes from
    # the remote, not the edited copy.
    shutil.rmtree(repo.path / ".dvc" / "cache")
    deploy(repo, "dvc-classifier-2", "iris-dvc", c=0.5)
    repo.commit("a second model on iris-dvc")
    code, out = repo.apply()
    assert code == 0 and "1 trained" in out, out
    assert rows_trained(repo, "dvc-classifier-2", "1") == 150

    # `dvc add` and commit the pointer: exactly the models on that dataset retrain.
    dvc(repo, "add", "-q", "data/iris.csv")
    dvc(repo, "push", "-q")
    md5_v2 = hashlib.md5((repo.path / "data/iris.csv").read_bytes(), usedforsecurity=False).hexdigest()
    bump = repo.commit("iris-dvc: 120 rows")
    _, out, _ = repo.run("plan")
    assert f"dataset content changed (md5 {md5_v1[:12]} -> md5 {md5_v2[:12]})" in out, out
    trains = sorted(a["model"] for a in repo.plan()["actions"] if a["kind"] == "train")
    assert trains == ["dvc-classifier", "dvc-classifier-2"]
    code, out = repo.apply()
    assert code == 0 and "2 trained" in out, out
    assert rows_trained(repo, "dvc-classifier", "2") == 120

    revert_rolls_back_without_training(repo, bump, "dvc-classifier", to="1")

    # A pointer whose md5 names bytes that are not what DVC's cache holds under it: refused.
    before = (repo.version_count(), repo.aliases())
    fake = hashlib.md5(b"not the data", usedforsecurity=False).hexdigest()
    stored = repo.path / ".dvc" / "cache" / "files" / "md5" / fake[:2] / fake[2:]
    stored.parent.mkdir(parents=True, exist_ok=True)
    write_iris(repo, 110)
    shutil.copyfile(repo.path / "data/iris.csv", stored)
    pointer = repo.path / "data/iris.csv.dvc"
    pointer.write_text(pointer.read_text().replace(md5_v1, fake))
    repo.commit("a pointer that does not match its data")
    code, out = repo.apply()
    assert code == 1 and "the data DVC holds does not match its pointer" in out, out
    assert (repo.version_count(), repo.aliases()) == before

    # A pointer to data nobody pushed: the remote does not have it.
    missing = hashlib.md5(b"never pushed", usedforsecurity=False).hexdigest()
    pointer.write_text(pointer.read_text().replace(fake, missing))
    repo.commit("a pointer to data never pushed")
    code, out = repo.apply()
    assert code == 1 and "is not in the DVC remote (was `dvc push` run?)" in out, out
    assert (repo.version_count(), repo.aliases()) == before


EXTERNAL = """kind: Dataset
name: iris-dvc
source:
  dvc: {path: iris.csv, repo: "REPO"}   # a data registry: another repository
target: target
split: {test_size: 0.3, seed: 7, stratify: true}
checks: {min_rows: 100}
"""


def test_a_file_of_another_dvc_repository_is_pinned_by_commit(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    data = make_data_registry(tmp_path / "data-registry", tmp_path / "registry-remote")
    first = data.git.head.commit.hexsha
    data.git.create_tag("v1")
    write_iris(data, 120, "iris.csv")
    dvc(data, "add", "-q", "iris.csv")
    dvc(data, "push", "-q")
    second = data.commit("120 rows")

    repo.write("specs/datasets/iris-dvc.yaml", EXTERNAL.replace("REPO", data.path.as_uri()))
    deploy(repo, "dvc-classifier", "iris-dvc")
    code, out, err = repo.run("validate")
    assert code == 1 and "source.dvc: rev is required with repo" in out, out
    code, out, err = repo.run_plain("pin", "iris-dvc", "--version", "v1", "--repo", str(repo.path))
    assert code == 0 and f"(unpinned) -> rev {first}" in out, out + err
    repo.commit("iris from the data registry, at v1")
    code, out = repo.apply()
    assert code == 0, out
    assert rows_trained(repo, "dvc-classifier", "1") == 150

    code, out, err = repo.run_plain("pin", "iris-dvc", "--latest", "--repo", str(repo.path))
    assert code == 0 and f"rev {first[:12]} -> rev {second}" in out, out + err
    bump = repo.commit("iris from the data registry, newest")
    _, out, _ = repo.run("plan")
    assert f"dataset content changed (rev {first[:12]} -> rev {second[:12]})" in out, out
    code, out = repo.apply()
    assert code == 0 and "1 trained" in out, out
    assert rows_trained(repo, "dvc-classifier", "2") == 120

    revert_rolls_back_without_training(repo, bump, "dvc-classifier", to="1")

    code, out, err = repo.run_plain("pin", "iris-dvc", "--version", "no-such-tag", "--repo", str(repo.path))
    assert code == 1 and "has no branch or tag 'no-such-tag'" in err, out + err


def make_data_registry(path: Path, remote: Path) -> Repo:
    data = make_repo(path, {"README.md": "a data registry\n"}, None)  # type: ignore[arg-type]  # never runs a command
    dvc(data, "init", "-q")
    dvc(data, "remote", "add", "-d", "store", str(remote))
    write_iris(data, 150, "iris.csv")
    dvc(data, "add", "-q", "iris.csv")
    dvc(data, "push", "-q")
    data.commit("iris, 150 rows")
    return data
