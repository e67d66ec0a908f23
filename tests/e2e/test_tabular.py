"""Real tabular data beyond the example: declared feature types (checked against the data;
categories reach HistGradientBoosting as pandas categories), and ensembles from specs, trained
and loaded back by alias."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reconciler.cli import main
from tests.conftest import copy_examples, git_commit_all

TYPED = """kind: Dataset
name: tumours-typed
source: {csv: data/breast-cancer-mixed.csv}
target: target
features:
  - mean radius
  - mean perimeter
  - mean smoothness
  - mean concavity
  - {name: size band, type: category}
  - {name: texture grade, type: category}
split: {test_size: 0.25, seed: 3, stratify: true}
"""
NATIVE = """kind: Model
name: tumour-native
owner: ml-platform
dataset: tumours-typed
estimator:
  class: sklearn.ensemble.HistGradientBoostingClassifier
  params: {categorical_features: from_dtype, max_iter: 50}
metrics: [accuracy]
"""
VOTING = """kind: Model
name: wine-vote
owner: ml-platform
dataset: wine
estimator:
  class: sklearn.ensemble.VotingClassifier
  params:
    voting: soft
    estimators:
      - {name: nb, class: sklearn.naive_bayes.GaussianNB}
      - name: scaled
        class: sklearn.pipeline.Pipeline
        steps:
          - {name: scale, class: sklearn.preprocessing.StandardScaler}
          - {name: lr, class: sklearn.linear_model.LogisticRegression, params: {max_iter: 1000}}
metrics: [accuracy]
"""
STACKING = """kind: Model
name: diabetes-stack
owner: ml-platform
dataset: diabetes
estimator:
  class: sklearn.ensemble.StackingRegressor
  params:
    estimators:
      - {name: ridge, class: sklearn.linear_model.Ridge}
      - {name: tree, class: sklearn.tree.DecisionTreeRegressor, params: {max_depth: 4}}
    final_estimator: {class: sklearn.linear_model.LinearRegression}
metrics: [r2]
"""


def test_declared_categories_and_ensembles_train_and_load_by_alias(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import mlflow

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    repo = copy_examples(tmp_path / "repo")
    for rel, text in {
        "specs/datasets/tumours-typed.yaml": TYPED,
        "specs/models/tumour-native.yaml": NATIVE,
        "specs/models/wine-vote.yaml": VOTING,
        "specs/models/diabetes-stack.yaml": STACKING,
    }.items():
        (repo / rel).write_text(text)
    dev = repo / "environments" / "dev.yaml"
    dev.write_text(dev.read_text() + "  tumour-native: {}\n  wine-vote: {}\n  diabetes-stack: {}\n")
    git_commit_all(repo, "typed features and ensembles")
    code = main(["apply", str(repo), "--env", "dev"])
    assert code == 0, capsys.readouterr()

    mlflow.set_tracking_uri(f"sqlite:///{repo / '.reconciler' / 'mlflow.db'}")
    raw = pd.read_csv(repo / "data" / "breast-cancer-mixed.csv")
    rows = raw[raw["size band"].notna()].head(40)[
        ["mean radius", "mean perimeter", "mean smoothness", "mean concavity", "size band", "texture grade"]
    ]
    native = mlflow.pyfunc.load_model("models:/tumour-native@dev")
    assert {c.name: c.type.name for c in native.metadata.get_input_schema().inputs}["size band"] == "string"
    predicted = np.asarray(native.predict(rows))  # text as callers send it
    assert (predicted == raw.loc[rows.index, "target"].to_numpy()).mean() > 0.85
    for model, dataset in (("wine-vote", "load_wine"), ("diabetes-stack", "load_diabetes")):
        from sklearn import datasets

        frame = getattr(datasets, dataset)(as_frame=True).frame.drop(columns="target").head(5)
        assert len(mlflow.pyfunc.load_model(f"models:/{model}@dev").predict(frame)) == 5

    # A declared type the data does not have: a positioned contract error at validate.
    (repo / "specs/datasets/tumours-typed.yaml").write_text(
        TYPED.replace("- mean radius", "- {name: mean radius, type: category}")
    )
    capsys.readouterr()
    assert main(["validate", str(repo)]) == 1
    out = capsys.readouterr().out
    assert (
        "specs/datasets/tumours-typed.yaml:6:31: data contract: feature 'mean radius' is declared category "
        "but holds float64" in out
    ), out


def test_text_in_data_outside_git_is_caught_when_the_plan_first_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Validate cannot read a Delta table's columns without loading it; the plan apply makes
    does, and blocks the model with the same words before anything trains."""
    from deltalake import write_deltalake

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    repo = copy_examples(tmp_path / "repo")
    write_deltalake(str(repo / "data" / "lake"), pd.read_csv(repo / "data" / "breast-cancer-mixed.csv"))
    (repo / "specs/datasets/lake.yaml").write_text(
        "kind: Dataset\nname: lake\nsource: {delta: {path: data/lake, version: 0}}\ntarget: target\n"
    )
    (repo / "specs/models/lake-plain.yaml").write_text(
        "kind: Model\nname: lake-plain\nowner: ml-platform\ndataset: lake\n"
        "estimator: {class: sklearn.linear_model.LogisticRegression}\nmetrics: [accuracy]\n"
    )
    dev = repo / "environments" / "dev.yaml"
    dev.write_text(dev.read_text() + "  lake-plain: {}\n")
    (repo / ".gitignore").write_text(".reconciler/\ndata/lake/\n")
    git_commit_all(repo, "a Delta table with text, a plain model")
    capsys.readouterr()
    assert main(["validate", str(repo)]) == 0
    assert main(["plan", str(repo), "--env", "dev"]) == 1
    out = capsys.readouterr().out
    assert "lake-plain" in out and "LogisticRegression needs numbers, but dataset 'lake' has text in 'size band'" in out
