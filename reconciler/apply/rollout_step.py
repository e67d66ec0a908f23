"""Start and abort rollouts. Starting one checks what a promotion checks (the gates of the
environment and upstream, the policies' consent), then points `<env>-candidate` at the version
and records the rollout; the environment's alias moves only when the rollout is promoted, by
whoever advances it (`reconciler serve` or `reconciler rollout`)."""

from __future__ import annotations

import time
from dataclasses import replace

from reconciler.apply.alias_step import version_to_move
from reconciler.apply.outcome import Status, StepResult
from reconciler.apply.run import Run, now
from reconciler.plan.model import Action
from reconciler.state.actual import version_label
from reconciler.state.rollout import ABORTED, CANCELLED, RolloutState, RolloutVerdict


def run_rollout(run: Run, action: Action) -> StepResult:
    version = version_to_move(run, action, "roll out")
    if isinstance(version, StepResult):
        return version
    target = run.targets[(action.environment, action.model)]
    spec = target.entry.rollout
    if spec is None:  # the plan came from elsewhere (a saved plan) and the specs changed since
        return StepResult(Status.FAILED, "the specs no longer give this environment a rollout; run plan again")
    if run.preview:
        return StepResult(Status.SKIPPED, "a preview starts no rollout")
    state = RolloutState(
        environment=action.environment,
        candidate=version.version,
        champion=action.from_version,
        fingerprint=version.fingerprint,
        spec=spec,
        step_started=time.time(),
        started=now(),
        commit=run.provenance.commit,
        plan=run.plan_id,
        gates=target.entry.gates_hash,
    )
    first = spec.steps[0].describe()
    reason = f"{spec.describe()} (step 1: {first})"
    entry = replace(
        run.entry(action.environment, action.from_version, action.from_version, reason, target.entry.gates_hash),
        event="started",
        candidate=version.version,
    )
    run.store.start_rollout(action.model, state, entry)
    run.cache.model(action.model, refresh=True)
    stays = version_label(action.from_version)
    return StepResult(
        Status.DONE, f"{action.environment}: v{version.version} rolling out ({first}); {stays} serves", version.version
    )


def run_abort(run: Run, action: Action) -> StepResult:
    rm = run.cache.model(action.model, refresh=True)
    rolling = rm.rollout(action.environment) if rm else None
    if rolling is None:
        return StepResult(Status.DONE, "no rollout under way any more")
    if run.preview:
        return StepResult(Status.SKIPPED, "a preview aborts no rollout")
    reason = f"aborted by apply: {action.reason}"
    ended = rolling.moved(phase=ABORTED, reason=reason)
    # Cancelled, not aborted: the specs changed, nothing was learnt against the candidate, so
    # bringing it back later (a revert of the revert) rolls it out again.
    verdict = RolloutVerdict(action.environment, CANCELLED, reason, now())
    champion = rolling.champion
    entry = replace(
        run.entry(action.environment, champion, champion, reason), event="aborted", candidate=rolling.candidate
    )
    if not run.store.end_rollout(action.model, rolling, ended, verdict, entry):
        return StepResult(Status.FAILED, "the rollout changed while aborting it; run plan again")
    run.cache.model(action.model, refresh=True)
    return StepResult(
        Status.DONE, f"{action.environment}: rollout of v{rolling.candidate} aborted; {version_label(champion)} stays"
    )
