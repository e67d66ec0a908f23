"""Apply a plan. Each step re-reads what it depends on, so a rerun after a crash or a race
converges: a fingerprint already registered is reused, a verdict already recorded is not
recomputed, an alias is moved only if it still points where the plan saw it.

The steps are modules of their own (train_step, evaluate_step, alias_step) around one
RegistryCache; this module runs them in plan order, fits ahead in the background, and
refuses any action on what the reconciler does not own.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping

from reconciler import chaos
from reconciler.apply.alias_step import record_unledgered, run_demote, run_promote
from reconciler.apply.cache import RegistryCache
from reconciler.apply.evaluate_step import run_evaluate
from reconciler.apply.fit import Fitted, Progress
from reconciler.apply.outcome import Listener, Outcome, Report, Status, StepResult
from reconciler.apply.prefit import Prefits
from reconciler.apply.rollout_step import run_abort, run_rollout
from reconciler.apply.run import Run
from reconciler.apply.train_step import run_train
from reconciler.desired.model import Target
from reconciler.diagnostics import ReconcilerError
from reconciler.plan.model import Action, Kind, Plan
from reconciler.policy.police import MoveCheck
from reconciler.spec.catalog import Catalog
from reconciler.state.actual import ActualState
from reconciler.state.mlflow_store import LeaseLost, MlflowStore, RegistryUnavailable
from reconciler.vcs.git import Provenance

STEPS: Mapping[Kind, Callable[[Run, Action], StepResult]] = {
    Kind.TRAIN: run_train,
    Kind.EVALUATE: run_evaluate,
    Kind.PROMOTE: run_promote,
    Kind.DEMOTE: run_demote,
    Kind.ROLLOUT: run_rollout,
    Kind.ABORT: run_abort,
}


class Executor:
    def __init__(
        self,
        store: MlflowStore,
        targets: Mapping[tuple[str, str], Target],
        catalog: Catalog,
        provenance: Provenance,
        listener: Listener | None = None,
        move_check: MoveCheck | None = None,
        actual: ActualState | None = None,
        jobs: int = 1,
        progress: Progress | None = None,
        prefitted: Mapping[tuple[str, str], Fitted] | None = None,
        preview: bool = False,
    ) -> None:
        self.listener = listener or (lambda phase, action, outcome: None)
        self.jobs = jobs
        self.progress = progress
        self.run_state = Run(
            store,
            RegistryCache(store, actual),
            targets,
            catalog,
            provenance,
            move_check,
            preview,
            prefitted=Prefits(prefitted),
        )

    def run(self, plan: Plan) -> Report:
        run = self.run_state
        run.plan_id = plan.id
        report = Report()
        try:
            if self.jobs > 1:
                self._prefit(plan)
            self._steps(plan, report)
        finally:
            run.prefitted.close()  # fits still under way when a run stops early are not wanted
        return report

    def _steps(self, plan: Plan, report: Report) -> None:
        run = self.run_state
        for action in plan.actions:
            if action.kind is Kind.NOOP:
                record_unledgered(run, action)
                continue
            chaos.point("apply:between-actions")
            self.listener("start", action, None)
            start = time.perf_counter()
            try:
                result = self._step(action)
            except (RegistryUnavailable, LeaseLost):
                raise  # every later step would fail the same way (or must not write at all)
            except ReconcilerError as exc:
                result = StepResult(Status.FAILED, str(exc))
            except Exception as exc:
                # A bug, not the spec's fault; still, one model's failure must not stop the
                # others from converging. RECONCILER_DEBUG=1 lets it through with its traceback.
                if os.environ.get("RECONCILER_DEBUG"):
                    raise
                text = f"internal error: {type(exc).__name__}: {exc}".splitlines()[0]
                result = StepResult(Status.FAILED, text)
            reused = action.kind is Kind.TRAIN and (action.model, result.version) in run.reused
            seconds = time.perf_counter() - start
            outcome = Outcome(action, result.status, result.message, seconds, result.version, reused, result.cost)
            report.outcomes.append(outcome)
            self.listener("end", action, outcome)

    def _step(self, action: Action) -> StepResult:
        if action.kind is Kind.BLOCKED:
            return StepResult(Status.FAILED, action.reason, action.to_version)
        refusal = self._refusal(action)
        if refusal is not None:
            return StepResult(Status.FAILED, refusal)
        step = STEPS.get(action.kind)
        return step(self.run_state, action) if step else StepResult(Status.SKIPPED, "nothing to do")

    def _prefit(self, plan: Plan) -> None:
        """Fit the models the plan trains in parallel processes, in the background: each train
        step takes its fit when it is back and records it, in plan order, while the later ones
        still fit."""
        run = self.run_state
        work: dict[tuple[str, str], Target] = {}
        for action in plan.actions:
            if action.kind is not Kind.TRAIN or action.fingerprint is None:
                continue
            key = (action.model, action.fingerprint)
            if key not in run.prefitted and run.cache.version(action.model, action.fingerprint, None) is None:
                work.setdefault(key, run.targets[(action.environment, action.model)])
        if not work:
            return
        # Every fit is a child of the fork server, here or in the background, so fitting ahead
        # costs nothing over fitting in the step: even the first step gains, since this process
        # loads MLflow's logging while its fit runs. One of the N jobs is this process,
        # recording the fits that are back: with N workers as well, three CPU-bound processes
        # on two cores made the whole run slower.
        run.prefitted.start(work, run.catalog, max(1, self.jobs - 1), self.progress if len(work) > 1 else None)
        run.store.prepare_to_log()

    def _refusal(self, action: Action) -> str | None:
        """Whatever the plan says, an action touches only what the reconciler owns.

        The planner never makes such an action; this holds when the plan came from elsewhere
        (a saved plan file, a future caller) and keeps a mistake from reaching the registry.
        """
        cache, targets = self.run_state.cache, self.run_state.targets
        if action.model in cache.unmanaged:
            return f"registered model '{action.model}' is not managed by the reconciler; not touched"
        if action.kind is Kind.ABORT:
            return None  # ending a rollout of a model we manage is always allowed; it never moves an alias
        if action.kind is not Kind.DEMOTE:
            if (action.environment, action.model) not in targets:
                return f"'{action.model}' is not deployed to '{action.environment}' by the specs; not touched"
            return None
        rm = cache.model(action.model)
        current = rm.aliases.get(action.environment) if rm is not None else None
        if rm is None or current is None:
            return None  # nothing to delete: the demote is already done
        if (action.environment, action.model) in targets:
            return f"the specs deploy '{action.model}' to '{action.environment}'; its alias is not deleted"
        last = rm.last_move(action.environment)
        if last is None or last.to_version != current:
            return (
                f"alias '{action.environment}' of '{action.model}' (v{current}) was not set by the reconciler; "
                "not deleted"
            )
        return None
