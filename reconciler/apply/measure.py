"""Take the measurements gate rules need: metrics (on the test split or a slice of it), a
trivial baseline's score, prediction latency and serialized size."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.apply.train import score
from reconciler.data.frames import Split
from reconciler.diagnostics import ReconcilerError
from reconciler.gates.measures import MODEL_SIZE, TRAINING_SECONDS
from reconciler.spec.kinds import BaselineRule, CostRule, MetricRule, Slice

WARMUP = 3


def measure(
    wanted: Iterable[str],
    definitions: Mapping[str, MetricRule | CostRule | BaselineRule | str],
    estimator: Any,
    data: Split,
) -> dict[str, float]:
    """Measurements for `wanted` keys; training time cannot be measured after the fact."""
    out: dict[str, float] = {}
    for key in sorted(wanted):
        if key == TRAINING_SECONDS:
            continue  # recorded when the version was trained
        spec = definitions.get(key, key)
        if key == MODEL_SIZE:
            out[key] = model_size_kb(estimator)
        elif isinstance(spec, str):
            out[key] = score(estimator, [spec], data.x_test, data.y_test)[spec]
        elif isinstance(spec, MetricRule) and spec.slice is not None:
            x, y = select(data.x_test, data.y_test, spec.slice)
            if len(y) == 0:
                raise ReconcilerError(f"slice '{spec.slice.describe()}' selects no rows of the test split")
            out[key] = score(estimator, [spec.metric], x, y)[spec.metric]
        elif isinstance(spec, BaselineRule):
            out[key] = dummy_score(estimator, spec.metric, data)
        elif isinstance(spec, CostRule) and spec.cost == "latency_p95_ms":
            out[key] = latency_p95_ms(estimator, data.x_test, spec.batch, spec.repeats)
    return out


def select(x: Any, y: Any, s: Slice) -> tuple[Any, Any]:
    if s.column not in x.columns:
        raise ReconcilerError(f"slice column '{s.column}' is not a feature of the test split")
    column = x[s.column]
    op, value = s.operator
    mask = {
        "gt": lambda: column > value,
        "ge": lambda: column >= value,
        "lt": lambda: column < value,
        "le": lambda: column <= value,
        "eq": lambda: column == value,
        "ne": lambda: column != value,
        "in": lambda: column.isin(value),
    }[op]()
    return x[mask], y[mask]


def dummy_score(estimator: Any, metric: str, data: Split) -> float:
    from sklearn.base import is_classifier
    from sklearn.dummy import DummyClassifier, DummyRegressor

    dummy = DummyClassifier(strategy="prior") if is_classifier(estimator) else DummyRegressor(strategy="mean")
    dummy.fit(data.x_train, data.y_train)
    return score(dummy, [metric], data.x_test, data.y_test)[metric]


def latency_p95_ms(estimator: Any, x: Any, batch: int, repeats: int) -> float:
    """p95 wall time of predict() on `batch` rows, after a warm-up, over `repeats` calls."""
    rows = x.sample(n=batch, replace=len(x) < batch, random_state=0)
    for _ in range(WARMUP):
        estimator.predict(rows)
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        estimator.predict(rows)
        timings.append((time.perf_counter() - start) * 1000)
    return float(statistics.quantiles(timings, n=20, method="inclusive")[18])


def predict_cost_us_per_row(estimator: Any, x: Any, batch: int, repeats: int) -> tuple[float, float]:
    """p50 and p95 of predict() time per row, in microseconds, on `batch` rows of `x`."""
    rows = x.sample(n=batch, replace=len(x) < batch, random_state=0)
    for _ in range(WARMUP):
        estimator.predict(rows)
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        estimator.predict(rows)
        timings.append((time.perf_counter() - start) * 1e6 / batch)
    cuts = statistics.quantiles(timings, n=20, method="inclusive")
    return round(statistics.median(timings), 4), round(cuts[18], 4)


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


def model_size_kb(estimator: Any) -> float:
    """Size of the serialized model, in the format MLflow stores it (skops, else pickle)."""
    try:
        import skops.io

        return len(skops.io.dumps(estimator)) / 1024
    except ImportError:
        import pickle

        return len(pickle.dumps(estimator)) / 1024
