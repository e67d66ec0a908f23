"""A fit that would never end is stopped at its budget: that model fails with the reason and
every other model still reconciles."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import Repo

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

ENDLESS = """kind: Model
name: endless
dataset: iris
estimator:
  class: sklearn.linear_model.SGDClassifier
  params: {max_iter: 1000000000, tol: null}
metrics: [accuracy]
training: {max_seconds: 3}
"""


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_fit_past_its_budget_is_stopped_and_the_rest_converge(repo: Repo, jobs: str) -> None:
    repo.write("specs/models/endless.yaml", ENDLESS)
    repo.edit("environments/dev.yaml", "models:\n", "models:\n  endless: {}\n")
    repo.commit("SGD for a billion epochs: one long call into compiled code")
    code, out, _ = repo.run("validate")
    assert code == 0, out
    started = time.monotonic()
    code, out, err = repo.run("apply", "--jobs", jobs)
    elapsed = time.monotonic() - started
    assert code == 1, out + err
    assert elapsed < 120, "stopped at its budget, not after a billion epochs"
    assert "train dev/endless: training ran past its budget of 3 s and was stopped" in err
    assert "internal error" not in out + err
    aliases = repo.aliases()
    assert ("dev", "endless") not in aliases
    assert aliases[("production", "iris-classifier")] == "1" and aliases[("production", "wine-classifier")] == "1"


def test_the_budget_is_not_part_of_the_fingerprint(repo: Repo) -> None:
    assert repo.apply()[0] == 0
    repo.commit_edit("specs/models/iris-classifier.yaml", "seed: 42\n", "seed: 42\ntraining: {max_seconds: 60}\n")
    plan = repo.plan()
    assert [a for a in plan["actions"] if a["kind"] == "train"] == []
