"""The estimator of a Model, checked as a tree before anything is imported: every class on the
allowlist (the catalog), every parameter within scikit-learn's constraints, and estimators
nested in parameters (a Stacking ensemble's `estimators`, a ColumnTransformer's `transformers`,
a SelectFromModel's `estimator`) checked the same way at every depth, with positions. Specs
are data: a nested estimator is `{class, params}`, never an object."""

from __future__ import annotations

import math
from collections.abc import Generator, Iterator
from typing import Any

from reconciler.spec.catalog import PIPELINE, Catalog, EstimatorInfo
from reconciler.spec.kinds import Estimator
from reconciler.spec.problems import Problem
from reconciler.spec.yaml_source import Path_
from reconciler.suggest import closest, did_you_mean

SUPERVISED = ("classifier", "regressor")


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
    yield from check_params(est.params, info, (*path, "params"), catalog)


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
        yield from check_params(step.params, info, (*here, "params"), catalog, 1)


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


def check_params(
    params: dict[str, Any], info: EstimatorInfo, path: Path_, catalog: Catalog | None = None, depth: int = 0
) -> Iterator[Problem]:
    short = info.path.rsplit(".", 1)[-1]
    for name, value in params.items():
        if catalog is not None and name in info.nested and is_nested(value):
            yield from check_nested(value, info, name, (*path, name), catalog, depth + 1)
            continue
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
            takes = ", ".join(sorted(info.nested)) or "none"
            yield Problem(
                (*path, name),
                f"'{name}' does not take an estimator (the parameters of {short} that do: {takes}); "
                "specs cannot build objects",
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


# --- estimators nested in parameters -----------------------------------------------------------

# How deep estimators may nest, counting the estimators above one (a Pipeline's step is at 1, a
# transformer of a ColumnTransformer that is a step at 2, a step of that transformer's Pipeline
# at 3): deeper trees are refused before anything is built.
MAX_DEPTH = 4
PASSTHROUGH = ("drop", "passthrough")  # what a ColumnTransformer does with columns instead of a transformer
SELECTOR_KEYS = ("dtype_include", "dtype_exclude", "pattern")  # sklearn.compose.make_column_selector
DTYPES = ("number", "object", "category", "string", "bool", "datetime", "int", "float")
NODE_KEYS = frozenset({"class", "params", "steps"})


def is_nested(value: Any) -> bool:
    return isinstance(value, list) or (isinstance(value, dict) and "class" in value)


def nested_kind(parent: EstimatorInfo, param: str) -> str:
    """What a nested parameter takes: transformers, or estimators of the parent's own kind (a
    voting classifier's voters are classifiers), or any supervised one (SelectFromModel)."""
    if param in ("transformer", "remainder", "transformers", "transformer_list"):
        return "transformer"
    return parent.kind if parent.kind in SUPERVISED else "supervised"


def check_nested(
    value: Any, parent: EstimatorInfo, param: str, path: Path_, catalog: Catalog, depth: int
) -> Iterator[Problem]:
    form = parent.nested[param]
    want = nested_kind(parent, param)
    if form == "one":
        if isinstance(value, list):
            yield Problem(path, f"'{param}' takes one estimator, {{class, params}}, not a list")
            return
        yield from _check_node(value, path, catalog, depth, want, NODE_KEYS)
        return
    shape = "{name, class, params, columns}" if form == "columns" else "{name, class, params}"
    if not isinstance(value, list) or not value:
        yield Problem(path, f"'{param}' must be a non-empty list of {shape}")
        return
    names: list[str] = []
    keys = NODE_KEYS | {"name"} | ({"columns"} if form == "columns" else set())
    for i, item in enumerate(value):
        here = (*path, i)
        if not isinstance(item, dict):
            yield Problem(here, f"must be {shape}")
            continue
        yield from _check_name(item.get("name"), here, names, "name")
        if form == "columns":
            if "columns" not in item:
                yield Problem(here, "needs 'columns': a list of column names, or {dtype_include: ...} / {pattern: ...}")
            else:
                yield from _check_columns(item["columns"], (*here, "columns"))
            if item.get("class") in PASSTHROUGH:
                extra = [k for k in item if k not in ("name", "class", "columns")]
                for key in extra:
                    yield Problem((*here, key), f"'{item['class']}' takes no '{key}'", key=True)
                continue
        yield from _check_node(item, here, catalog, depth, want, keys)


def _check_node(
    node: Any, path: Path_, catalog: Catalog, depth: int, want: str, keys: frozenset[str] | set[str]
) -> Iterator[Problem]:
    if depth > MAX_DEPTH:
        yield Problem(path, f"estimators nest at most {MAX_DEPTH} levels deep in parameters; this is level {depth}")
        return
    if not isinstance(node, dict) or "class" not in node:
        yield Problem(path, "must be an estimator: {class, params}")
        return
    for key in node:
        if key not in keys:
            yield Problem((*path, key), f"unknown key '{key}' (an estimator is {{class, params}})", key=True)
    name = node["class"]
    if not isinstance(name, str):
        yield Problem((*path, "class"), "must be the estimator's import path, e.g. sklearn.preprocessing.OneHotEncoder")
        return
    info = yield from _check_class(name, (*path, "class"), catalog)
    if info is None:
        return
    params = node.get("params", {})
    if not isinstance(params, dict):
        yield Problem((*path, "params"), "must be a mapping of parameter names to values")
        return
    if name == PIPELINE:
        yield from _check_nested_pipeline(node, params, path, catalog, depth, want)
        return
    if "steps" in node:
        yield Problem((*path, "steps"), f"'steps' is only for {PIPELINE}", key=True)
    if not _kind_ok(info.kind, want):
        yield Problem((*path, "class"), f"{name} is a {info.kind}; this place needs {_words(want)}")
    yield from check_params(params, info, (*path, "params"), catalog, depth)


def _check_nested_pipeline(
    node: dict[str, Any], params: dict[str, Any], path: Path_, catalog: Catalog, depth: int, want: str
) -> Iterator[Problem]:
    for param in params:
        if param != "verbose":
            yield Problem((*path, "params", param), f"{PIPELINE} accepts only the 'verbose' param", key=True)
    steps = node.get("steps")
    if not isinstance(steps, list) or not steps:
        yield Problem(path, f"{PIPELINE} needs 'steps': a list of {{name, class, params}}")
        return
    names: list[str] = []
    for i, step in enumerate(steps):
        here = (*path, "steps", i)
        yield from _check_name(step.get("name") if isinstance(step, dict) else None, here, names, "step name")
        last = i == len(steps) - 1
        yield from _check_node(step, here, catalog, depth + 1, want if last else "transformer", NODE_KEYS | {"name"})


def _check_name(name: Any, path: Path_, seen: list[str], what: str) -> Iterator[Problem]:
    """A part's name: given, unique among its siblings (`seen` collects them)."""
    if not isinstance(name, str) or not name or "__" in name:
        yield Problem(path, "needs a 'name' (text without '__', which scikit-learn reserves)")
    elif name in seen:
        yield Problem((*path, "name"), f"duplicate {what} '{name}'")
    else:
        seen.append(name)


def _check_columns(value: Any, path: Path_) -> Iterator[Problem]:
    if isinstance(value, list):
        if not value or not all(isinstance(c, str) and c for c in value):
            yield Problem(path, "must list column names (text)")
        elif len(set(value)) != len(value):
            yield Problem(path, "lists a column twice")
        return
    if not isinstance(value, dict) or not value:
        yield Problem(path, "must be a list of column names, or a selector: {dtype_include, dtype_exclude, pattern}")
        return
    for key, given in value.items():
        if key not in SELECTOR_KEYS:
            yield Problem((*path, key), f"unknown selector '{key}'{did_you_mean(str(key), SELECTOR_KEYS)}", key=True)
        elif key == "pattern":
            yield from _check_pattern(given, (*path, key))
        else:
            words = given if isinstance(given, list) else [given]
            wrong = [w for w in words if w not in DTYPES]
            if wrong or not words:
                yield Problem((*path, key), f"must be one or more of {', '.join(DTYPES)} (got {_show(given)})")


def _check_pattern(value: Any, path: Path_) -> Iterator[Problem]:
    import re

    if not isinstance(value, str):
        yield Problem(path, "must be a regular expression (text)")
        return
    try:
        re.compile(value)
    except re.error as exc:
        yield Problem(path, f"is not a regular expression: {exc}")


def _kind_ok(kind: str, want: str) -> bool:
    if want == "supervised":
        return kind in SUPERVISED
    return kind == want


def _words(want: str) -> str:
    return {"supervised": "a classifier or regressor", "transformer": "a transformer"}.get(want, f"a {want}")


def nested_classes(node: Any, depth: int = 0) -> Iterator[tuple[str, int]]:
    """Every class named in an estimator tree given as data, with the number of estimators above
    it: what the trainer checks against the allowlist before it imports anything."""
    if isinstance(node, list):
        for item in node:
            yield from nested_classes(item, depth)
        return
    if not isinstance(node, dict) or not isinstance(node.get("class"), str):
        return
    yield node["class"], depth
    params = node.get("params")
    for value in params.values() if isinstance(params, dict) else ():
        if isinstance(value, list) or (isinstance(value, dict) and "class" in value):
            yield from nested_classes(value, depth + 1)
    yield from nested_classes(node.get("steps") or [], depth + 1)
