"""What a rollout does next, given where it is, the time, and an analysis run. Pure.

Every step needs one analysis run that passed while it held (a weight is verified before it
grows; a pause holds for its duration and is verified too). More than `failure_limit` failed
runs abort the rollout. After the last step the candidate is promoted."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.rollout.analysis import Run
from reconciler.state.rollout import ABORTED, PROMOTED, RolloutState

WAIT, ADVANCE, PROMOTE, ABORT = "wait", "advance", "promote", "abort"


@dataclass(frozen=True)
class Decision:
    kind: str
    state: RolloutState  # the rollout after this decision (what the registry should hold)
    reason: str = ""


def due(state: RolloutState, now: float) -> bool:
    """Whether an analysis run is due."""
    assert state.spec.analysis is not None
    return now - max(state.last_run, state.step_started) >= state.spec.analysis.interval_seconds


def decide(state: RolloutState, run: Run, now: float) -> Decision:
    analysis = state.spec.analysis
    assert analysis is not None  # a gradual rollout always has one
    judged = state.moved(last=run.results, last_run=now)
    if run.verdict == "failed":
        failures = state.failures + 1
        judged = judged.moved(failures=failures)
        failing = "; ".join(r.describe() for r in run.failing)
        if failures > analysis.failure_limit:
            times = f"{failures} time{'s' if failures > 1 else ''}"
            reason = f"analysis failed {times} (limit {analysis.failure_limit}): {failing}"
            return Decision(ABORT, judged.moved(phase=ABORTED, reason=reason), reason)
        return Decision(WAIT, judged, f"analysis failed ({failures} of {analysis.failure_limit} allowed): {failing}")
    if run.verdict == "inconclusive":
        return Decision(
            WAIT, judged, "waiting for data: " + "; ".join(r.describe() for r in run.results if r.passed is None)
        )
    judged = judged.moved(runs=state.runs + 1)
    step = state.spec.steps[state.step]
    held = now - state.step_started
    if held < step.pause_seconds:
        return Decision(WAIT, judged, f"analysis passed; pausing {step.pause_seconds - held:.0f}s more")
    if state.step + 1 < len(state.spec.steps):
        nxt = state.step + 1
        after = judged.moved(step=nxt, step_started=now, runs=0)
        return Decision(ADVANCE, after, f"step {nxt + 1}/{len(state.spec.steps)}: {state.spec.steps[nxt].describe()}")
    reason = "every step passed its analysis: " + "; ".join(r.describe() for r in run.results)
    return Decision(PROMOTE, judged.moved(phase=PROMOTED, reason=reason), reason)
