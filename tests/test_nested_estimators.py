"""Estimators nested in parameters, as data: checked as a tree (pure, on the catalog), and built
only once the whole tree is known to be on the allowlist."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from reconciler.spec.catalog import load_catalog
from reconciler.spec.estimators import MAX_DEPTH, check_estimator, nested_classes
from reconciler.spec.kinds import Estimator
from tests.conftest import ROOT


def chain(levels: int) -> dict[str, Any]:
    """Bagging of Bagging of ... of a tree: `levels` estimators below the top one."""
    node: dict[str, Any] = {"class": "sklearn.tree.DecisionTreeClassifier"}
    for _ in range(levels):
        node = {"class": "sklearn.ensemble.BaggingClassifier", "params": {"estimator": node}}
    return node


def problems(tree: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    return [
        (p.path, p.message) for p in check_estimator(Estimator.model_validate(tree), ("estimator",), load_catalog())
    ]


@pytest.mark.parametrize("levels", range(1, MAX_DEPTH + 3))
def test_the_depth_bound_is_exact(levels: int) -> None:
    found = problems(chain(levels))
    too_deep = [m for _, m in found if "nest at most" in m]
    assert bool(too_deep) == (levels > MAX_DEPTH), found
    assert max(depth for _, depth in nested_classes(chain(levels))) == levels


def test_a_class_outside_the_allowlist_at_depth_three_is_refused_where_it_is_written() -> None:
    tree = chain(2)
    tree["params"]["estimator"]["params"]["estimator"] = {"class": "subprocess.Popen", "params": {"args": "sh"}}
    ((path, message),) = problems(tree)
    assert path == ("estimator", "params", "estimator", "params", "estimator", "class")
    assert "'subprocess.Popen' is not allowed" in message


def test_ensembles_and_column_transformers_that_are_right_have_no_problems() -> None:
    stacking = {
        "class": "sklearn.ensemble.StackingRegressor",
        "params": {
            "estimators": [
                {"name": "ridge", "class": "sklearn.linear_model.Ridge", "params": {"alpha": 0.5}},
                {"name": "tree", "class": "sklearn.tree.DecisionTreeRegressor", "params": {"max_depth": 3}},
            ],
            "final_estimator": {"class": "sklearn.linear_model.LinearRegression"},
        },
    }
    assert problems(stacking) == []
    pipeline = {
        "class": "sklearn.pipeline.Pipeline",
        "steps": [
            {
                "name": "prep",
                "class": "sklearn.compose.ColumnTransformer",
                "params": {
                    "transformers": [
                        {"name": "cat", "class": "sklearn.preprocessing.OneHotEncoder", "columns": ["contract"]},
                        {
                            "name": "num",
                            "class": "sklearn.pipeline.Pipeline",
                            "steps": [
                                {
                                    "name": "fill",
                                    "class": "sklearn.impute.SimpleImputer",
                                    "params": {"strategy": "median"},
                                },
                                {"name": "scale", "class": "sklearn.preprocessing.StandardScaler"},
                            ],
                            "columns": {"dtype_include": ["number"]},
                        },
                        {"name": "ids", "class": "drop", "columns": {"pattern": "^id_"}},
                    ],
                    "remainder": "passthrough",
                },
            },
            {"name": "model", "class": "sklearn.linear_model.LogisticRegression"},
        ],
    }
    assert problems(pipeline) == []


def test_nothing_is_imported_before_the_whole_tree_is_checked() -> None:
    """A tree that was never validated (a hand-made Estimator): the trainer refuses it before
    importing even the allowed classes listed before the bad one."""
    script = """
import sys
from reconciler.apply.train import build_estimator
from reconciler.diagnostics import ReconcilerError
from reconciler.spec.catalog import load_catalog
from reconciler.spec.kinds import Estimator
tree = {"class": "sklearn.ensemble.VotingClassifier", "params": {"estimators": [
    {"name": "nb", "class": "sklearn.naive_bayes.GaussianNB"},
    {"name": "x", "class": "sklearn.ensemble.BaggingClassifier", "params": {"estimator": {"class": "os.system"}}}]}}
try:
    build_estimator(Estimator.model_validate(tree), 0, load_catalog())
except ReconcilerError as exc:
    print(exc)
print(sorted(m for m in sys.modules if m in ("sklearn.naive_bayes", "sklearn.ensemble")))
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["'os.system' is not an allowed scikit-learn estimator", "[]"]


# --- text columns followed through the estimator (reconciler.spec.encoding) ---


def test_text_columns_are_followed_to_what_receives_them() -> None:
    from reconciler.spec.encoding import unencoded

    kinds = {"contract": "string", "region": "category"}
    plain = {"class": "sklearn.linear_model.LogisticRegression"}
    assert [u.column for u in unencoded(plain, kinds)] == ["contract", "region"]

    def prep(transformers: list[dict[str, Any]], remainder: Any = "drop") -> dict[str, Any]:
        return {
            "class": "sklearn.pipeline.Pipeline",
            "steps": [
                {
                    "name": "prep",
                    "class": "sklearn.compose.ColumnTransformer",
                    "params": {"transformers": transformers, "remainder": remainder},
                },
                {"name": "model", "class": "sklearn.linear_model.LogisticRegression"},
            ],
        }

    onehot = {"class": "sklearn.preprocessing.OneHotEncoder"}
    by_name = prep([{"name": "c", **onehot, "columns": ["contract"]}], remainder="passthrough")
    assert [(u.column, u.reaches) for u in unencoded(by_name, kinds)] == [
        ("region", "sklearn.linear_model.LogisticRegression")
    ]
    by_dtype = prep([{"name": "c", **onehot, "columns": {"dtype_include": ["object", "category"]}}], "passthrough")
    assert unencoded(by_dtype, kinds) == []
    scaled = prep([{"name": "s", "class": "sklearn.preprocessing.StandardScaler", "columns": ["contract"]}])
    assert [(u.column, u.reaches) for u in unencoded(scaled, kinds)] == [
        ("contract", "sklearn.preprocessing.StandardScaler")
    ]
    imputed = prep(
        [
            {
                "name": "c",
                "class": "sklearn.pipeline.Pipeline",
                "columns": ["contract", "region"],
                "steps": [
                    {"name": "fill", "class": "sklearn.impute.SimpleImputer", "params": {"strategy": "most_frequent"}},
                    {"name": "code", "class": "sklearn.preprocessing.OrdinalEncoder"},
                ],
            }
        ]
    )
    assert unencoded(imputed, kinds) == []
    assert unencoded(prep([]), kinds) == [], "the default remainder drops them"
    native = {
        "class": "sklearn.ensemble.HistGradientBoostingClassifier",
        "params": {"categorical_features": "from_dtype"},
    }
    assert unencoded(native, {"region": "category"}) == [], "pandas categories are native to it"
    assert [u.column for u in unencoded(native, kinds)] == ["contract", "region"], "plain text is not"


def test_the_tabular_example_is_what_its_script_makes() -> None:
    """data/breast-cancer-mixed.csv is generated, not hand-edited: the script gives the same bytes."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "make_tabular_example.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
