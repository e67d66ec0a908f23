"""Take the measurements gate rules need (each rule type says how: reconciler.rules), and the
costs recorded on every version: predict time per row and serialized size."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.data.frames import Split
from reconciler.rules.base import Measure
from reconciler.rules.metric import on_test_split
from reconciler.rules.scoring import model_size_kb, p95, predict_seconds


def measure(wanted: Iterable[str], definitions: Mapping[str, Measure], estimator: Any, data: Split) -> dict[str, float]:
    """Measurements for `wanted` keys; what is recorded at training (its time) is skipped."""
    out: dict[str, float] = {}
    for key in sorted(wanted):
        how = definitions[key] if key in definitions else on_test_split(key)
        if how is not None:
            out[key] = how(estimator, data)
    return out


def predict_cost_us_per_row(estimator: Any, x: Any, batch: int, repeats: int) -> tuple[float, float]:
    """p50 and p95 of predict() time per row, in microseconds, on `batch` rows of `x`."""
    timings = [s * 1e6 / batch for s in predict_seconds(estimator, x, batch, repeats)]
    return round(statistics.median(timings), 4), round(p95(timings), 4)


def serialized(estimator: Any) -> tuple[float, tuple[str, ...] | None]:
    """Size in KB of the model as MLflow stores it, and the skops types it holds that we vouch
    for when logging (we built it from an allowlisted class): one serialization for both, since
    for a model of a thousand trees each one costs seconds."""
    try:
        import skops.io
    except ImportError:
        return model_size_kb(estimator), None
    blob = skops.io.dumps(estimator)
    return len(blob) / 1024, tuple(skops.io.get_untrusted_types(data=blob))
