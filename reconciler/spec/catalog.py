"""What scikit-learn offers, as plain data, so that `validate` never imports scikit-learn.

Importing scikit-learn costs more than a second; validating specs must not. The catalog
(estimator allowlist with parameter constraints, scorer names, bundled datasets) is generated
from scikit-learn once and shipped as JSON. When the installed scikit-learn differs from the
version the shipped file was built from, a catalog for the installed version is built once and
cached, so the allowlist always describes the library that will actually train.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from reconciler.atomic import write_json

SHIPPED = Path(__file__).with_name("sklearn_catalog.json")
CATALOG_FORMAT = 2  # 2: datasets know their number of classes

# Bundled datasets that ship inside the scikit-learn wheel (no download at run time).
BUNDLED_LOADERS = ("load_iris", "load_wine", "load_breast_cancer", "load_diabetes", "load_digits")
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


def installed_sklearn_version() -> str | None:
    try:
        return importlib.metadata.version("scikit-learn")
    except importlib.metadata.PackageNotFoundError:
        return None


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "reconciler"


@lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    raw = json.loads(SHIPPED.read_text(encoding="utf-8"))
    version = installed_sklearn_version()
    if version is None or raw.get("sklearn_version") == version:
        return _from_json(raw)
    cached = _cache_dir() / f"sklearn-catalog-{CATALOG_FORMAT}-{version}.json"
    try:
        return _from_json(json.loads(cached.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError):
        pass
    raw = build_catalog()
    write_json(cached, raw, indent=1, sort_keys=True)  # a read-only home only costs the rebuild next time
    return _from_json(raw)


def _from_json(raw: dict[str, Any]) -> Catalog:
    estimators = {
        path: EstimatorInfo(
            path=path,
            kind=info["kind"],
            params=tuple(info["params"]),
            constraints={
                name: tuple(_constraint_from_json(c) for c in cons) for name, cons in info["constraints"].items()
            },
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


# --- building (imports scikit-learn; only for regeneration) -------------------------------


def build_catalog() -> dict[str, Any]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # deprecated estimators still train
        return _build_catalog()


def _build_catalog() -> dict[str, Any]:
    import sklearn
    import sklearn.datasets
    import sklearn.metrics
    from sklearn.utils import all_estimators

    kinds: dict[type, str] = {}
    for kind in ("classifier", "regressor", "transformer", "cluster"):
        for _, cls in all_estimators(type_filter=kind):
            kinds.setdefault(cls, kind)
    estimators: dict[str, Any] = {}
    for name, cls in all_estimators():
        path = _public_path(name, cls)
        if path is None or _has_required_params(cls):
            continue
        estimators[path] = _estimator_json(cls, kinds.get(cls, "other"))
    from sklearn.pipeline import Pipeline

    estimators[PIPELINE] = {"kind": "pipeline", "params": ["memory", "verbose"], "constraints": {}}

    datasets: dict[str, Any] = {}
    for loader in BUNDLED_LOADERS:
        bunch = getattr(sklearn.datasets, loader)()
        target = bunch.target
        task = "regression" if target.dtype.kind == "f" else "classification"
        datasets[loader] = {
            "columns": [str(c) for c in bunch.feature_names] + ["target"],
            "rows": int(bunch.data.shape[0]),
            "task": task,
            "classes": len(set(target.tolist())) if task == "classification" else 0,
        }
    del Pipeline
    return {
        "format": CATALOG_FORMAT,
        "sklearn_version": sklearn.__version__,
        "estimators": dict(sorted(estimators.items())),
        "scorers": sorted(sklearn.metrics.get_scorer_names()),
        "datasets": datasets,
    }


def _public_path(name: str, cls: type) -> str | None:
    import importlib

    parts = cls.__module__.split(".")
    public = [p for p in parts if not p.startswith("_")]
    for depth in range(len(public), 1, -1):
        module_name = ".".join(public[:depth])
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        if getattr(module, name, None) is cls:
            return f"{module_name}.{name}"
    return None


def _has_required_params(cls: type) -> bool:
    # Estimators that need another estimator (or a list of them) as a constructor argument
    # cannot be built from data alone; they are left out of the allowlist for now.
    sig = inspect.signature(cls)
    return any(
        p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name != "self"
        for p in sig.parameters.values()
    )


def _estimator_json(cls: type, kind: str) -> dict[str, Any]:
    from sklearn.utils._param_validation import make_constraint

    params = sorted(cls().get_params(deep=False))
    raw_constraints: dict[str, Any] = getattr(cls, "_parameter_constraints", {})
    constraints: dict[str, Any] = {}
    for param, cons in raw_constraints.items():
        if param not in params or cons == "no_validation":
            continue
        converted = []
        for c in cons:
            converted.extend(_constraint_json(make_constraint(c)))
        if converted and not any(c["kind"] == "any" for c in converted):
            constraints[param] = converted
    return {"kind": kind, "params": params, "constraints": constraints}


def _constraint_json(c: Any) -> list[dict[str, Any]]:
    import numbers

    from sklearn.utils import _param_validation as pv

    if getattr(c, "hidden", False):
        return []
    name = type(c).__name__
    if isinstance(c, pv.Interval):
        number = {numbers.Integral: "int", numbers.Real: "real"}.get(c.type, "real_not_int")
        return [
            {
                "kind": "interval",
                "number": number,
                "left": _finite(c.left),
                "right": _finite(c.right),
                "closed": c.closed,
                "desc": str(c),
            }
        ]
    if isinstance(c, pv.Options):
        values = sorted(v for v in c.options if isinstance(v, (str, int, float)) and v != "deprecated")
        if not values:
            return []
        shown = ", ".join(repr(v) for v in values)
        return [{"kind": "options", "values": values, "desc": f"one of {{{shown}}}"}]
    if name == "_NoneConstraint":
        return [{"kind": "null", "desc": "None"}]
    if name == "_Booleans":
        return [{"kind": "bool", "desc": "a bool"}]
    if name == "_RandomStates":
        return [
            {
                "kind": "interval",
                "number": "int",
                "left": 0,
                "right": 4294967295,
                "closed": "both",
                "desc": "an int in the range [0, 4294967295]",
            },
            {"kind": "null", "desc": "None"},
        ]
    if name == "_VerboseHelper":
        return [
            {
                "kind": "interval",
                "number": "int",
                "left": 0,
                "right": None,
                "closed": "left",
                "desc": "an int in the range [0, inf)",
            },
            {"kind": "bool", "desc": "a bool"},
        ]
    if name == "_InstancesOf":
        simple = {
            int: "int",
            numbers.Integral: "int",
            float: "real",
            numbers.Real: "real",
            str: "str",
            dict: "dict",
            list: "list",
            bool: "bool",
        }
        if c.type in simple:
            kind = simple[c.type]
            word = {"int": "an int", "real": "a float"}.get(kind, f"a {kind}")
            return [{"kind": kind, "desc": word}]
    return [{"kind": "any", "desc": str(c)}]


def _finite(x: Any) -> float | None:
    if x is None:
        return None
    value = float(x)
    if value in (float("inf"), float("-inf")):
        return None
    return int(value) if value.is_integer() and isinstance(x, int) else value


def main() -> int:
    """Regenerate the shipped catalog: `python -m reconciler.spec.catalog`."""
    raw = build_catalog()
    SHIPPED.write_text(json.dumps(raw, indent=0, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {SHIPPED} ({len(raw['estimators'])} estimators, sklearn {raw['sklearn_version']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
