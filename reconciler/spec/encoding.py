"""Which text columns reach an estimator that needs numbers: followed through the estimator's
spec (a ColumnTransformer's column lists and dtype selectors, encoders, imputers that keep
text as text), so `validate` says so at the model, before anything trains."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.spec.catalog import PIPELINE

ENCODERS = frozenset(
    {
        "sklearn.preprocessing.OneHotEncoder",
        "sklearn.preprocessing.OrdinalEncoder",
        "sklearn.preprocessing.TargetEncoder",
    }
)
KEEPS_TEXT = frozenset({"sklearn.impute.SimpleImputer"})  # most_frequent/constant fill text with text
COLUMN_TRANSFORMER = "sklearn.compose.ColumnTransformer"
NATIVE_CATEGORICAL = ("HistGradientBoostingClassifier", "HistGradientBoostingRegressor")
TEXT_DTYPES = {"object", "string", "category"}


@dataclass(frozen=True)
class Unencoded:
    column: str
    reaches: str  # the class that would receive it


def unencoded(tree: Mapping[str, Any], kinds: Mapping[str, str]) -> list[Unencoded]:
    """The text columns among `kinds` (column -> "string" or "category"; numeric columns are
    left out) that reach a class needing numbers, following `tree` (an estimator as data)."""
    text = dict(kinds)
    steps = tree.get("steps") if tree.get("class") == PIPELINE else None
    nodes = list(steps or []) if steps else [tree]
    out: list[Unencoded] = []
    for i, node in enumerate(nodes):
        if not text:
            break
        last = i == len(nodes) - 1
        name = str(node.get("class", ""))
        if name == COLUMN_TRANSFORMER and not last:
            text, failed = _through_columns(node.get("params") or {}, text)
            out += failed
        elif _encodes(node):
            text = {}
        elif name in KEEPS_TEXT and not last:
            continue
        elif last and _native(node) and all(k == "category" for k in text.values()):
            text = {}
        else:
            out += [Unencoded(column, name) for column in text]
            text = {}
    return out


def _through_columns(params: Mapping[str, Any], text: dict[str, str]) -> tuple[dict[str, str], list[Unencoded]]:
    """What leaves a ColumnTransformer still as text (passed through), and what it sends to a
    transformer that needs numbers."""
    left = dict(text)
    through: dict[str, str] = {}
    failed: list[Unencoded] = []
    for item in params.get("transformers") or []:
        if not isinstance(item, dict):
            continue
        chosen = {c: k for c, k in left.items() if _selects(item.get("columns"), c, k)}
        for column in chosen:
            del left[column]
        target = item.get("class")
        if target == "passthrough":
            through.update(chosen)
        elif target != "drop" and not _encodes(item):
            failed += [Unencoded(column, str(target)) for column in chosen]
    remainder = params.get("remainder", "drop")
    if remainder == "passthrough":
        through.update(left)
    elif isinstance(remainder, dict) and not _encodes(remainder):
        failed += [Unencoded(column, str(remainder.get("class"))) for column in left]
    return through, failed


def _selects(spec: Any, column: str, kind: str) -> bool:
    if isinstance(spec, list):
        return column in spec
    if not isinstance(spec, dict):
        return False
    include = spec.get("dtype_include")
    exclude = spec.get("dtype_exclude")
    words = set(include if isinstance(include, list) else [include]) if include is not None else None
    dtype = "category" if kind == "category" else "object"
    matches = words is None or bool(words & ({dtype, "string"} if dtype == "object" else {dtype}))
    if exclude is not None:
        excluded = set(exclude if isinstance(exclude, list) else [exclude])
        matches = matches and not (excluded & ({dtype, "string"} if dtype == "object" else {dtype}))
    pattern = spec.get("pattern")
    if isinstance(pattern, str):
        try:
            matches = matches and re.search(pattern, column) is not None
        except re.error:
            return False
    return matches


def _encodes(node: Mapping[str, Any]) -> bool:
    """An encoder, or a Pipeline that reaches one through steps that keep text as text."""
    name = node.get("class")
    if name in ENCODERS:
        return True
    if name == PIPELINE:
        for step in node.get("steps") or []:
            if not isinstance(step, dict):
                return False
            if step.get("class") in ENCODERS:
                return True
            if step.get("class") not in KEEPS_TEXT:
                return False
    return False


def _native(node: Mapping[str, Any]) -> bool:
    """HistGradientBoosting with categorical_features='from_dtype' takes pandas categories."""
    name = str(node.get("class", ""))
    params = node.get("params") or {}
    return name.endswith(NATIVE_CATEGORICAL) and params.get("categorical_features", "from_dtype") == "from_dtype"
