"""Fitting one model from its target (in a child process: see `budget`).

Only the CPU work happens here (load and check the data, fit, score, measure, profile); every
registry write stays in the applying process, in plan order.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.apply import train
from reconciler.apply.measure import predict_cost_us_per_row, serialized
from reconciler.data import profile
from reconciler.desired.model import Target
from reconciler.gates.measures import (
    COST_BATCH,
    COST_REPEATS,
    MODEL_SIZE,
    PREDICT_P50,
    PREDICT_P95,
    TRAINING_SECONDS,
)
from reconciler.spec.catalog import Catalog

Progress = Callable[[int, int, str, float], None]  # done, total, what finished, seconds so far


@dataclass(frozen=True)
class Fitted:
    """A fitted model and what was measured on it, or why it could not be fitted."""

    estimator: Any = None
    metrics: Mapping[str, float] | None = None
    fit_seconds: float = 0.0
    profile: Mapping[str, Any] | None = None
    example: Any = None
    predictions_example: Any = None
    data_problems: str | None = None
    error: str | None = None  # an expected failure (scikit-learn refused the data or parameters)
    traceback: str | None = None  # set with `error` when the failure was a bug, not the spec's fault
    trusted_types: tuple[str, ...] | None = None
    columns: Any = None  # an empty frame with the splits' columns and dtypes (MLflow's dataset inputs)
    rows: tuple[int, int] = (0, 0)  # train, test


def fit_target(target: Target, catalog: Catalog) -> Fitted:
    """Runs in a fit child (see `budget`): the applying process passes the chaos points around
    it, and reloads the split when it measures (sending the data back costs more)."""
    from reconciler.data.frames import check_data, load_frame, split

    dataset = target.resolved.dataset
    try:
        frame = load_frame(dataset, target.data_root)
    except (OSError, ValueError, KeyError) as exc:
        return Fitted(data_problems=f"cannot load dataset '{dataset.name}': {exc}".splitlines()[0])
    problems = check_data(dataset, frame)
    if problems:
        return Fitted(data_problems="data checks failed: " + "; ".join(problems))
    data = split(dataset, frame)
    model = target.resolved.model
    start = time.perf_counter()
    try:
        estimator = train.fit(model.estimator, model.seed, data, catalog)
    except (ValueError, TypeError) as exc:
        # scikit-learn's own checks (a parameter it rejects, data it cannot fit): name the spec.
        return Fitted(error=f"{target.spec_file}: estimator: scikit-learn refused to fit: {_first(exc)}")
    fit_seconds = time.perf_counter() - start
    try:
        metrics = train.score(estimator, model.metrics, data.x_test, data.y_test)
    except (ValueError, TypeError) as exc:
        # A scorer that does not fit the data (a binary-only scorer on a multiclass target).
        return Fitted(error=f"{target.spec_file}: metrics: scikit-learn could not score: {_first(exc)}")
    metrics[TRAINING_SECONDS] = round(fit_seconds, 6)
    metrics[MODEL_SIZE], trusted = serialized(estimator)
    metrics[PREDICT_P50], metrics[PREDICT_P95] = predict_cost_us_per_row(
        estimator, data.x_test, COST_BATCH, COST_REPEATS
    )
    example = data.x_test.head(5)
    return Fitted(
        estimator=estimator,
        metrics=metrics,
        fit_seconds=fit_seconds,
        profile=profile.build(data.x_train, estimator.predict(data.x_test), train.task_of(estimator)),
        example=example,
        predictions_example=estimator.predict(example),
        trusted_types=trusted,
        columns=_columns(data.x_train, data.y_train),
        rows=(len(data.x_train), len(data.x_test)),
    )


def _columns(x: Any, y: Any) -> Any:
    import pandas as pd

    return pd.concat([x.head(0), y.head(0)], axis=1)


def _first(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def fit_guarded(target: Target, catalog: Catalog) -> Fitted:
    """fit_target, with a bug turned into that model's failure (its traceback kept), so one
    model never stops the others."""
    try:
        return fit_target(target, catalog)
    except Exception as exc:
        import traceback

        return Fitted(error=f"internal error: {type(exc).__name__}: {_first(exc)}", traceback=traceback.format_exc())
