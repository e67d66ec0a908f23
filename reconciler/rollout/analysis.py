"""One analysis run: what the candidate did since its step began, measured against the rollout's
thresholds. Pure: the server gathers the observations in memory, and the same function judges
them; nothing here reads the registry or the clock."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.monitor.drift import psi
from reconciler.spec.rollout import Analysis, AnalysisMetric
from reconciler.state.rollout import MetricResult

KEPT = 20_000  # observations kept per version and step: enough for a p95 and a PSI, bounded memory
PREDICTION_BINS = 10


@dataclass
class Side:
    """What one version answered (or failed to) since the step began."""

    requests: int = 0
    errors: int = 0
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=KEPT))
    predictions: deque[Any] = field(default_factory=lambda: deque(maxlen=KEPT))
    rows: deque[Mapping[str, Any]] = field(default_factory=lambda: deque(maxlen=KEPT))
    labelled: deque[tuple[Any, Any]] = field(default_factory=lambda: deque(maxlen=KEPT))  # (prediction, label)

    def copy(self) -> Side:
        return Side(
            self.requests,
            self.errors,
            deque(self.latencies_ms, maxlen=KEPT),
            deque(self.predictions, maxlen=KEPT),
            deque(self.rows, maxlen=KEPT),
            deque(self.labelled, maxlen=KEPT),
        )


@dataclass
class Observations:
    candidate: Side = field(default_factory=Side)
    champion: Side = field(default_factory=Side)

    def copy(self) -> Observations:
        return Observations(self.candidate.copy(), self.champion.copy())


@dataclass(frozen=True)
class Run:
    """A run's results; `verdict` is passed, failed, or inconclusive (not enough data yet)."""

    results: tuple[MetricResult, ...]
    verdict: str

    @property
    def failing(self) -> tuple[MetricResult, ...]:
        return tuple(r for r in self.results if r.passed is False)


def analyse(spec: Analysis, seen: Observations, profile: Mapping[str, Any] | None = None) -> Run:
    cand = seen.candidate
    if cand.requests < spec.min_requests:
        why = f"{cand.requests} of {spec.min_requests} requests answered by the candidate"
        results = tuple(_result(m, None, why) for m in spec.metrics)
        return Run(results, "inconclusive")
    results = tuple(_measure(m, seen, profile, spec.min_requests) for m in spec.metrics)
    if any(r.passed is False for r in results):
        return Run(results, "failed")
    if any(r.passed is None for r in results):
        return Run(results, "inconclusive")
    return Run(results, "passed")


def _result(metric: AnalysisMetric, value: float | None, detail: str = "") -> MetricResult:
    name = f"live_{metric.score}" if metric.score else metric.metric
    if value is None:
        return MetricResult(name, None, metric.threshold, metric.bound, None, detail)
    ok = value <= metric.threshold if metric.bound == "max" else value >= metric.threshold
    return MetricResult(name, value, metric.threshold, metric.bound, ok, detail)


def _measure(metric: AnalysisMetric, seen: Observations, profile: Mapping[str, Any] | None, least: int) -> MetricResult:
    import numpy as np

    cand, champ = seen.candidate, seen.champion
    if metric.metric == "error_rate":
        return _result(metric, cand.errors / cand.requests, f"{cand.errors} of {cand.requests} requests failed")
    if metric.metric == "latency_p95":
        if not cand.latencies_ms:
            return _result(metric, None, "no answered request")
        return _result(metric, float(np.percentile(list(cand.latencies_ms), 95)))
    if metric.metric == "prediction_drift":
        if len(champ.predictions) < least or len(cand.predictions) < least:
            return _result(metric, None, f"{len(champ.predictions)} champion answers, {least} needed")
        return _result(metric, prediction_psi(list(champ.predictions), list(cand.predictions)), "PSI vs the champion")
    if metric.metric == "input_drift":
        if profile is None:
            return _result(metric, None, "the candidate has no training profile")
        return _input_drift(metric, profile, list(cand.rows))
    return _quality(metric, list(cand.labelled), least)


def prediction_psi(reference: Sequence[Any], live: Sequence[Any]) -> float:
    """PSI of two sets of predictions: by class for labels, by the reference's deciles for
    continuous values."""
    import numpy as np

    if _continuous(reference) and _continuous(live):
        ref = np.asarray(reference, dtype=float)
        edges = np.unique(np.quantile(ref, np.linspace(0, 1, PREDICTION_BINS + 1)[1:-1]))
        ref_counts = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1)
        live_counts = np.bincount(
            np.searchsorted(edges, np.asarray(live, dtype=float), side="right"), minlength=len(edges) + 1
        )
        return psi(list(ref_counts / ref_counts.sum()), list(live_counts / live_counts.sum()))
    labels = sorted({str(v) for v in reference} | {str(v) for v in live})
    ref_share = [sum(1 for v in reference if str(v) == k) / len(reference) for k in labels]
    live_share = [sum(1 for v in live if str(v) == k) / len(live) for k in labels]
    return psi(ref_share, live_share)


def _continuous(values: Sequence[Any]) -> bool:
    return all(isinstance(v, float) for v in values) and any(not float(v).is_integer() for v in values)


def _input_drift(metric: AnalysisMetric, profile: Mapping[str, Any], rows: list[Mapping[str, Any]]) -> MetricResult:
    import pandas as pd

    from reconciler.monitor.drift import column_drift

    frame = pd.DataFrame.from_records(rows)
    features: Mapping[str, Mapping[str, Any]] = profile.get("features", {})
    scores = {
        name: column_drift(name, ref, frame[name], metric.threshold, 0.01).psi
        for name, ref in features.items()
        if name in frame.columns and ref.get("count", 0)
    }
    if not scores:
        return _result(metric, None, "no feature of the training profile in the requests")
    worst = max(scores, key=lambda k: scores[k])
    return _result(metric, scores[worst], f"largest PSI: {worst}")


def _quality(metric: AnalysisMetric, labelled: list[tuple[Any, Any]], least: int) -> MetricResult:
    if len(labelled) < least:
        return _result(metric, None, f"{len(labelled)} of {least} answers labelled")
    from sklearn import metrics as m

    predicted = [p for p, _ in labelled]
    truth = [y for _, y in labelled]
    score = {
        "accuracy": lambda: m.accuracy_score(truth, predicted),
        "balanced_accuracy": lambda: m.balanced_accuracy_score(truth, predicted),
        "f1_macro": lambda: m.f1_score(truth, predicted, average="macro"),
        "r2": lambda: m.r2_score(truth, predicted),
        "neg_mean_absolute_error": lambda: -m.mean_absolute_error(truth, predicted),
    }[metric.score or "accuracy"]()
    return _result(metric, float(score), f"{len(labelled)} labelled answers")
