"""Build an allowlisted scikit-learn estimator from a spec, fit it, score it."""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
from collections.abc import Mapping
from typing import Any

from reconciler.data.frames import Split
from reconciler.diagnostics import ReconcilerError
from reconciler.rules.scoring import score as score
from reconciler.spec.catalog import PIPELINE, Catalog
from reconciler.spec.estimators import MAX_DEPTH, PASSTHROUGH, is_nested, nested_classes
from reconciler.spec.kinds import Estimator


def _make(path: str, params: Mapping[str, Any], seed: int, catalog: Catalog) -> Any:
    info = catalog.estimators[path]
    module, name = path.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)
    kwargs = {
        key: _nested(info.nested[key], value, seed, catalog) if key in info.nested and is_nested(value) else value
        for key, value in params.items()
    }
    if "random_state" in info.params and "random_state" not in kwargs:
        kwargs["random_state"] = seed
    return cls(**kwargs)


def _node(node: Mapping[str, Any], seed: int, catalog: Catalog) -> Any:
    """An estimator from its spec as data: `{class, params}`, or a Pipeline's `{class, steps}`."""
    if node["class"] == PIPELINE:
        from sklearn.pipeline import Pipeline

        steps = [(step["name"], _node(step, seed, catalog)) for step in node["steps"]]
        return Pipeline(steps, **node.get("params", {}))
    return _make(node["class"], node.get("params", {}), seed, catalog)


def _nested(form: str, value: Any, seed: int, catalog: Catalog) -> Any:
    if form == "one":
        return _node(value, seed, catalog)
    if form == "named":
        return [(item["name"], _node(item, seed, catalog)) for item in value]
    return [  # a ColumnTransformer's (name, transformer, columns)
        (
            item["name"],
            item["class"] if item["class"] in PASSTHROUGH else _node(item, seed, catalog),
            _columns(item["columns"]),
        )
        for item in value
    ]


def _columns(spec: Any) -> Any:
    if isinstance(spec, list):
        return list(spec)
    from sklearn.compose import make_column_selector

    return make_column_selector(**spec)


def check_allowed(est: Estimator, catalog: Catalog) -> None:
    """Defence in depth: specs were validated, but nothing outside the allowlist is ever
    imported, at any depth, and the whole tree is checked before the first import."""
    tree = est.model_dump(by_alias=True, mode="json")
    for path, depth in nested_classes(tree):
        if depth > MAX_DEPTH:
            raise ReconcilerError(f"estimators nest at most {MAX_DEPTH} levels deep")
        if path in PASSTHROUGH:
            continue
        if path not in catalog.estimators or not path.startswith("sklearn."):
            raise ReconcilerError(f"'{path}' is not an allowed scikit-learn estimator")


def build_estimator(est: Estimator, seed: int, catalog: Catalog) -> Any:
    check_allowed(est, catalog)
    return _node(est.model_dump(by_alias=True, mode="json"), seed, catalog)


def task_of(estimator: Any) -> str:
    from sklearn.base import is_classifier

    return "classification" if is_classifier(estimator) else "regression"


def fit(est: Estimator, seed: int, data: Split, catalog: Catalog) -> Any:
    estimator = build_estimator(est, seed, catalog)
    estimator.fit(data.x_train, data.y_train)
    return estimator


def flat_params(est: Estimator) -> dict[str, Any]:
    out: dict[str, Any] = {"estimator.class": est.class_}
    for key, value in est.params.items():
        out[f"estimator.params.{key}"] = value
    for step in est.steps or ():
        out[f"estimator.steps.{step.name}.class"] = step.class_
        for key, value in step.params.items():
            out[f"estimator.steps.{step.name}.params.{key}"] = value
    return out


@functools.cache
def pip_requirements() -> tuple[str, ...]:
    """Given explicitly: MLflow's inference of requirements costs over 2 s per model. Read once
    per process: each lookup parses package metadata from disk."""
    pins = []
    for dist in ("scikit-learn", "numpy", "pandas", "scipy", "skops"):
        try:
            pins.append(f"{dist}=={importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return tuple(pins)
