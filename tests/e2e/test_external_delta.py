"""A Dataset that is a Delta Lake table on disk (kept out of git), pinned by table version:
writes to the table train nothing, moving the pin retrains its models only, a revert rolls back
without training, and a version in the future is refused with its position."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Repo
from tests.e2e.external_data import deploy, iris, revert_rolls_back_without_training, rows_trained

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

DATASET = """kind: Dataset
name: iris-delta
source:
  delta: {path: data/iris-delta, version: 0}   # the table itself is not in git
target: target
split: {test_size: 0.3, seed: 7, stratify: true}
checks: {min_rows: 100}
"""


def write_version(repo: Repo, rows: int) -> None:
    from deltalake import write_deltalake

    write_deltalake(str(repo.path / "data" / "iris-delta"), iris(rows), mode="overwrite")


def test_a_delta_version_trains_and_only_a_pin_change_retrains(repo: Repo) -> None:
    write_version(repo, 150)
    repo.write("specs/datasets/iris-delta.yaml", DATASET)
    deploy(repo, "delta-classifier", "iris-delta")
    repo.write(".gitignore", ".reconciler/\ndata/iris-delta/\n")
    repo.commit("iris as a Delta table at version 0")
    code, out = repo.apply()
    assert code == 0, out
    version = repo.client().get_model_version("delta-classifier", "1")
    assert version.tags["reconciler.dataset_source"] == "delta:data/iris-delta@v0"
    assert rows_trained(repo, "delta-classifier", "1") == 150

    write_version(repo, 120)  # version 1 of the table: written, not pinned
    assert {a["kind"] for a in repo.plan()["actions"]} == {"noop"}
    # A new model on the same pin reads version 0, not what the table holds now.
    deploy(repo, "delta-classifier-2", "iris-delta", c=0.5)
    repo.commit("a second model on iris-delta")
    code, out = repo.apply()
    assert code == 0 and "1 trained" in out, out
    assert rows_trained(repo, "delta-classifier-2", "1") == 150

    code, out, err = repo.run_plain("pin", "iris-delta", "--repo", str(repo.path))
    assert code == 0 and "iris-delta: version 0 -> version 1 (120 rows, contract passed)" in out, out + err
    spec = (repo.path / "specs/datasets/iris-delta.yaml").read_text()
    assert "delta: {path: data/iris-delta, version: 1}   # the table itself is not in git" in spec
    bump = repo.commit("iris-delta: version 1")
    code, out, err = repo.run("plan")
    assert "dataset content changed (version 0 -> version 1)" in out, out
    assert "dataset.source.delta.version: 0 -> 1" in out, out
    trains = sorted(a["model"] for a in repo.plan()["actions"] if a["kind"] == "train")
    assert trains == ["delta-classifier", "delta-classifier-2"]
    code, out = repo.apply()
    assert code == 0 and "2 trained" in out, out
    assert rows_trained(repo, "delta-classifier", "2") == 120

    revert_rolls_back_without_training(repo, bump, "delta-classifier", to="1")

    # A version the table has not reached: refused at validate, where it is written.
    before = (repo.version_count(), repo.aliases())
    repo.edit("specs/datasets/iris-delta.yaml", "version: 0}", "version: 9}")
    code, out, err = repo.run("validate")
    assert code == 1
    where = "specs/datasets/iris-delta.yaml:4:43: source.delta.version"
    assert f"{where}: version 9 of 'data/iris-delta' is in the future: the table is at version 1" in out
    repo.commit("a version in the future")
    code, out = repo.apply()
    assert code == 1 and "is in the future: the table is at version 1" in out, out
    assert (repo.version_count(), repo.aliases()) == before
