"""Checks on one object that need knowledge beyond its schema: the scikit-learn catalog and
the repository's files. Every check returns problems with paths; nothing here raises."""

from __future__ import annotations

import math
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

from reconciler.rules import rule_type
from reconciler.sources import source_type
from reconciler.sources.files import DATA_SUFFIXES, check_repo_path
from reconciler.spec.catalog import PIPELINE, Catalog, EstimatorInfo
from reconciler.spec.kinds import (
    Dataset,
    Estimator,
    Gate,
    Model,
    Policy,
)
from reconciler.spec.problems import Problem
from reconciler.spec.yaml_source import Path_
from reconciler.suggest import closest, did_you_mean

SUPERVISED = ("classifier", "regressor")

_REGRESSION_MARKS = ("r2", "mean_", "explained_variance", "max_error", "median_absolute", "d2_")
_CLUSTER_MARKS = ("rand_", "mutual_info", "completeness", "homogeneity", "v_measure", "fowlkes")


def scorer_task(name: str) -> str:
    if any(mark in name for mark in _CLUSTER_MARKS):
        return "cluster"
    if any(mark in name for mark in _REGRESSION_MARKS):
        return "regression"
    return "classification"


def check_scorer(name: str, path: Path_, catalog: Catalog) -> Iterator[Problem]:
    if name not in catalog.scorers:
        yield Problem(path, f"unknown scorer '{name}'{did_you_mean(name, catalog.scorers)}")


# --- Model -------------------------------------------------------------------------------


def check_model(model: Model, catalog: Catalog, repo: Path | None = None) -> Iterator[Problem]:
    yield from check_estimator(model.estimator, ("estimator",), catalog)
    batch = model.monitoring.batch if model.monitoring else None
    if repo is not None and batch is not None and (batch.csv or batch.parquet):
        fmt = "csv" if batch.csv else "parquet"
        # The serving side may commit the first batch after this spec: where it will be is
        # checked now, whether it is there when monitor runs.
        problem = check_repo_path(batch.csv or batch.parquet or "", repo, DATA_SUFFIXES[fmt], must_exist=False)
        if problem is not None:
            yield Problem(("monitoring", "batch", fmt), problem)
    for i, metric in enumerate(model.metrics):
        yield from check_scorer(metric, ("metrics", i), catalog)
    kind = final_kind(model.estimator, catalog)
    if kind in SUPERVISED:
        task = "classification" if kind == "classifier" else "regression"
        for i, metric in enumerate(model.metrics):
            other = scorer_task(metric)
            if metric in catalog.scorers and other != task:
                yield Problem(
                    ("metrics", i),
                    f"'{metric}' is a {other} scorer, but the estimator is a {kind}",
                )


def final_kind(estimator: Estimator, catalog: Catalog) -> str | None:
    """The kind of the estimator that makes predictions (a Pipeline's last step)."""
    if estimator.class_ == PIPELINE:
        if not estimator.steps:
            return None
        info = catalog.estimators.get(estimator.steps[-1].class_)
    else:
        info = catalog.estimators.get(estimator.class_)
    return info.kind if info else None


def check_estimator(est: Estimator, path: Path_, catalog: Catalog) -> Iterator[Problem]:
    info = yield from _check_class(est.class_, (*path, "class"), catalog)
    if info is None:
        return
    if est.class_ == PIPELINE:
        yield from _check_pipeline(est, path, catalog)
        return
    if est.steps is not None:
        yield Problem((*path, "steps"), f"'steps' is only for {PIPELINE}", key=True)
    if info.kind not in SUPERVISED:
        yield Problem(
            (*path, "class"),
            f"{est.class_} is a {info.kind}; a model needs a classifier or regressor "
            f"(use {PIPELINE} to put transformers before one)",
        )
    yield from check_params(est.params, info, (*path, "params"))


def _check_class(name: str, path: Path_, catalog: Catalog) -> Generator[Problem, None, EstimatorInfo | None]:
    info = catalog.estimators.get(name)
    if info is not None:
        return info
    if not name.startswith("sklearn."):
        yield Problem(
            path,
            f"'{name}' is not allowed: estimators must be scikit-learn classes (sklearn.*)",
        )
        return None
    by_short = {p.rsplit(".", 1)[-1]: p for p in catalog.estimators}
    short = name.rsplit(".", 1)[-1]
    if short in by_short:
        hint = f"; did you mean '{by_short[short]}'?"
    else:
        match = closest(short, by_short)
        hint = f"; did you mean '{by_short[match]}'?" if match else did_you_mean(name, catalog.estimators)
    yield Problem(path, f"'{name}' is not an allowed scikit-learn estimator{hint}")
    return None


def _check_pipeline(est: Estimator, path: Path_, catalog: Catalog) -> Iterator[Problem]:
    for param in est.params:
        if param != "verbose":
            yield Problem((*path, "params", param), f"{PIPELINE} accepts only the 'verbose' param", key=True)
    if not est.steps:
        yield Problem(path, f"{PIPELINE} needs 'steps': a list of {{name, class, params}}")
        return
    names = [s.name for s in est.steps]
    for i, step in enumerate(est.steps):
        here = (*path, "steps", i)
        if names.index(step.name) != i:
            yield Problem((*here, "name"), f"duplicate step name '{step.name}'")
        info = yield from _check_class(step.class_, (*here, "class"), catalog)
        if info is None:
            continue
        if step.class_ == PIPELINE:
            yield Problem((*here, "class"), "nested pipelines are not supported; list the steps")
            continue
        last = i == len(est.steps) - 1
        if not last and info.kind != "transformer":
            yield Problem(
                (*here, "class"), f"{step.class_} is a {info.kind}; every step but the last must be a transformer"
            )
        if last and info.kind not in SUPERVISED:
            yield Problem(
                (*here, "class"), f"{step.class_} is a {info.kind}; the last step must be a classifier or regressor"
            )
        yield from check_params(step.params, info, (*here, "params"))


