"""Compare a live batch with a version's reference profile: schema, per-feature and prediction
drift. Pure functions of the profile and the batch.

A feature drifts when its shift is both large and significant: population stability index over
the reference's decile bins above `psi_max`, and a two-sample test (Kolmogorov-Smirnov for
numbers, chi-square for categories) with a p-value below `ks_pvalue_min`. PSI alone is noisy on
small batches (about bins/rows even without drift) and a test alone flags trivial shifts on
large ones; requiring both keeps each in its lane.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.data.profile import OTHER, bin_counts, kind_of

EPSILON = 1e-4  # floor for an empty bin's share, so PSI stays finite
NEW = "(new)"
REFERENCE_SAMPLE_MAX = 100_000


@dataclass(frozen=True)
class Thresholds:
    psi_max: float = 0.2
    ks_pvalue_min: float = 0.01
    drifted_share_max: float = 0.0
    prediction_psi_max: float = 0.2
    correction: str = "bonferroni"  # or "none": the p-value threshold per feature


@dataclass(frozen=True)
class Histogram:
    """Reference and live shares per bin, for the report's charts."""

    labels: tuple[str, ...]
    reference: tuple[float, ...]
    live: tuple[float, ...]


@dataclass(frozen=True)
class ColumnDrift:
    name: str
    kind: str  # numeric | categorical
    psi: float
    pvalue: float
    test: str  # ks | chi2
    drifted: bool
    reference_mean: float | None
    live_mean: float | None
    reference_missing: float
    live_missing: float
    rows: int
    histogram: Histogram

    def describe(self) -> str:
        return f"PSI {self.psi:.3f}, {self.test} p={self.pvalue:.3g}"


@dataclass(frozen=True)
class SchemaIssue:
    column: str
    problem: str  # missing | extra | type | empty
    detail: str


@dataclass(frozen=True)
class DriftResult:
    features: tuple[ColumnDrift, ...]
    schema: tuple[SchemaIssue, ...]
    thresholds: Thresholds
    prediction: ColumnDrift | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def drifted_features(self) -> tuple[ColumnDrift, ...]:
        return tuple(f for f in self.features if f.drifted)

    @property
    def drifted_share(self) -> float:
        return len(self.drifted_features) / len(self.features) if self.features else 0.0

    @property
    def feature_drift(self) -> bool:
        return bool(self.drifted_features) and self.drifted_share > self.thresholds.drifted_share_max

    @property
    def schema_drift(self) -> bool:
        return any(s.problem != "extra" for s in self.schema)


def psi(reference: Sequence[float], live: Sequence[float]) -> float:
    """Population stability index of two share vectors over the same bins."""
    total = 0.0
    for r, lv in zip(reference, live, strict=True):
        r, lv = max(r, EPSILON), max(lv, EPSILON)
        total += (lv - r) * math.log(lv / r)
    return total


def reference_sample(quantiles: Sequence[float], count: int) -> Any:
    """`count` points whose empirical distribution follows the stored percentiles: the training
    column as the KS test needs it, at percentile resolution, with its true size."""
    import numpy as np

    n = max(1, min(count, REFERENCE_SAMPLE_MAX))
    positions = (np.arange(n) + 0.5) / n
    return np.interp(positions, np.linspace(0, 1, len(quantiles)), np.asarray(quantiles, dtype=float))


def _shares(counts: Sequence[int]) -> list[float]:
    total = sum(counts)
    return [c / total if total else 0.0 for c in counts]


def numeric_drift(name: str, reference: Mapping[str, Any], series: Any, psi_max: float, alpha: float) -> ColumnDrift:
    import numpy as np
    from scipy.stats import ks_2samp

    raw = np.asarray(series, dtype=float)
    values = raw[np.isfinite(raw)]
    edges = list(reference["edges"])
    ref_share = _shares(reference["counts"])
    live_share = _shares(bin_counts(values, edges))
    score = psi(ref_share, live_share)
    pvalue = float(ks_2samp(reference_sample(reference["quantiles"], reference["count"]), values).pvalue)
    labels = (
        f"< {edges[0]:.4g}",
        *(f"{edges[i]:.4g}–{edges[i + 1]:.4g}" for i in range(len(edges) - 1)),
        f"> {edges[-1]:.4g}",
    )
    return ColumnDrift(
        name=name,
        kind="numeric",
        psi=score,
        pvalue=pvalue,
        test="ks",
        drifted=score > psi_max and pvalue < alpha,
        reference_mean=float(reference["mean"]),
        live_mean=float(np.mean(values)),
        reference_missing=float(reference["missing"]),
        live_missing=float(1 - len(values) / len(raw)) if len(raw) else 0.0,
        rows=len(values),
        histogram=Histogram(labels, tuple(ref_share), tuple(live_share)),
    )


