from __future__ import annotations

from reconciler.spec.loader import load_repo
from reconciler.spec.resolve import deep_merge
from tests.conftest import ROOT


def test_mappings_merge_and_scalars_replace() -> None:
    base = {"estimator": {"class": "A", "params": {"C": 1.0, "max_iter": 5}}, "seed": 1}
    patch = {"estimator": {"params": {"C": 0.5}}, "seed": 2}
    assert deep_merge(base, patch) == {"estimator": {"class": "A", "params": {"C": 0.5, "max_iter": 5}}, "seed": 2}
    assert base["estimator"]["params"]["C"] == 1.0, "the base is not mutated"


def test_named_lists_merge_by_name_and_others_replace() -> None:
    steps = [{"name": "scale", "class": "S"}, {"name": "clf", "class": "C", "params": {"C": 1}}]
    patch = [{"name": "clf", "params": {"C": 2}}, {"name": "extra", "class": "E"}]
    assert deep_merge(steps, patch) == [
        {"name": "scale", "class": "S"},
        {"name": "clf", "class": "C", "params": {"C": 2}},
        {"name": "extra", "class": "E"},
    ]
    assert deep_merge(["accuracy"], ["r2"]) == ["r2"]
    assert deep_merge({"a": 1}, {"a": None}) == {"a": None}, "null is a value (sklearn uses None), not a deletion"


def test_example_environments_resolve_in_promotion_order() -> None:
    desired = load_repo(ROOT).desired
    assert desired.environment_order == ("dev", "staging", "production")
    assert len(desired.resolved) == 15
    prod = desired.resolved[("production", "breast-cancer-classifier")]
    assert prod.model.estimator.params == {"n_estimators": 50, "max_depth": 4}
    assert [g.name for g in prod.gates] == ["classification-quality"]
    assert desired.resolved[("dev", "breast-cancer-classifier")].model.estimator.params["max_depth"] == 6
