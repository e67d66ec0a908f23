"""Measuring a fitted estimator: scikit-learn scorers, rows of a slice, a trivial baseline's
score, prediction latency and serialized size. scikit-learn is imported when first needed."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

WARMUP = 3


def score(estimator: Any, metrics: Sequence[str], x: Any, y: Any) -> dict[str, float]:
    from sklearn.metrics import get_scorer

    return {name: float(get_scorer(name)(estimator, x, y)) for name in metrics}


def dummy_score(estimator: Any, metric: str, x_train: Any, y_train: Any, x_test: Any, y_test: Any) -> float:
    from sklearn.base import is_classifier
    from sklearn.dummy import DummyClassifier, DummyRegressor

    dummy = DummyClassifier(strategy="prior") if is_classifier(estimator) else DummyRegressor(strategy="mean")
    dummy.fit(x_train, y_train)
    return score(dummy, [metric], x_test, y_test)[metric]


def predict_seconds(estimator: Any, x: Any, batch: int, repeats: int) -> list[float]:
    """Wall time of each of `repeats` predict() calls on `batch` rows of `x`, after a warm-up."""
    rows = x.sample(n=batch, replace=len(x) < batch, random_state=0)
    for _ in range(WARMUP):
        estimator.predict(rows)
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        estimator.predict(rows)
        timings.append(time.perf_counter() - start)
    return timings


def p95(values: list[float]) -> float:
    return float(statistics.quantiles(values, n=20, method="inclusive")[18])


def latency_p95_ms(estimator: Any, x: Any, batch: int, repeats: int) -> float:
    """p95 wall time of predict() on `batch` rows, after a warm-up, over `repeats` calls."""
    return p95([s * 1000 for s in predict_seconds(estimator, x, batch, repeats)])


def model_size_kb(estimator: Any) -> float:
    """Size of the serialized model, in the format MLflow stores it (skops, else pickle)."""
    try:
        import skops.io

        return len(skops.io.dumps(estimator)) / 1024
    except ImportError:
        import pickle

        return len(pickle.dumps(estimator)) / 1024
