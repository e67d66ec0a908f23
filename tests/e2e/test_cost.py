"""Cost per version: recorded at training, shown per environment beside the version replaced."""

from __future__ import annotations

import json

from tests.e2e.conftest import Repo


def test_status_cost_shows_each_deployed_version_beside_the_previous(repo: Repo) -> None:
    assert repo.apply()[0] == 0
    mv = repo.client().get_model_version("iris-classifier", "1")
    for key in ("training_seconds", "model_size_kb", "predict_p50_us_per_row", "predict_p95_us_per_row"):
        assert float(mv.tags[f"reconciler.metric.cost.{key}"]) > 0

    repo.edit("specs/models/iris-classifier.yaml", "C: 1.0", "C: 0.5")
    repo.commit("iris C 0.5")
    assert repo.apply()[0] == 0
    code, out, _ = repo.run("status", "--cost", "--format", "json")
    assert code == 0
    rows = {(r["environment"], r["model"]): r for r in json.loads(out)}
    iris = rows[("production", "iris-classifier")]
    assert (iris["version"], iris["previous"]) == ("v2", "v1")
    assert iris["costs"]["cost.model_size_kb"] > 0 and iris["before"]["cost.model_size_kb"] > 0
    wine = rows[("production", "wine-classifier")]
    assert (wine["version"], wine["previous"]) == ("v1", "-")

    code, out, _ = repo.run("status", "--cost")
    line = next(li for li in out.splitlines() if li.startswith("production") and "iris-classifier" in li)
    assert "v2" in line and "v1" in line and "%" in line, line
