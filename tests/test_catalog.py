from __future__ import annotations

import json
import subprocess
import sys

import pytest

from reconciler.spec import catalog as cat
from reconciler.spec.catalog import Constraint, load_catalog
from tests.conftest import ROOT


def test_shipped_catalog_matches_installed_sklearn() -> None:
    """The build script, run on the installed scikit-learn, gives exactly the shipped file."""
    version = cat.installed_sklearn_version()
    assert version is not None
    major, minor = version.split(".")[:2]
    path = cat.CATALOGS / f"sklearn-{major}.{minor}.json"
    assert path.is_file(), f"no catalog for the installed scikit-learn {version}: run tools/build_catalog.py"
    built = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "build_catalog.py"), "--print"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    shipped = json.loads(path.read_text())
    assert json.loads(built)["sklearn_version"].split(".")[:2] == [major, minor]
    assert {k: v for k, v in json.loads(built).items() if k != "sklearn_version"} == {
        k: v for k, v in shipped.items() if k != "sklearn_version"
    }, "run `python tools/build_catalog.py` to regenerate it"


def test_every_supported_minor_version_has_a_catalog() -> None:
    """pyproject's scikit-learn range starts at the oldest catalog: an install can never get a
    version older than every catalog."""
    minors = list(cat.shipped())
    assert minors[0] == (1, 5) and minors == sorted(minors)
    assert all(json.loads(p.read_text())["format"] == cat.CATALOG_FORMAT for p in cat.shipped().values())
    assert '"scikit-learn>=1.5,' in (ROOT / "pyproject.toml").read_text()


def test_catalog_refuses_non_estimators_and_knows_kinds() -> None:
    c = load_catalog()
    assert c.estimators["sklearn.linear_model.LogisticRegression"].kind == "classifier"
    assert c.estimators["sklearn.linear_model.Ridge"].kind == "regressor"
    assert c.estimators["sklearn.preprocessing.StandardScaler"].kind == "transformer"
    assert all(path.startswith("sklearn.") for path in c.estimators)
    assert not any("._" in path for path in c.estimators), "only public import paths"
    # Estimators that take estimators are allowed: those are given as nested specs (data).
    stacking = c.estimators["sklearn.ensemble.StackingClassifier"]
    assert stacking.kind == "classifier" and stacking.nested == {"estimators": "named", "final_estimator": "one"}
    assert c.estimators["sklearn.compose.ColumnTransformer"].nested == {"remainder": "one", "transformers": "columns"}
    # A required argument that is not an estimator (a parameter grid) cannot come from a spec.
    assert "sklearn.model_selection.GridSearchCV" not in c.estimators
    assert {"accuracy", "f1_macro", "r2", "roc_auc"} <= set(c.scorers)
    assert c.datasets["load_iris"].rows == 150 and c.datasets["load_diabetes"].task == "regression"


@pytest.mark.parametrize(
    ("installed", "used"),
    [("1.9.1", (1, 9)), ("1.9.0", (1, 9)), ("1.6.2", (1, 6)), ("1.99.0", (1, 9)), ("1.2.0", (1, 5)), (None, (1, 9))],
)
def test_the_catalog_is_the_installed_minor_versions_else_the_nearest_older(
    installed: str | None, used: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cat._minor(cat.catalog_for(installed).stem.removeprefix("sklearn-")) == used
    monkeypatch.setattr(cat, "installed_sklearn_version", lambda: installed)
    cat.load_catalog.cache_clear()
    try:
        loaded = cat.load_catalog()
        same = installed is None or cat._minor(installed) == used
        assert (loaded.note == "") == same
        if not same:
            assert f"scikit-learn {installed} is installed" in loaded.note
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


@pytest.mark.parametrize("minor", list(cat.shipped()), ids=lambda m: f"sklearn-{m[0]}.{m[1]}")
def test_every_parameter_that_reaches_the_file_system_is_refused(minor: tuple[int, int]) -> None:
    """Parameters that make scikit-learn open, write or unpickle files are refused for every
    estimator that has them, in every scikit-learn the reconciler ships a catalog for; a new
    scikit-learn adding one (an option naming files, a `memory`) fails here until the rule
    covers it."""
    from reconciler.spec.semantics import UNSAFE_PARAMS, check_params

    c = cat._from_json(json.loads(cat.shipped()[minor].read_text()))
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
