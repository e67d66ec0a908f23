"""Apply a plan. Each step re-reads what it depends on, so a rerun after a crash or a race
converges: a fingerprint already registered is reused, a verdict already recorded is not
recomputed, an alias is moved only if it still points where the plan saw it."""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from reconciler import __version__, chaos
from reconciler.apply import train
from reconciler.apply.budget import fit_many, fit_within_budget
from reconciler.apply.fit import Fitted, Progress
from reconciler.apply.measure import measure
from reconciler.data.frames import Split
from reconciler.desired.fingerprint import spec_hash
from reconciler.desired.model import Target
from reconciler.diagnostics import ReconcilerError
from reconciler.gates import measures
from reconciler.gates.evaluate import evaluate
from reconciler.gates.measures import (
    MODEL_SIZE,
    PREDICT_P95,
    TRAINING_SECONDS,
)
from reconciler.gates.verdict import Verdict
from reconciler.plan.model import Action, Kind, Plan
from reconciler.spec.catalog import Catalog
from reconciler.state import tags as t
from reconciler.state.actual import ActualState, LedgerEntry, RegisteredModelState, VersionState, version_label
from reconciler.state.mlflow_store import Candidate, LeaseLost, MlflowStore, RegistryUnavailable
from reconciler.state.signing import METRICS_SIGNATURE, sign, sign_metrics
from reconciler.vcs.git import Provenance


@dataclass(frozen=True)
class Outcome:
    action: Action
    status: str  # done | skipped | failed
    message: str
    seconds: float = 0.0
    version: str | None = None
    reused: bool = False  # a train step that found its fingerprint already registered


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def trained(self) -> int:
        return sum(1 for o in self.outcomes if o.action.kind is Kind.TRAIN and o.status == "done" and not o.reused)


Listener = Callable[[str, Action, Outcome | None], None]

# Estimators fitted in this process, kept so their gates are measured without loading them back
# from the registry. Bounded: a plan with many large models must not hold them all in memory.
FITTED_KEPT = 8
# Fitting in parallel only pays when the rest of the fits would take longer than this. It was
# measured (2 cores) when each worker was spawned and imported scikit-learn; fits now start from
# a fork server in well under a second, so it is conservative until measured again.
WORKER_START_SECONDS = 3.0


def _parallel_min_seconds() -> float:
    """RECONCILER_PARALLEL_MIN_SECONDS overrides it (0: always use workers when --jobs > 1)."""
    return float(os.environ.get("RECONCILER_PARALLEL_MIN_SECONDS", WORKER_START_SECONDS))


SPLITS_KEPT = 4


