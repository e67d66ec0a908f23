"""Train: fit the model (in a stoppable child), then register the version with its
measurements, profile and provenance. A fingerprint already registered is reused."""

from __future__ import annotations

import os

from reconciler import __version__, chaos
from reconciler.apply import train
from reconciler.apply.budget import fit_within_budget
from reconciler.apply.fit import Fitted
from reconciler.apply.outcome import Cost, Status, StepResult
from reconciler.apply.run import FITTED_KEPT, Run, keep
from reconciler.desired.fingerprint import spec_hash
from reconciler.desired.model import Target
from reconciler.gates.measures import MODEL_SIZE, PREDICT_P95
from reconciler.plan.model import Action
from reconciler.sources import source_type
from reconciler.state import tags as t
from reconciler.state.dataset_inputs import EVALUATION, TRAINING, DataInput
from reconciler.state.mlflow_store import Candidate

COST_KEYS = (MODEL_SIZE, PREDICT_P95)


def run_train(run: Run, action: Action) -> StepResult:
    assert action.fingerprint is not None
    existing = run.cache.version(action.model, action.fingerprint, None)
    if existing is not None:
        run.reused.add((action.model, existing.version))
        return StepResult(Status.DONE, f"reused v{existing.version} (fingerprint already registered)", existing.version)
    target = run.targets[(action.environment, action.model)]
    fitted = run.prefitted.take((action.model, action.fingerprint))  # waits while it fits in the background
    chaos.point("train:before-fit")
    if fitted is None:
        fitted = fit_within_budget(target, run.catalog)  # in a child it can be stopped in
    chaos.point("train:after-fit")
    if fitted.data_problems is not None:
        run.failed_fingerprints[(action.model, action.fingerprint)] = fitted.data_problems
        return StepResult(Status.FAILED, fitted.data_problems)
    if fitted.error is not None:
        if fitted.traceback is not None and os.environ.get("RECONCILER_DEBUG"):
            raise RuntimeError(f"{action.model}: training failed with a bug:\n{fitted.traceback}")
        return StepResult(Status.FAILED, fitted.error)
    model = target.resolved.model
    metrics = dict(fitted.metrics or {})
    tags = {
        t.FINGERPRINT: action.fingerprint,
        t.SPEC_HASH: spec_hash(target.entry.spec),
        t.SPEC_FILE: target.spec_file,
        t.DATASET_HASH: target.dataset_hash,
        t.GIT_COMMIT: run.provenance.commit,
        t.VERSION: __version__,
        t.PLAN_ID: run.plan_id,
    }
    if run.provenance.dirty:
        tags[t.DIRTY] = "true"
    if target.resolved.pin:
        tags[t.PREFIX + "pin"] = target.resolved.pin
    dataset = target.resolved.dataset
    kind = source_type(dataset.source)
    tags[t.DATASET_SOURCE] = kind.uri(dataset.source)
    version = run.store.log_candidate(
        Candidate(
            model_name=action.model,
            estimator=fitted.estimator,
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
            inputs=_inputs(target, fitted, tags[t.DATASET_SOURCE]),
            registered=_managed(run, action.model),
        )
    )
    chaos.point("train:after-register")
    keep(run.fitted, (action.model, version.version), fitted.estimator, FITTED_KEPT)
    run.cache.registered(version)
    shown = ", ".join(f"{k} {metrics[k]:.4g}" for k in model.metrics)
    return StepResult(Status.DONE, f"trained v{version.version}: {shown}", version.version, _cost(run, action, metrics))


def _managed(run: Run, model: str) -> bool:
    """Read as managed by the plan (or since): its version needs no registered model made first."""
    rm = run.cache.models.get(model)
    return rm is not None and rm.managed


def _inputs(target: Target, fitted: Fitted, uri: str) -> tuple[DataInput, ...]:
    """The train and test splits as MLflow dataset inputs: same content hash, one per context."""
    if fitted.columns is None:
        return ()
    dataset = target.resolved.dataset
    pin = target.entry.spec.get("dataset_pin")
    split = dataset.split.model_dump(mode="json")
    return tuple(
        DataInput(
            name=f"{dataset.name} ({part})",
            context=context,
            content_hash=target.dataset_hash,
            uri=uri,
            pin=str(pin) if pin is not None else None,
            target=dataset.target,
            columns=fitted.columns,
            rows=rows,
            split={**split, "part": part},
        )
        for part, context, rows in (("train", TRAINING, fitted.rows[0]), ("test", EVALUATION, fitted.rows[1]))
    )


def _cost(run: Run, action: Action, metrics: dict[str, float]) -> Cost:
    current = run.cache.current(action.model, action.environment)
    before = current.metrics if current is not None else {}
    return Cost(
        {k: metrics[k] for k in COST_KEYS},
        {k: before[k] for k in COST_KEYS if k in before},
        current.version if current is not None else None,
    )
