"""What the scenarios of data kept outside git (test_external_*.py) share: iris at a given size,
a model on a dataset deployed to dev, the rows a version was trained on (from its MLflow dataset
inputs), and a revert that must roll back without training."""

from __future__ import annotations

import json
from typing import Any

from tests.e2e.conftest import Repo

MODEL = """kind: Model
name: {name}
dataset: {dataset}
estimator:
  class: sklearn.linear_model.LogisticRegression
  params: {{C: {c}, max_iter: 500}}
metrics: [accuracy]
"""


def iris(rows: int) -> Any:
    """Iris, or a seeded sample of it: another version of the same data."""
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame
    return frame.sample(n=rows, random_state=1).reset_index(drop=True) if rows < len(frame) else frame


def deploy(repo: Repo, name: str, dataset: str, c: float = 1.0) -> None:
    """Model `name` on `dataset`, deployed to dev after the models already there."""
    repo.write(f"specs/models/{name}.yaml", MODEL.format(name=name, dataset=dataset, c=c))
    text = (repo.path / "environments/dev.yaml").read_text()
    repo.write("environments/dev.yaml", text.rstrip("\n") + f"\n  {name}: {{gates: [quality]}}\n")


def rows_trained(repo: Repo, model: str, version: str) -> int:
    client = repo.client()
    run = client.get_run(client.get_model_version(model, version).run_id)
    return sum(json.loads(d.dataset.profile)["num_rows"] for d in run.inputs.dataset_inputs)


def revert_rolls_back_without_training(repo: Repo, bump: str, model: str, to: str) -> None:
    versions = repo.version_count()
    repo.revert(bump)
    code, out = repo.apply()
    assert code == 0, out
    assert repo.version_count() == versions, "a revert trains nothing"
    assert repo.aliases()[("dev", model)] == to
