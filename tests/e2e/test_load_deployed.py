"""What a consumer of the registry does (README "Load a deployed model"): load a version by its
environment's alias with plain MLflow and predict; and the dtype rule of the logged signature,
as the README states it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import make_repo

ROWS = "\n".join(f"{i % 7},{(i * 13) % 11 / 10},{int(i % 7 > 3)}" for i in range(60))
FILES = {
    ".gitignore": ".reconciler/\n",
    "data/counts.csv": "visits,score,churn\n" + ROWS + "\n",
    "specs/data.yaml": "kind: Dataset\nname: counts\nsource: {csv: data/counts.csv}\ntarget: churn\n",
    "specs/model.yaml": (
        "kind: Model\nname: churn\ndataset: counts\nestimator: {class: sklearn.tree.DecisionTreeClassifier}\n"
        "seed: 1\nmetrics: [accuracy]\n"
    ),
    "environments/production.yaml": "kind: Environment\nname: production\nmodels:\n  churn: {}\n",
}


def test_a_consumer_loads_the_production_alias_and_the_signature_types_hold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow
    import pandas as pd
    from mlflow.exceptions import MlflowException

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    repo = make_repo(tmp_path / "r", FILES, capsys)
    assert repo.apply()[0] == 0
    mlflow.set_tracking_uri(repo.uri)
    model = mlflow.pyfunc.load_model("models:/churn@production")
    inputs = {i.name: str(i.type) for i in model.metadata.get_input_schema().inputs}
    assert inputs == {"visits": "DataType.long", "score": "DataType.double"}
    predicted = model.predict(pd.DataFrame({"visits": [1, 6], "score": [0.5, 0.2]}))
    assert list(predicted) == [0, 1]
    # An integer column logged as `long` refuses floats (MLflow will not narrow 6.0 to 6)...
    with pytest.raises(MlflowException, match="visits"):
        model.predict(pd.DataFrame({"visits": [1.0, 6.0], "score": [0.5, 0.2]}))
    # ...while a `double` column takes integers (widening is safe).
    assert len(model.predict(pd.DataFrame({"visits": [1, 6], "score": [1, 0]}))) == 2
