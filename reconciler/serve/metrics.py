"""What the server counts, in Prometheus' exposition format (`/metrics`). One registry per app,
so two servers in one process (tests) never share counts."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LABELS = ("environment", "model", "version")
# Seconds; fine at the low end, where a small model answers.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class Metrics:
    registry: CollectorRegistry
    requests: Counter
    errors: Counter
    latency: Histogram
    rows: Counter
    cpu_seconds: Counter
    cost: Counter
    loads: Counter
    swaps: Counter
    cache_hits: Counter
    cache_misses: Counter
    logged_rows: Counter
    dropped_rows: Counter
    serving: Gauge
    rollout_weight: Gauge
    candidate_failures: Counter

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def new_metrics() -> Metrics:
    r = CollectorRegistry()
    return Metrics(
        registry=r,
        requests=Counter("reconciler_requests", "Answered requests", LABELS, registry=r),
        errors=Counter("reconciler_request_errors", "Requests answered with an error", (*LABELS, "status"), registry=r),
        latency=Histogram(
            "reconciler_request_seconds", "Time to answer a request", LABELS, buckets=LATENCY_BUCKETS, registry=r
        ),
        rows=Counter("reconciler_rows_predicted", "Rows predicted", LABELS, registry=r),
        cpu_seconds=Counter(
            "reconciler_cpu_seconds",
            "CPU seconds spent answering (reading the rows and predicting)",
            LABELS,
            registry=r,
        ),
        cost=Counter(
            "reconciler_cost",
            "CPU cost of answering, in the environment's currency (price_per_cpu_hour)",
            LABELS,
            registry=r,
        ),
        loads=Counter("reconciler_model_loads", "Model versions loaded", (*LABELS, "result"), registry=r),
        swaps=Counter("reconciler_model_swaps", "Versions swapped in to serve", LABELS, registry=r),
        cache_hits=Counter("reconciler_cache_hits", "Rows answered from the prediction cache", LABELS, registry=r),
        cache_misses=Counter("reconciler_cache_misses", "Rows the prediction cache did not hold", LABELS, registry=r),
        logged_rows=Counter("reconciler_request_log_rows", "Rows written to the request log", LABELS, registry=r),
        dropped_rows=Counter(
            "reconciler_request_log_dropped_rows", "Rows the request log could not keep up with", LABELS, registry=r
        ),
        serving=Gauge(
            "reconciler_serving_version", "1 for the version each (environment, model) serves", LABELS, registry=r
        ),
        rollout_weight=Gauge(
            "reconciler_rollout_weight",
            "Percent of requests a rollout's candidate answers (0 when none, or in a shadow rollout)",
            LABELS,
            registry=r,
        ),
        candidate_failures=Counter(
            "reconciler_candidate_failures",
            "Requests a rollout's candidate failed on (answered by the champion instead, or shadowed)",
            LABELS,
            registry=r,
        ),
    )
