"""The `rollout` block: how a new version takes an environment's traffic, in Argo Rollouts'
vocabulary. Canary steps set the candidate's share of requests (`weight`) or hold it (`pause`);
shadow sends the candidate a copy of every request and never returns its answers. An analysis
runs every `interval` while the rollout progresses; more than `failure_limit` failed runs abort
it. Never part of a fingerprint: it changes how a version reaches traffic, not what was trained.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from reconciler.fields import Spec

DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
MAX_SECONDS = 7 * 86_400


def _duration(text: str) -> str:
    value = seconds(text)
    if value <= 0 or value > MAX_SECONDS:
        raise ValueError(f"a duration must be more than 0 and at most 7 days (got {text})")
    return text


Duration = Annotated[
    str,
    StringConstraints(max_length=32),
    AfterValidator(_duration),
    Field(json_schema_extra={"pattern": DURATION.pattern}),
]

# What the analysis can measure, and which way its threshold bounds it.
METRICS: dict[str, str] = {
    "error_rate": "max",  # share of the candidate's requests that failed (5xx)
    "latency_p95": "max",  # the candidate's 95th percentile latency, in milliseconds
    "prediction_drift": "max",  # PSI of the candidate's predictions against the champion's
    "input_drift": "max",  # the largest PSI of a feature of the candidate's inputs against its training data
    "live_quality": "min",  # a score of the candidate's answers against labels sent back
}
QUALITY_SCORES = ("accuracy", "balanced_accuracy", "f1_macro", "r2", "neg_mean_absolute_error")


def seconds(duration: str) -> float:
    match = DURATION.match(duration)
    if match is None:
        raise ValueError(f"'{duration}' is not a duration like 500ms, 30s, 5m or 1h")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


class RolloutStep(Spec):
    """One step: set the candidate's share of traffic, or hold it for a while."""

    weight: Annotated[int, Field(ge=1, le=100)] | None = Field(
        default=None, description="Percent of requests the candidate answers from this step on."
    )
    pause: Duration | None = Field(default=None, description="Hold the current weight this long (30s, 5m, 1h).")

    @model_validator(mode="after")
    def _one(self) -> RolloutStep:
        if (self.weight is None) == (self.pause is None):
            raise ValueError("a step is either {weight: N} or {pause: DURATION}")
        return self

    @property
    def pause_seconds(self) -> float:
        return seconds(self.pause) if self.pause is not None else 0.0

    def describe(self) -> str:
        return f"weight {self.weight}%" if self.weight is not None else f"pause {self.pause}"


class AnalysisMetric(Spec):
    """One measurement with its bound: `max` for rates, latencies and drift, `min` for quality."""

    metric: Literal["error_rate", "latency_p95", "prediction_drift", "input_drift", "live_quality"]
    max: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    min: Annotated[float, Field(allow_inf_nan=False)] | None = None
    score: Literal["accuracy", "balanced_accuracy", "f1_macro", "r2", "neg_mean_absolute_error"] | None = Field(
        default=None, description="live_quality only: how answers are scored against the labels sent back."
    )

    @model_validator(mode="after")
    def _bound(self) -> AnalysisMetric:
        way = METRICS[self.metric]
        other = "min" if way == "max" else "max"
        if getattr(self, other) is not None:
            raise ValueError(f"{self.metric} is bounded by '{way}', not '{other}'")
        if getattr(self, way) is None:
            raise ValueError(f"{self.metric} needs a '{way}' threshold")
        if (self.score is not None) != (self.metric == "live_quality"):
            raise ValueError("'score' is required for live_quality and only for it")
        return self

    @property
    def threshold(self) -> float:
        value = self.max if self.max is not None else self.min
        assert value is not None  # the validator requires one
        return value

    @property
    def bound(self) -> str:
        return METRICS[self.metric]

    def describe(self) -> str:
        name = f"live {self.score}" if self.score else self.metric
        sign = "<=" if self.bound == "max" else ">="
        unit = " ms" if self.metric == "latency_p95" else ""
        return f"{name} {sign} {self.threshold:g}{unit}"


class Analysis(Spec):
    interval: Duration = Field(default="1m", description="How often the analysis runs while the rollout progresses.")
    failure_limit: Annotated[int, Field(ge=0, le=1000)] = Field(
        default=0, description="Failed runs tolerated: one more aborts the rollout."
    )
    min_requests: Annotated[int, Field(ge=1, le=10_000_000)] = Field(
        default=20, description="Requests the candidate must have answered for a run to count."
    )
    metrics: list[AnalysisMetric] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> Analysis:
        names = [m.metric for m in self.metrics]
        dup = sorted({n for n in names if names.count(n) > 1 and n != "live_quality"})
        if dup:
            raise ValueError(f"metric '{dup[0]}' is listed twice")
        return self

    @property
    def interval_seconds(self) -> float:
        return seconds(self.interval)


class Rollout(Spec):
    """How a new version replaces the one an environment serves. Without it (or with
    `strategy: immediate`) promotion is one alias move."""

    strategy: Literal["canary", "shadow", "immediate"]
    steps: list[RolloutStep] = Field(default_factory=list)
    analysis: Analysis | None = None
    key_header: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]+$", max_length=64)] | None = Field(
        default=None,
        description="A request header whose value picks the version (sticky per caller); else per request.",
    )

    @model_validator(mode="after")
    def _check(self) -> Rollout:
        if self.strategy == "immediate":
            if self.steps or self.analysis or self.key_header:
                raise ValueError("strategy 'immediate' takes no steps, analysis or key_header")
            return self
        if not self.steps:
            raise ValueError(f"strategy '{self.strategy}' needs steps")
        if self.analysis is None:
            raise ValueError(f"strategy '{self.strategy}' needs an analysis (what decides promote or abort)")
        if self.strategy == "shadow":
            if any(s.weight is not None for s in self.steps):
                raise ValueError("a shadow rollout never sends the candidate's answers: its steps are pauses only")
            if self.key_header:
                raise ValueError("key_header splits traffic; a shadow rollout copies all of it")
        elif self.steps[0].weight is None:
            raise ValueError("a canary rollout starts with a {weight: N} step")
        return self

    @property
    def gradual(self) -> bool:
        return self.strategy != "immediate"

    def weight_at(self, step: int) -> int:
        """The candidate's share of requests at step `step` (0 in a shadow rollout)."""
        weights = [s.weight for s in self.steps[: step + 1] if s.weight is not None]
        return weights[-1] if weights else 0

    def describe(self) -> str:
        if self.strategy == "immediate":
            return "immediate"
        if self.strategy == "shadow":
            return "shadow for " + " + ".join(s.pause or "" for s in self.steps)
        weights = [f"{s.weight}%" for s in self.steps if s.weight is not None]
        return "canary " + " -> ".join([*weights, "100%"] if weights[-1] != "100%" else weights)
