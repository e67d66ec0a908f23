"""Data files that are not data: a sparse file claiming gigabytes fails its own model, clearly,
and every other model still reconciles."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Repo

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

BIG = """kind: Dataset
name: big
source: {csv: data/big.csv}
target: y
"""
BIG_MODEL = """kind: Model
name: big-classifier
dataset: big
estimator: {class: sklearn.linear_model.LogisticRegression}
metrics: [accuracy]
"""


def test_a_sparse_multi_gigabyte_csv_fails_its_model_only(repo: Repo) -> None:
    repo.write("specs/datasets/big.yaml", BIG)
    repo.write("specs/models/big-classifier.yaml", BIG_MODEL)
    repo.edit(
        "environments/dev.yaml",
        "  wine-classifier: {gates: [quality]}\n",
        "  wine-classifier: {gates: [quality]}\n  big-classifier: {}\n",
    )
    (repo.path / "data").mkdir()
    with (repo.path / "data" / "big.csv").open("wb") as fh:
        fh.write(b"a,y\n1,0\n")
        fh.truncate(4 * 1024**3)
    # Ignored, as a big file kept out of git is: committing it would make git read 4 GB of
    # zeros (a minute of this suite) for nothing the test checks.
    repo.write(".gitignore", ".reconciler/\ndata/big.csv\n")
    repo.commit("a 4 GB CSV that costs nothing on disk, kept out of git")
    code, out, err = repo.run("apply")
    assert code == 1, out + err
    assert "data/big.csv" in out + err and "over the limit" in out + err
    assert "internal error" not in out + err and "MemoryError" not in out + err
    aliases = repo.aliases()
    assert ("dev", "iris-classifier") in aliases and ("production", "wine-classifier") in aliases
    assert ("dev", "big-classifier") not in aliases
