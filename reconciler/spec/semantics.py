"""Checks on one object that need knowledge beyond its schema: the scikit-learn catalog and
the repository's files. Every check returns problems with paths; nothing here raises."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from reconciler.rules import rule_type
from reconciler.sources import source_type
from reconciler.sources.files import DATA_SUFFIXES, check_repo_path
from reconciler.spec.catalog import Catalog
from reconciler.spec.estimators import SUPERVISED, check_estimator, final_kind
from reconciler.spec.estimators import UNSAFE_PARAMS as UNSAFE_PARAMS
from reconciler.spec.estimators import check_params as check_params
from reconciler.spec.kinds import (
    Dataset,
    Gate,
    Model,
    Policy,
)
from reconciler.spec.problems import Problem
from reconciler.spec.yaml_source import Path_
from reconciler.suggest import did_you_mean

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
    for i, feature in enumerate(ds.feature_names or ()):
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
