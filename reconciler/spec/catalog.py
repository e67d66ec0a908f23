"""What scikit-learn offers, as plain data, so that `validate` never imports scikit-learn.

Importing scikit-learn costs more than a second; validating specs must not. The catalog
(estimator allowlist with parameter constraints, scorer names, bundled datasets) is generated
by tools/build_catalog.py, once per supported scikit-learn minor version, and shipped as JSON:
nothing here reads scikit-learn's private parameter-validation module at run time.
"""

from __future__ import annotations

import importlib.metadata
import json
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

# One catalog per scikit-learn minor version, built by tools/build_catalog.py.
CATALOGS = Path(__file__).with_name("catalogs")
CATALOG_FORMAT = 3  # 2: datasets know their number of classes; 3: estimators know their nested params

PIPELINE = "sklearn.pipeline.Pipeline"


@dataclass(frozen=True)
class Constraint:
    """One accepted form of a parameter value (mirrors sklearn's _param_validation)."""

    kind: str  # interval | options | null | bool | int | real | str | dict | list | any
    desc: str
    number: str = ""  # for intervals: int | real | real_not_int
    left: float | None = None
    right: float | None = None
    closed: str = "both"
    values: tuple[Any, ...] = ()

    def accepts(self, value: Any) -> bool:
        is_bool = isinstance(value, bool)
        if self.kind == "any":
            return True
        if self.kind == "null":
            return value is None
        if self.kind == "bool":
            return is_bool
        if self.kind == "int":
            return isinstance(value, int) and not is_bool
        if self.kind == "real":
            return isinstance(value, (int, float)) and not is_bool
        if self.kind == "str":
            return isinstance(value, str)
        if self.kind == "dict":
            return isinstance(value, dict)
        if self.kind == "list":
            return isinstance(value, list)
        if self.kind == "options":
            return any(value == v and type(value) is type(v) for v in self.values)
        if self.kind == "interval":
            return self._in_interval(value)
        return True

    def _in_interval(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.number == "int" and not isinstance(value, int):
            return False
        if self.number == "real_not_int" and isinstance(value, int):
            return False
        left_open = self.closed in ("right", "neither")
        right_open = self.closed in ("left", "neither")
        if self.left is not None and (value < self.left or (left_open and value == self.left)):
            return False
        return not (self.right is not None and (value > self.right or (right_open and value == self.right)))


@dataclass(frozen=True)
class EstimatorInfo:
    path: str
    kind: str  # classifier | regressor | transformer | cluster | other
    params: tuple[str, ...]
    constraints: dict[str, tuple[Constraint, ...]]
    # Parameters that take estimators, by the form a spec writes them in: `one` ({class,
    # params}), `named` (a list of {name, class, params}), `columns` (ColumnTransformer's).
    nested: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetInfo:
    loader: str
    columns: tuple[str, ...]  # features then "target"
    rows: int
    task: str  # classification | regression
    classes: int = 0  # distinct target values of a classification dataset


@dataclass(frozen=True)
class Catalog:
    sklearn_version: str
    estimators: dict[str, EstimatorInfo]
    scorers: tuple[str, ...]
    datasets: dict[str, DatasetInfo]
    note: str = ""  # set when the installed scikit-learn is not the one the catalog describes


def installed_sklearn_version() -> str | None:
    try:
        return importlib.metadata.version("scikit-learn")
    except importlib.metadata.PackageNotFoundError:
        return None


def _minor(version: str) -> tuple[int, int] | None:
    parts = version.split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return None


def shipped() -> dict[tuple[int, int], Path]:
    """The catalog file for each scikit-learn minor version this reconciler ships one for."""
    out = {}
    for path in CATALOGS.glob("sklearn-*.json"):
        minor = _minor(path.stem.removeprefix("sklearn-"))
        if minor is not None:
            out[minor] = path
    return dict(sorted(out.items()))


def catalog_for(version: str | None) -> Path:
    """The installed minor version's catalog; for one this reconciler does not know, the nearest
    older one (else the oldest): training then reports any parameter that version lacks."""
    files = shipped()
    minor = _minor(version) if version else None
    if minor is None:
        return files[max(files)]
    if minor in files:
        return files[minor]
    older = [m for m in files if m <= minor]
    return files[max(older)] if older else files[min(files)]


@lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    version = installed_sklearn_version()
    catalog = _from_json(json.loads(catalog_for(version).read_text(encoding="utf-8")))
    built_for = _minor(catalog.sklearn_version)
    if version is not None and _minor(version) != built_for:
        return replace(catalog, note=_mismatch(version, catalog.sklearn_version))
    return catalog


def _mismatch(installed: str, used: str) -> str:
    known = ", ".join(f"{a}.{b}" for a, b in shipped())
    return (
        f"scikit-learn {installed} is installed; specs are checked against the catalog of scikit-learn {used} "
        f"(this reconciler ships catalogs for {known}): a parameter that version lacks fails at training"
    )


def _from_json(raw: dict[str, Any]) -> Catalog:
    estimators = {
        path: EstimatorInfo(
            path=path,
            kind=info["kind"],
            params=tuple(info["params"]),
            constraints={
                name: tuple(_constraint_from_json(c) for c in cons) for name, cons in info["constraints"].items()
            },
            nested=dict(info.get("nested", {})),
        )
        for path, info in raw["estimators"].items()
    }
    datasets = {
        name: DatasetInfo(
            loader=name, columns=tuple(d["columns"]), rows=d["rows"], task=d["task"], classes=d.get("classes", 0)
        )
        for name, d in raw["datasets"].items()
    }
    return Catalog(
        sklearn_version=raw["sklearn_version"],
        estimators=estimators,
        scorers=tuple(raw["scorers"]),
        datasets=datasets,
    )


def _constraint_from_json(c: dict[str, Any]) -> Constraint:
    return Constraint(
        kind=c["kind"],
        desc=c["desc"],
        number=c.get("number", ""),
        left=c.get("left"),
        right=c.get("right"),
        closed=c.get("closed", "both"),
        values=tuple(c.get("values", ())),
    )