def _keep(cache: OrderedDict[Any, Any], key: Any, value: Any, limit: int) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > limit:
        cache.popitem(last=False)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Executor:
    def __init__(
        self,
        store: MlflowStore,
        targets: Mapping[tuple[str, str], Target],
        catalog: Catalog,
        provenance: Provenance,
        listener: Listener | None = None,
        policy_gate: Callable[[Action, VersionState, VersionState | None], list[str]] | None = None,
        actual: ActualState | None = None,
        jobs: int = 1,
        progress: Progress | None = None,
        prefitted: Mapping[tuple[str, str], Fitted] | None = None,
        preview: bool = False,
    ) -> None:
        self.store = store
        self.targets = targets
        self.catalog = catalog
        self.provenance = provenance
        self.listener = listener or (lambda phase, action, outcome: None)
        self.policy_gate = policy_gate
        # Seeded with the state the plan was made from; every write refreshes what it touched.
        self.models: dict[str, RegisteredModelState | None] = dict(actual.models) if actual else {}
        self.unmanaged = actual.unmanaged if actual else frozenset()
        self.failed_fingerprints: dict[tuple[str, str], str] = {}
        self.plan_id = ""
        self._fitted: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self.jobs = jobs
        self.progress = progress
        self._prefitted: dict[tuple[str, str], Fitted] = dict(prefitted or {})
        self._splits: OrderedDict[tuple[str, str], Split] = OrderedDict()
        self.preview = preview  # a pull request's preview: verdicts under its gates, no alias moves
        self._reused: set[tuple[str, str | None]] = set()

    def run(self, plan: Plan) -> Report:
        self.plan_id = plan.id
        if self.jobs > 1:
            self._prefit(plan)
        report = Report()
        for action in plan.actions:
            if action.kind is Kind.NOOP:
                self._record_unledgered(action)
                continue
            chaos.point("apply:between-actions")
            self.listener("start", action, None)
            start = time.perf_counter()
            reused = False
            try:
                status, message, version = self._step(action)
                reused = action.kind is Kind.TRAIN and (action.model, version) in self._reused
            except (RegistryUnavailable, LeaseLost):
                raise  # every later step would fail the same way (or must not write at all)
            except ReconcilerError as exc:
                status, message, version = "failed", str(exc), None
            except Exception as exc:
                # A bug, not the spec's fault; still, one model's failure must not stop the
                # others from converging. RECONCILER_DEBUG=1 lets it through with its traceback.
                if os.environ.get("RECONCILER_DEBUG"):
                    raise
                text = f"internal error: {type(exc).__name__}: {exc}".splitlines()[0]
                status, message, version = "failed", text, None
            outcome = Outcome(action, status, message, time.perf_counter() - start, version, reused)
            report.outcomes.append(outcome)
            self.listener("end", action, outcome)
        return report

    def _prefit(self, plan: Plan) -> None:
        """Fit every model the plan trains in parallel processes first; the train steps then
        only record them, in plan order."""
        work: dict[tuple[str, str], Target] = {}
        for action in plan.actions:
            if action.kind is not Kind.TRAIN or action.fingerprint is None:
                continue
            key = (action.model, action.fingerprint)
            if key not in self._prefitted and self._version(action.model, action.fingerprint, None) is None:
                work.setdefault((action.model, action.fingerprint), self.targets[(action.environment, action.model)])
        if len(work) < 2:
            return
        # Workers cost seconds to start (each imports scikit-learn): fit two models here and use
        # them only if the second one's time says the rest would finish sooner in parallel. The
        # first fit pays this process's one-time costs (imports, reading the dataset), so timing
        # it would start workers for models that take milliseconds.
        threshold = _parallel_min_seconds()
        first, *rest = work
        self._prefitted[first] = fit_within_budget(work[first], self.catalog)
        if threshold > 0:
            if len(rest) < 2:
                return
            second, *rest = rest
            start = time.perf_counter()
            self._prefitted[second] = fit_within_budget(work[second], self.catalog)
            each = time.perf_counter() - start
            if each * len(rest) * (1 - 1 / min(self.jobs, len(rest))) <= threshold:
                return
        if rest:
            self._prefitted.update(fit_many({k: work[k] for k in rest}, self.catalog, self.jobs, self.progress))

    def _record_unledgered(self, action: Action) -> None:
        """An alias already where the specs want it but missing from the ledger (an apply
        killed between moving it and recording it) is recorded now, so history stays whole."""
        rm = self.models.get(action.model)
        if rm is None or action.to_version is None or rm.aliases.get(action.environment) != action.to_version:
            return
        last = rm.last_move(action.environment)
        if last is not None and last.to_version == action.to_version:
            return
        target = self.targets.get((action.environment, action.model))
        self.store.append_ledger(
            action.model,
            self._entry(
                action.environment,
                last.to_version if last else None,
                action.to_version,
                "recorded: the alias was already at the desired version (an interrupted apply)",
                target.entry.gates_hash if target else "",
            ),
        )
        self._model(action.model, refresh=True)

    # --- registry reads, cached per model and refreshed after every write ---------------

    def _model(self, name: str, refresh: bool = False) -> RegisteredModelState | None:
        if refresh or name not in self.models:
            self.models[name] = self.store.read_model(name)
        return self.models[name]

    def _version(self, name: str, fingerprint: str | None, version: str | None) -> VersionState | None:
        rm = self._model(name)
        if rm is None:
            return None
        if version is not None and version in rm.versions:
            return rm.versions[version]
        return rm.by_fingerprint(fingerprint) if fingerprint else None

    def _step(self, action: Action) -> tuple[str, str, str | None]:
        if action.kind is Kind.BLOCKED:
            return "failed", action.reason, action.to_version
        refusal = self._refusal(action)
        if refusal is not None:
            return "failed", refusal, None
        if action.kind is Kind.TRAIN:
            return self._train(action)
        if action.kind is Kind.EVALUATE:
            return self._evaluate(action)
        if action.kind is Kind.PROMOTE:
            return self._promote(action)
        if action.kind is Kind.DEMOTE:
            return self._demote(action)
        return "skipped", "nothing to do", None

    def _refusal(self, action: Action) -> str | None:
        """Whatever the plan says, an action touches only what the reconciler owns.

        The planner never makes such an action; this holds when the plan came from elsewhere
        (a saved plan file, a future caller) and keeps a mistake from reaching the registry.
        """
        if action.model in self.unmanaged:
            return f"registered model '{action.model}' is not managed by the reconciler; not touched"
        if action.kind is not Kind.DEMOTE:
            if (action.environment, action.model) not in self.targets:
                return f"'{action.model}' is not deployed to '{action.environment}' by the specs; not touched"
            return None
        rm = self._model(action.model)
        current = rm.aliases.get(action.environment) if rm is not None else None
        if rm is None or current is None:
            return None  # nothing to delete: the demote is already done
        if (action.environment, action.model) in self.targets:
            return f"the specs deploy '{action.model}' to '{action.environment}'; its alias is not deleted"
        last = rm.last_move(action.environment)
        if last is None or last.to_version != current:
            return (
                f"alias '{action.environment}' of '{action.model}' (v{current}) was not set by the reconciler; "
                "not deleted"
            )
        return None

    # --- train ----------------------------------------------------------------------------

    def _train(self, action: Action) -> tuple[str, str, str | None]:
        assert action.fingerprint is not None
        existing = self._version(action.model, action.fingerprint, None)
        if existing is not None:
            self._reused.add((action.model, existing.version))
            return "done", f"reused v{existing.version} (fingerprint already registered)", existing.version
        target = self.targets[(action.environment, action.model)]
        fitted = self._prefitted.pop((action.model, action.fingerprint), None)
        chaos.point("train:before-fit")
        if fitted is None:
            fitted = fit_within_budget(target, self.catalog)  # in a child it can be stopped in
        chaos.point("train:after-fit")
        if fitted.data_problems is not None:
            self.failed_fingerprints[(action.model, action.fingerprint)] = fitted.data_problems
            return "failed", fitted.data_problems, None
        if fitted.error is not None:
            if fitted.traceback is not None and os.environ.get("RECONCILER_DEBUG"):
                raise RuntimeError(f"{action.model}: training failed with a bug:\n{fitted.traceback}")
            return "failed", fitted.error, None
        model = target.resolved.model
        estimator = fitted.estimator
        metrics = dict(fitted.metrics or {})
        tags = {
            t.FINGERPRINT: action.fingerprint,
            t.SPEC_HASH: spec_hash(target.entry.spec),
            t.SPEC_FILE: target.spec_file,
            t.DATASET_HASH: target.dataset_hash,
            t.GIT_COMMIT: self.provenance.commit,
            t.VERSION: __version__,
            t.PLAN_ID: self.plan_id,
        }
        if self.provenance.dirty:
            tags[t.DIRTY] = "true"
        if target.resolved.pin:
            tags[t.PREFIX + "pin"] = target.resolved.pin
        version = self.store.log_candidate(
            Candidate(
                model_name=action.model,
                estimator=estimator,
                input_example=fitted.example,
                predictions_example=fitted.predictions_example,
                params={
                    **train.flat_params(model.estimator),
                    "seed": model.seed,
                    "fit_seconds": round(fitted.fit_seconds, 4),
                },
                metrics=metrics,
                spec=target.entry.spec,
                tags=tags,
                pip_requirements=train.pip_requirements(),
                profile=fitted.profile,
                trusted_types=fitted.trusted_types,
            )
        )
        chaos.point("train:after-register")
        _keep(self._fitted, (action.model, version.version), estimator, FITTED_KEPT)
        self._registered(version)
        shown = ", ".join(f"{k} {metrics[k]:.4g}" for k in model.metrics)
        return "done", f"trained v{version.version}: {shown}; {self._cost(action, metrics)}", version.version

    def _cost(self, action: Action, metrics: Mapping[str, float]) -> str:
        """What the new version costs to run, beside the version the environment runs now, so a
        creeping cost shows in the PR comment and the apply log."""
        rm = self._model(action.model)
        current = rm.aliases.get(action.environment) if rm else None
        before = rm.versions[current].metrics if rm and current and current in rm.versions else {}
        parts = []
        for key, label, unit in ((MODEL_SIZE, "size", " KB"), (PREDICT_P95, "predict p95", " us/row")):
            part = f"{label} {metrics[key]:.3g}{unit}"
            if before.get(key):
                part += f" ({(metrics[key] - before[key]) / before[key] * 100:+.0f}% vs v{current})"
            parts.append(part)
        return "cost: " + ", ".join(parts)

    # --- evaluate -------------------------------------------------------------------------

    def _evaluate(self, action: Action) -> tuple[str, str, str | None]:
        version = self._version(action.model, action.fingerprint, action.to_version)
        if version is None:
            why = self.failed_fingerprints.get((action.model, action.fingerprint or ""), "no version to evaluate")
            return "skipped", why, None
        results = []
        failed = False
        for env in action.evaluate_in:
            target = self.targets.get((env, action.model))
            if target is None:
                continue
            gates_hash = target.entry.gates_hash
            verdict = version.verdict(env, gates_hash)
            if verdict is not None:
                how = "recorded"
                if not self.preview and not version.recorded(env, gates_hash):
                    version = self._record_verdict(version, t.GATE_PREFIX + env, verdict)
                    how = "recorded by a preview"
                if not verdict.passed and env != action.environment:
                    # Reported where it happened; here it only means this environment waits.
                    return "skipped", f"v{version.version} failed the gates of '{env}'", version.version
                results.append(f"{env}: {'passed' if verdict.passed else 'failed'} ({how})")
                failed = failed or not verdict.passed
                continue
            verdict = self._judge(action.model, version, env, target)
            chaos.point("evaluate:before-verdict")
            # A preview judges under the pull request's gates: its verdict must never count as
            # the one main's gates gave, so it is kept under a key of its own.
            key = t.preview_key(env, gates_hash) if self.preview else t.GATE_PREFIX + env
            version = self._record_verdict(version, key, verdict)
            chaos.point("evaluate:after-verdict")
            if verdict.passed:
                advisories = "; ".join(f"{r.gate}: {r.describe()}" for r in verdict.failures())
                results.append(f"{env}: passed" + (f" with advisory failures: {advisories}" if advisories else ""))
            else:
                failed = True
                results.append(f"{env}: FAILED " + "; ".join(f"{r.gate}: {r.describe()}" for r in verdict.failures()))
        message = f"v{version.version} " + " | ".join(results)
        return ("failed" if failed else "done"), message, version.version

    def _record_verdict(self, version: VersionState, key: str, verdict: Verdict) -> VersionState:
        text = sign(verdict.to_json(), version.model, version.version, version.fingerprint, key)
        self.store.set_version_tag(version.model, version.version, key, text)
        aside = {k: v for k, v in version.set_aside.items() if k != key}
        version = replace(version, tags={**version.tags, key: text}, set_aside=aside)
        self._remember(version)
        return version

    def _judge(self, name: str, version: VersionState, env: str, target: Target) -> Verdict:
        rm = self._model(name)
        current_version = rm.aliases.get(env) if rm else None
        current = rm.versions.get(current_version) if rm and current_version else None
        gates = target.entry.gates
        candidate = self._measure(version, measures.keys(gates), target, record=True)
        baseline = None
        if current is not None and current.version != version.version:
            # Regression is judged on the candidate's test split: the current version's recorded
            # measurements serve only if it was measured on the same data and split.
            same_split = current.tags.get(t.DATASET_HASH) == target.dataset_hash and _split_of(current) == _split_of(
                version
            )
            baseline = self._measure(current, measures.regression_keys(gates), target, record=same_split)
        return evaluate(
            env,
            gates,
            candidate,
            baseline,
            against=current.version if baseline is not None and current is not None else None,
            at=_now(),
            commit=self.provenance.commit,
        )

    def _measure(self, version: VersionState, wanted: set[str], target: Target, *, record: bool) -> dict[str, float]:
        """Recorded measurements, completing the missing ones on the target's test split."""
        stale = [k for k in version.set_aside if k.startswith(t.METRIC_PREFIX)]
        if record and stale:
            # Measurements whose signature failed are removed, not re-signed: signing them would
            # vouch for numbers nobody here measured. What the gates need is measured again.
            for key in stale:
                self.store.delete_version_tag(version.model, version.version, key)
            version = replace(version, set_aside={k: v for k, v in version.set_aside.items() if k not in stale})
            self._remember(version)
        known = version.metrics if record else {}
        missing = wanted - set(known) - ({TRAINING_SECONDS} if record else set())
        if not missing:
            return known
        computed = measure(missing, measures.specs(target.entry.gates), self._estimator(version), self._split(target))
        if record:
            for key, value in computed.items():
                self.store.set_version_tag(version.model, version.version, t.METRIC_PREFIX + key, repr(value))
            tags = {**version.tags, **{t.METRIC_PREFIX + k: repr(v) for k, v in computed.items()}}
            signature = sign_metrics(version.model, version.version, version.fingerprint, tags)
            if signature is not None:
                self.store.set_version_tag(version.model, version.version, METRICS_SIGNATURE, signature)
                tags[METRICS_SIGNATURE] = signature
            self._remember(replace(version, tags=tags))
        return {**known, **computed}

    def _estimator(self, version: VersionState) -> Any:
        """The fitted estimator: the one trained in this process if kept, else loaded back."""
        key = (version.model, version.version)
        if key in self._fitted:
            return self._fitted[key]
        return self.store.load_model(version.model, version.version)

    def _split(self, target: Target) -> Split:
        key = _data_key(target)
        if key not in self._splits:
            from reconciler.data.frames import load_frame, split

            dataset = target.resolved.dataset
            _keep(self._splits, key, split(dataset, load_frame(dataset, target.data_root)), SPLITS_KEPT)
        return self._splits[key]

    # Our own writes are applied to the cache rather than read back: under the apply lock nobody
    # else writes, and every compare-and-set still reads the registry fresh.

    def _registered(self, version: VersionState) -> None:
        if version.model not in self.models:
            self._model(version.model, refresh=True)
            return
        rm = self.models[version.model] or RegisteredModelState(version.model, True, {}, {})
        self.models[version.model] = replace(rm, versions={**rm.versions, version.version: version})

    def _moved(self, model: str, env: str, to: str | None, ledger: tuple[LedgerEntry, ...]) -> None:
        rm = self.models.get(model)
        if rm is None:
            self._model(model, refresh=True)
            return
        aliases = {k: v for k, v in rm.aliases.items() if k != env} | ({env: to} if to is not None else {})
        self.models[model] = replace(rm, aliases=aliases, ledger=ledger)

    def _remember(self, version: VersionState) -> None:
        rm = self.models.get(version.model)
        if rm is not None:
            self.models[version.model] = replace(rm, versions={**rm.versions, version.version: version})

    # --- promote / demote -------------------------------------------------------------------

    def _promote(self, action: Action) -> tuple[str, str, str | None]:
        version = self._version(action.model, action.fingerprint, action.to_version)
        if version is None:
            why = self.failed_fingerprints.get((action.model, action.fingerprint or ""), "no version to promote")
            return "skipped", why, None
        target = self.targets[(action.environment, action.model)]
        for env, gates in [*reversed(target.entry.ancestors), (action.environment, target.entry.gates_hash)]:
            verdict = version.verdict(env, gates)
            if verdict is None:
                return "failed", f"v{version.version} has no current verdict for the gates of '{env}'", None
            if not verdict.passed:
                # The evaluate step already reported the failure with its numbers.
                where = "its gates" if env == action.environment else f"the gates of '{env}'"
                stays = version_label(action.from_version)
                return "skipped", f"v{version.version} failed {where}; alias stays at {stays}", None
        rm = self._model(action.model)
        if rm is not None and rm.aliases.get(action.environment) == version.version:
            return "done", f"already at v{version.version}", version.version
        if self.policy_gate is not None:
            current = rm.versions.get(action.from_version) if rm and action.from_version else None
            refusals = self.policy_gate(action, version, current)
            if refusals:
                return "failed", "; ".join(refusals) + f"; alias stays at {version_label(action.from_version)}", None
        chaos.point("promote:before-alias")
        ledger = self.store.move_alias(action.model, action.environment, action.from_version, version.version)
        chaos.point("promote:after-alias")
        entry = self.store.append_ledger(
            action.model,
            self._entry(
                action.environment, action.from_version, version.version, action.reason, target.entry.gates_hash
            ),
            ledger,
        )
        self._moved(action.model, action.environment, version.version, (*ledger, entry))
        moved = f"{action.environment}: {version_label(action.from_version)} -> v{version.version}"
        return "done", moved, version.version

    def _entry(self, env: str, before: str | None, after: str | None, reason: str, gates: str = "") -> LedgerEntry:
        """The ledger entry for an alias move made by this run (its number is given on append)."""
        return LedgerEntry(
            0, env, before, after, self.provenance.commit, _now(), self.plan_id, reason, gates, self.provenance.dirty
        )

    def _demote(self, action: Action) -> tuple[str, str, str | None]:
        ledger = self.store.move_alias(action.model, action.environment, action.from_version, None)
        entry = self.store.append_ledger(
            action.model,
            self._entry(action.environment, action.from_version, None, action.reason),
            ledger,
        )
        self._moved(action.model, action.environment, None, (*ledger, entry))
        return "done", f"{action.environment}: {version_label(action.from_version)} -> (none)", None


def _data_key(target: Target) -> tuple[str, str]:
    """Same content and same dataset spec (columns, split) give the same split."""
    return target.dataset_hash, target.resolved.dataset.model_dump_json()


def _split_of(version: VersionState) -> object:
    spec = version.spec or {}
    dataset = spec.get("dataset")
    return dataset.get("split") if isinstance(dataset, dict) else None


def describe(outcome: Outcome) -> dict[str, Any]:
    return {
        "kind": outcome.action.kind.value,
        "environment": outcome.action.environment,
        "model": outcome.action.model,
        "status": outcome.status,
        "message": outcome.message,
        "seconds": round(outcome.seconds, 3),
        "version": outcome.version,
    }
