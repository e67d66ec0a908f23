"""A compact, deterministic profile of a table: what `monitor` compares a live batch against.

Numeric columns keep their 101 percentiles (enough to rebuild the distribution for a KS test and
to bin a batch for PSI), decile bin edges with the training rows' counts, mean, std and missing
rate; other columns keep category frequencies (the 50 most frequent, the rest as one share).
Kilobytes, whatever the number of rows; never a copy of the data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PROFILE_VERSION = 1
PERCENTILES = 101
BINS = 10
TOP_CATEGORIES = 50
OTHER = "(other)"


def kind_of(series: Any) -> str:
    """`numeric` or `categorical`, as pandas types the column (bool counts as categorical)."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        return "categorical"
    return "numeric"


def _finite(values: Any) -> Any:
    import numpy as np

    arr = np.asarray(values, dtype=float)
    return arr[np.isfinite(arr)]


def numeric_profile(series: Any) -> dict[str, Any]:
    import numpy as np

    total = len(series)
    values = _finite(series)
    missing = (total - len(values)) / total if total else 0.0
    if len(values) == 0:
        return {"kind": "numeric", "count": 0, "missing": missing}
    quantiles = np.quantile(values, np.linspace(0, 1, PERCENTILES))
    edges = np.unique(np.quantile(values, np.linspace(0, 1, BINS + 1)))
    return {
        "kind": "numeric",
        "count": len(values),
        "missing": round(missing, 6),
        "mean": float(np.mean(values)),
        "std": float(np.std(values)),
        "quantiles": [float(q) for q in quantiles],
        "edges": [float(e) for e in edges],
        "counts": [int(c) for c in bin_counts(values, list(edges))],
    }


def bin_counts(values: Any, edges: list[float]) -> list[int]:
    """Counts below the reference's range, in each of its bins, and above it: a batch that moved
    past the training range (or a two-valued column that shifted) shows as mass where the
    reference had none."""
    import numpy as np

    bounds = np.asarray(edges, dtype=float)
    points = np.asarray(values, dtype=float)
    index = np.searchsorted(bounds, points, side="right")
    index[points == bounds[-1]] = len(bounds) - 1  # the maximum belongs to the last bin
    return [int(c) for c in np.bincount(index, minlength=len(bounds) + 1)]


def categorical_profile(series: Any) -> dict[str, Any]:
    total = len(series)
    present = series.dropna()
    counts = present.astype(str).value_counts()
    # value_counts orders ties arbitrarily: sort by count, then by value, for a stable profile.
    ordered = sorted(counts.items(), key=lambda kv: (-int(kv[1]), str(kv[0])))
    kept = dict(ordered[:TOP_CATEGORIES])
    rest = sum(int(c) for _, c in ordered[TOP_CATEGORIES:])
    n = len(present)
    freq = {str(k): int(v) / n for k, v in kept.items()} if n else {}
    if rest:
        freq[OTHER] = rest / n
    return {
        "kind": "categorical",
        "count": n,
        "missing": round((total - n) / total, 6) if total else 0.0,
        "frequencies": {k: round(v, 6) for k, v in freq.items()},
    }


def column_profile(series: Any) -> dict[str, Any]:
    profile = numeric_profile(series) if kind_of(series) == "numeric" else categorical_profile(series)
    profile["dtype"] = str(series.dtype)
    return profile


def profile_table(frame: Any) -> dict[str, dict[str, Any]]:
    return {str(name): column_profile(frame[name]) for name in frame.columns}


def build(x_train: Any, predictions: Any, task: str) -> dict[str, Any]:
    """The reference profile of a trained version: its training inputs and its predictions on
    the test split. `task` is `classification` or `regression`."""
    import pandas as pd

    pred = pd.Series(predictions, name="prediction")
    if task == "classification":
        pred = pred.astype(str)
    return {
        "profile_version": PROFILE_VERSION,
        "rows": len(x_train),
        "task": task,
        "features": profile_table(x_train),
        "prediction": column_profile(pred),
    }


def summary(profile: Mapping[str, Any]) -> str:
    features = profile.get("features", {})
    numeric = sum(1 for p in features.values() if p.get("kind") == "numeric")
    return f"{len(features)} features ({numeric} numeric), {profile.get('rows', 0)} training rows"
