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
from reconciler.spec.kinds import Estimator


def _make(path: str, params: Mapping[str, Any], seed: int, catalog: Catalog) -> Any:
    info = catalog.estimators.get(path)
    # Defence in depth: specs were validated, but nothing outside the allowlist is ever imported.
    if info is None or not path.startswith("sklearn."):
        raise ReconcilerError(f"'{path}' is not an allowed scikit-learn estimator")
    module, name = path.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)
    kwargs = dict(params)
    if "random_state" in info.params and "random_state" not in kwargs:
        kwargs["random_state"] = seed
    return cls(**kwargs)


def build_estimator(est: Estimator, seed: int, catalog: Catalog) -> Any:
    if est.class_ == PIPELINE:
        from sklearn.pipeline import Pipeline

        steps = [(s.name, _make(s.class_, s.params, seed, catalog)) for s in est.steps or ()]
        return Pipeline(steps, **est.params)
    return _make(est.class_, est.params, seed, catalog)


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
