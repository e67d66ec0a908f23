from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.spec import catalog as cat
from reconciler.spec.catalog import Constraint, load_catalog


def test_shipped_catalog_matches_installed_sklearn() -> None:
    shipped = json.loads(cat.SHIPPED.read_text())
    built = cat.build_catalog()
    if shipped["sklearn_version"] != built["sklearn_version"]:
        pytest.skip(f"shipped catalog is for scikit-learn {shipped['sklearn_version']}; the cache covers others")
    assert shipped == built, "run `python -m reconciler.spec.catalog` to regenerate the shipped catalog"


def test_catalog_refuses_non_estimators_and_knows_kinds() -> None:
    c = load_catalog()
    assert c.estimators["sklearn.linear_model.LogisticRegression"].kind == "classifier"
    assert c.estimators["sklearn.linear_model.Ridge"].kind == "regressor"
    assert c.estimators["sklearn.preprocessing.StandardScaler"].kind == "transformer"
    assert all(path.startswith("sklearn.") for path in c.estimators)
    assert not any("._" in path for path in c.estimators), "only public import paths"
    # Needs another estimator as an argument: cannot be built from data, so not allowed.
    assert "sklearn.ensemble.StackingClassifier" not in c.estimators
    assert {"accuracy", "f1_macro", "r2", "roc_auc"} <= set(c.scorers)
    assert c.datasets["load_iris"].rows == 150 and c.datasets["load_diabetes"].task == "regression"


def test_catalog_for_another_sklearn_version_is_built_and_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(cat, "installed_sklearn_version", lambda: "0.0-other")
    cat.load_catalog.cache_clear()
    try:
        built = cat.load_catalog()
        assert "sklearn.linear_model.LogisticRegression" in built.estimators
        assert len(list((tmp_path / "reconciler").glob("sklearn-catalog-*-0.0-other.json"))) == 1

        def no_rebuild() -> None:
            raise AssertionError("the cached catalog should have been used")

        monkeypatch.setattr(cat, "build_catalog", no_rebuild)
        cat.load_catalog.cache_clear()
        assert cat.load_catalog().estimators.keys() == built.estimators.keys()
    finally:
        cat.load_catalog.cache_clear()


@pytest.mark.parametrize(
    ("constraint", "good", "bad"),
    [
        (
            Constraint("interval", "", number="real", left=0, right=None, closed="right"),
            [0.5, 1, 1e9],
            [0, -1, True, "1"],
        ),
        (Constraint("interval", "", number="int", left=1, right=10, closed="both"), [1, 10], [0, 11, 1.5, False]),
        (Constraint("interval", "", number="real_not_int", left=0, right=1, closed="neither"), [0.5], [1, 0.0, 1.0]),
        (Constraint("options", "", values=("l1", "l2")), ["l1"], ["l3", None, 1]),
        (Constraint("bool", ""), [True, False], [0, 1, "true"]),
        (Constraint("null", ""), [None], [0, ""]),
        (Constraint("int", ""), [3], [3.0, True]),
    ],
)
def test_constraints(constraint: Constraint, good: list[object], bad: list[object]) -> None:
    assert all(constraint.accepts(v) for v in good)
    assert not any(constraint.accepts(v) for v in bad)


def test_every_parameter_that_reaches_the_file_system_is_refused() -> None:
    """Parameters that make scikit-learn open, write or unpickle files are refused for every
    estimator that has them; a new scikit-learn adding one (an option naming files, a `memory`)
    fails here until the rule covers it."""
    from reconciler.spec.semantics import UNSAFE_PARAMS, check_params

    c = load_catalog()
    file_options = {"filename", "file"}
    seen: set[str] = set()
    for info in c.estimators.values():
        for name in info.params:
            options = {v for con in info.constraints.get(name, ()) if con.kind == "options" for v in con.values}
            if name == "memory" or options & file_options:
                assert name in UNSAFE_PARAMS, f"{info.path}.{name} can reach files and is not refused"
                seen.add(name)
                if info.path == cat.PIPELINE:
                    continue  # a Pipeline takes only `verbose` (checked with its steps)
                bad = "filename" if options & file_options else "cache"
                problems = list(check_params({name: bad}, info, ("params",)))
                assert problems and "only" in problems[0].message, (info.path, name)
    assert seen == set(UNSAFE_PARAMS), "every refusal matches a parameter the catalog has"