def categorical_drift(
    name: str, reference: Mapping[str, Any], series: Any, psi_max: float, alpha: float
) -> ColumnDrift:
    from scipy.stats import chisquare

    present = series.dropna().astype(str)
    known: dict[str, float] = dict(reference["frequencies"])
    counts: dict[str, int] = {}
    for value, count in present.value_counts().items():
        key = str(value) if str(value) in known else (OTHER if OTHER in known else NEW)
        counts[key] = counts.get(key, 0) + int(count)
    labels = tuple(sorted(set(known) | set(counts), key=lambda k: (-known.get(k, 0.0), k)))
    n = len(present)
    ref_share = [known.get(k, 0.0) for k in labels]
    live_share = [counts.get(k, 0) / n if n else 0.0 for k in labels]
    score = psi(ref_share, live_share)
    if len(labels) > 1 and n:
        expected = [max(s, EPSILON) for s in ref_share]
        scale = n / sum(expected)
        pvalue = float(chisquare([counts.get(k, 0) for k in labels], [e * scale for e in expected]).pvalue)
    else:
        pvalue = 1.0
    return ColumnDrift(
        name=name,
        kind="categorical",
        psi=score,
        pvalue=pvalue if math.isfinite(pvalue) else 0.0,
        test="chi2",
        drifted=score > psi_max and pvalue < alpha,
        reference_mean=None,
        live_mean=None,
        reference_missing=float(reference["missing"]),
        live_missing=float(1 - n / len(series)) if len(series) else 0.0,
        rows=n,
        histogram=Histogram(labels, tuple(ref_share), tuple(live_share)),
    )


def column_drift(name: str, reference: Mapping[str, Any], series: Any, psi_max: float, alpha: float) -> ColumnDrift:
    if reference["kind"] == "numeric":
        return numeric_drift(name, reference, series, psi_max, alpha)
    return categorical_drift(name, reference, series, psi_max, alpha)


def schema_issues(features: Mapping[str, Mapping[str, Any]], batch: Any) -> list[SchemaIssue]:
    issues = []
    columns = [str(c) for c in batch.columns]
    for name, ref in features.items():
        if name not in columns:
            issues.append(SchemaIssue(name, "missing", "in the training data, not in the batch"))
            continue
        live = batch[name]
        if ref["kind"] == "numeric" and kind_of(live) != "numeric":
            issues.append(SchemaIssue(name, "type", f"was numeric ({ref.get('dtype', 'number')}), now {live.dtype}"))
        elif ref["kind"] == "numeric" and ref.get("count", 0) and live.notna().sum() == 0:
            issues.append(SchemaIssue(name, "empty", "every value is missing"))
    return issues


def compare(
    profile: Mapping[str, Any],
    batch: Any,
    t: Thresholds,
    *,
    predictions: Any = None,
    ignore: Sequence[str] = (),
) -> DriftResult:
    """Drift of `batch` (a DataFrame) against `profile`; `ignore` names batch columns that are
    not features (the label column, say) and so are not "extra"."""
    features: Mapping[str, Mapping[str, Any]] = profile["features"]
    issues = schema_issues(features, batch)
    skip = {i.column for i in issues}
    for column in batch.columns:
        if str(column) not in features and str(column) not in ignore:
            issues.append(SchemaIssue(str(column), "extra", "in the batch, not a feature of the model"))
    tested = [name for name, ref in features.items() if name not in skip and ref.get("count", 0)]
    # One test per feature: without the correction, 30 features at p < 0.01 would raise a false
    # alarm on about one batch in four that did not drift at all.
    alpha = t.ks_pvalue_min / len(tested) if t.correction == "bonferroni" and tested else t.ks_pvalue_min
    drift = tuple(column_drift(name, features[name], batch[name], t.psi_max, alpha) for name in tested)
    prediction = None
    notes: list[str] = []
    if predictions is not None:
        import pandas as pd

        series = pd.Series(predictions)
        if profile["prediction"]["kind"] == "categorical":
            series = series.astype(str)
        prediction = column_drift("prediction", profile["prediction"], series, t.prediction_psi_max, t.ks_pvalue_min)
    elif not skip:
        notes.append("predictions were not compared")
    return DriftResult(drift, tuple(issues), t, prediction, tuple(notes))
