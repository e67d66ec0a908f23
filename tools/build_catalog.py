"""Build the scikit-learn catalog the reconciler ships (reconciler/spec/catalogs/), one file
per supported scikit-learn minor version. A build step, not part of the installed package: it
reads scikit-learn's private parameter-validation module, which changes between releases.

    python tools/build_catalog.py                      # the installed scikit-learn
    python tools/build_catalog.py --versions 1.5 1.6   # each in a throwaway venv (needs pip)
    python tools/build_catalog.py --print              # to stdout, nothing written (tests)
"""

from __future__ import annotations

import argparse
import inspect
import json
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CATALOGS = ROOT / "reconciler" / "spec" / "catalogs"
CATALOG_FORMAT = 3  # 2: datasets know their number of classes; 3: estimators know their nested params
# Parameters that take estimators, and in which form a spec writes them (reconciler.spec.nested):
# one `{class, params}`, a list of named ones, or ColumnTransformer's named ones with columns.
NESTED = {
    "estimator": "one",
    "final_estimator": "one",
    "regressor": "one",
    "transformer": "one",
    "remainder": "one",
    "estimators": "named",
    "transformer_list": "named",
    "transformers": "columns",
}
BUNDLED_LOADERS = ("load_iris", "load_wine", "load_breast_cancer", "load_diabetes", "load_digits")
PIPELINE = "sklearn.pipeline.Pipeline"


def build_catalog() -> dict[str, Any]:
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
    # Required parameters a spec cannot give as data (a parameter grid, a fitted dictionary)
    # keep an estimator out of the allowlist; estimators given as nested specs are data.
    sig = inspect.signature(cls)
    return any(
        p.default is inspect.Parameter.empty
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        and p.name != "self"
        and p.name not in NESTED
        for p in sig.parameters.values()
    ) or cls.__name__ in ("FrozenEstimator", "Pipeline")


def _takes_estimators(cls: type, param: str) -> bool:
    """Whether scikit-learn's own constraints say `param` holds estimators (HasMethods: fit...)."""
    from sklearn.utils._param_validation import HasMethods, make_constraint

    cons = getattr(cls, "_parameter_constraints", {}).get(param)
    if cons is None or cons == "no_validation":
        return NESTED.get(param) in ("named", "columns")  # lists of (name, estimator) tuples
    return any(isinstance(make_constraint(c), HasMethods) for c in cons) or NESTED.get(param) != "one"


def _estimator_json(cls: type, kind: str) -> dict[str, Any]:
    from sklearn.utils._param_validation import make_constraint

    params = sorted(p for p in inspect.signature(cls).parameters if p not in ("self", "args", "kwargs"))
    nested = {p: NESTED[p] for p in params if p in NESTED and _takes_estimators(cls, p)}
    raw_constraints: dict[str, Any] = getattr(cls, "_parameter_constraints", {})
    constraints: dict[str, Any] = {}
    for param, cons in raw_constraints.items():
        if param not in params or cons == "no_validation":
            continue
        converted = []
        for c in cons:
            converted.extend(_constraint_json(make_constraint(c)))
        if param in nested:  # the estimator forms are checked as nested specs; keep the rest (None, 'drop')
            converted = [c for c in converted if c["kind"] != "any"]
        if converted and not any(c["kind"] == "any" for c in converted):
            constraints[param] = converted
    out: dict[str, Any] = {"kind": kind, "params": params, "constraints": constraints}
    if nested:
        out["nested"] = nested
    return out


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


def dumps(raw: dict[str, Any]) -> str:
    return json.dumps(raw, indent=0, sort_keys=True) + "\n"


def write(raw: dict[str, Any]) -> Path:
    major, minor = raw["sklearn_version"].split(".")[:2]
    path = CATALOGS / f"sklearn-{major}.{minor}.json"
    path.write_text(dumps(raw), encoding="utf-8")
    return path


def in_venv(version: str) -> Path:
    """Build the catalog of scikit-learn `version` (a minor version: its latest release) in a
    throwaway venv, and write it."""
    with tempfile.TemporaryDirectory() as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        python = venv / "bin" / "python"
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"scikit-learn=={version}.*"], check=True)
        out = subprocess.run([str(python), __file__, "--print"], check=True, capture_output=True, text=True).stdout
    return write(json.loads(out))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", nargs="+", metavar="X.Y", help="build these minor versions in venvs")
    parser.add_argument("--print", action="store_true", help="print the installed version's catalog")
    args = parser.parse_args()
    if args.print:
        sys.stdout.write(dumps(build_catalog()))
        return 0
    for path in [in_venv(v) for v in args.versions] if args.versions else [write(build_catalog())]:
        raw = json.loads(path.read_text(encoding="utf-8"))
        print(f"wrote {path.relative_to(ROOT)} ({len(raw['estimators'])} estimators, sklearn {raw['sklearn_version']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
