"""Promote and demote: move an environment's alias, compare-and-set against where the plan saw
it, and append the move to the ledger. A promotion needs a passing verdict under the gates of
the environment and of every one upstream, and the policies' consent right before the move."""

from __future__ import annotations

from reconciler import chaos
from reconciler.apply.outcome import Status, StepResult
from reconciler.apply.run import Run
from reconciler.plan.model import Action
from reconciler.state.actual import VersionState, version_label


def version_to_move(run: Run, action: Action, what: str) -> VersionState | StepResult:
    """The version the environment should take, or why it may not (the step's result)."""
    version = run.cache.version(action.model, action.fingerprint, action.to_version)
    if version is None:
        why = run.failed_fingerprints.get((action.model, action.fingerprint or ""), f"no version to {what}")
        return StepResult(Status.SKIPPED, why)
    refused = refusal_to_move(run, action, version)
    return refused if refused is not None else version


def run_promote(run: Run, action: Action) -> StepResult:
    version = version_to_move(run, action, "promote")
    if isinstance(version, StepResult):
        return version
    target = run.targets[(action.environment, action.model)]
    chaos.point("promote:before-alias")
    ledger = run.store.move_alias(action.model, action.environment, action.from_version, version.version)
    chaos.point("promote:after-alias")
    entry = run.store.append_ledger(
        action.model,
        run.entry(action.environment, action.from_version, version.version, action.reason, target.entry.gates_hash),
        ledger,
    )
    run.cache.moved(action.model, action.environment, version.version, (*ledger, entry))
    moved = f"{action.environment}: {version_label(action.from_version)} -> v{version.version}"
    return StepResult(Status.DONE, moved, version.version)


def refusal_to_move(run: Run, action: Action, version: VersionState) -> StepResult | None:
    """Why the environment may not take `version` (its gates, or upstream ones, or the
    policies), as the step's result; None when it may."""
    target = run.targets[(action.environment, action.model)]
    for env, gates in [*reversed(target.entry.ancestors), (action.environment, target.entry.gates_hash)]:
        verdict = version.verdict(env, gates)
        if verdict is None:
            return StepResult(Status.FAILED, f"v{version.version} has no current verdict for the gates of '{env}'")
        if not verdict.passed:
            # The evaluate step already reported the failure with its numbers.
            where = "its gates" if env == action.environment else f"the gates of '{env}'"
            stays = version_label(action.from_version)
            return StepResult(Status.SKIPPED, f"v{version.version} failed {where}; alias stays at {stays}")
    rm = run.cache.model(action.model)
    if rm is not None and rm.aliases.get(action.environment) == version.version:
        return StepResult(Status.DONE, f"already at v{version.version}", version.version)
    if run.move_check is not None:
        current = rm.versions.get(action.from_version) if rm and action.from_version else None
        refusals = run.move_check(action, version, current)
        if refusals:
            stays = version_label(action.from_version)
            return StepResult(Status.FAILED, "; ".join(refusals) + f"; alias stays at {stays}")
    return None


def run_demote(run: Run, action: Action) -> StepResult:
    ledger = run.store.move_alias(action.model, action.environment, action.from_version, None)
    entry = run.store.append_ledger(
        action.model,
        run.entry(action.environment, action.from_version, None, action.reason),
        ledger,
    )
    run.cache.moved(action.model, action.environment, None, (*ledger, entry))
    return StepResult(Status.DONE, f"{action.environment}: {version_label(action.from_version)} -> (none)")


def record_unledgered(run: Run, action: Action) -> None:
    """An alias moved without its ledger entry (see `unledgered`) is recorded now, so history
    stays whole."""
    rm = run.cache.models.get(action.model)
    if rm is None or action.to_version is None or not rm.unledgered(action.environment, action.to_version):
        return
    last = rm.last_move(action.environment)
    target = run.targets.get((action.environment, action.model))
    run.store.append_ledger(
        action.model,
        run.entry(
            action.environment,
            last.to_version if last else None,
            action.to_version,
            "recorded: the alias was already at the desired version (an interrupted apply)",
            target.entry.gates_hash if target else "",
        ),
    )
    run.cache.model(action.model, refresh=True)