# Parameters that would make scikit-learn touch the file system or the machine beyond the fit,
# with the values that keep it to the data in memory. Found by reading every parameter name in
# the catalog (tests/test_catalog.py keeps the list complete for the installed scikit-learn).
UNSAFE_PARAMS: dict[str, tuple[tuple[Any, ...], str]] = {
    "memory": (
        (None,),
        "'memory' makes scikit-learn cache fits on disk with joblib and load them back with pickle "
        "(a committed cache would run code in the job); specs are data, so only null is allowed",
    ),
    "input": (
        ("content",),
        "'input' other than 'content' makes the vectorizer open files named by the data; only 'content' is allowed",
    ),
}
MAX_N_JOBS = 64  # joblib starts one process per job: a huge n_jobs is a fork bomb


def check_params(params: dict[str, Any], info: EstimatorInfo, path: Path_) -> Iterator[Problem]:
    short = info.path.rsplit(".", 1)[-1]
    for name, value in params.items():
        unsafe = UNSAFE_PARAMS.get(name)
        if unsafe is not None and name in info.params and not any(value == ok for ok in unsafe[0]):
            yield Problem((*path, name), unsafe[1])
            continue
        if _non_finite(value):
            # NaN and infinity cannot be fingerprinted (NaN is not even equal to itself).
            yield Problem((*path, name), f"must be a finite number (got {_show(value)})")
            continue
        if name == "n_jobs" and isinstance(value, int) and abs(value) > MAX_N_JOBS:
            yield Problem((*path, name), f"n_jobs must be between -{MAX_N_JOBS} and {MAX_N_JOBS} (got {value})")
            continue
        if _looks_like_estimator(value):
            yield Problem(
                (*path, name),
                "nested estimators are not supported in params (only as Pipeline steps); specs cannot build objects",
            )
            continue
        if name not in info.params:
            hint = did_you_mean(name, info.params)
            yield Problem((*path, name), f"{short} has no parameter '{name}'{hint}", key=True)
            continue
        constraints = info.constraints.get(name)
        if constraints and not any(c.accepts(value) for c in constraints):
            wanted = " or ".join(c.desc for c in constraints)
            yield Problem((*path, name), f"must be {wanted} (got {_show(value)})")


def _non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(_non_finite(v) for v in value)
    return False


def _looks_like_estimator(value: Any) -> bool:
    if isinstance(value, dict):
        return "class" in value or any(_looks_like_estimator(v) for v in value.values())
    if isinstance(value, list):
        return any(_looks_like_estimator(v) for v in value)
    return False


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


# --- Dataset -----------------------------------------------------------------------------


def check_dataset(ds: Dataset, repo: Path, catalog: Catalog) -> Iterator[Problem]:
    kind = source_type(ds.source)
    problems = [
        Problem(("source", *path), message) for path, message in kind.problems(ds.source, repo, catalog.datasets)
    ]
    yield from problems
    for i, snap in enumerate(ds.snapshots):
        problem = check_repo_path(snap.parquet, repo, DATA_SUFFIXES["parquet"])
        if problem is not None:
            yield Problem(("snapshots", i, "parquet"), problem)
    known = kind.known(ds.source, repo, catalog.datasets) if not problems else None
    if known is not None and known.columns is not None:
        yield from _check_columns(ds, known.columns)
    if known is not None and known.task == "regression" and ds.split.stratify:
        yield Problem(
            ("split", "stratify"), "stratify needs a classification target; this dataset's target is continuous"
        )


def _check_columns(ds: Dataset, columns: tuple[str, ...]) -> Iterator[Problem]:
    def unknown(col: str) -> str:
        return f"no column '{col}' in the dataset{did_you_mean(col, columns)}"

    if ds.target not in columns:
        yield Problem(("target",), unknown(ds.target))
    for i, feature in enumerate(ds.features or ()):
        if feature not in columns:
            yield Problem(("features", i), unknown(feature))
        elif feature == ds.target:
            yield Problem(("features", i), "the target column cannot also be a feature")
    for col in ds.checks.columns:
        if col not in columns:
            yield Problem(("checks", "columns", col), unknown(col), key=True)


# --- Gate --------------------------------------------------------------------------------


def check_gate(gate: Gate, catalog: Catalog) -> Iterator[Problem]:
    for i, rule in enumerate(gate.rules):
        for path, message in rule_type(rule).problems(rule, catalog.scorers):
            yield Problem(("rules", i, *path), message)


# --- Policy ------------------------------------------------------------------------------


def check_policy(policy: Policy) -> Iterator[Problem]:
    from reconciler.policy.sandbox import PolicySyntaxError, check_template, compile_expression

    try:
        compile_expression(policy.require)
    except PolicySyntaxError as exc:
        yield Problem(("require",), str(exc))
    try:
        check_template(policy.message)
    except PolicySyntaxError as exc:
        yield Problem(("message",), str(exc))
