"""Evaluate: judge a version against each environment's gates, measuring on the test split
what is not recorded yet, and record the signed verdict. A verdict already recorded under the
same gates is not recomputed; one a preview recorded is adopted."""

from __future__ import annotations

from dataclasses import replace

from reconciler import chaos
from reconciler.apply.measure import measure
from reconciler.apply.outcome import Status, StepResult
from reconciler.apply.run import Run, now
from reconciler.desired.model import Target
from reconciler.gates import measures
from reconciler.gates.evaluate import evaluate
from reconciler.gates.measures import TRAINING_SECONDS
from reconciler.gates.verdict import Verdict
from reconciler.plan.model import Action
from reconciler.state import tags as t
from reconciler.state.actual import VersionState
from reconciler.state.signing import METRICS_SIGNATURE, sign, sign_metrics


def run_evaluate(run: Run, action: Action) -> StepResult:
    version = run.cache.version(action.model, action.fingerprint, action.to_version)
    if version is None:
        why = run.failed_fingerprints.get((action.model, action.fingerprint or ""), "no version to evaluate")
        return StepResult(Status.SKIPPED, why)
    results = []
    failed = False
    for env in action.evaluate_in:
        target = run.targets.get((env, action.model))
        if target is None:
            continue
        gates_hash = target.entry.gates_hash
        verdict = version.verdict(env, gates_hash)
        if verdict is not None:
            how = "recorded"
            if not run.preview and not version.recorded(env, gates_hash):
                version = _record_verdict(run, version, t.GATE_PREFIX + env, verdict)
                how = "recorded by a preview"
            if not verdict.passed and env != action.environment:
                # Reported where it happened; here it only means this environment waits.
                return StepResult(Status.SKIPPED, f"v{version.version} failed the gates of '{env}'", version.version)
            results.append(f"{env}: {'passed' if verdict.passed else 'failed'} ({how})")
            failed = failed or not verdict.passed
            continue
        verdict = _judge(run, action.model, version, env, target)
        chaos.point("evaluate:before-verdict")
        # A preview judges under the pull request's gates: its verdict must never count as
        # the one main's gates gave, so it is kept under a key of its own.
        key = t.preview_key(env, gates_hash) if run.preview else t.GATE_PREFIX + env
        version = _record_verdict(run, version, key, verdict)
        chaos.point("evaluate:after-verdict")
        if verdict.passed:
            advisories = "; ".join(f"{r.gate}: {r.describe()}" for r in verdict.failures())
            results.append(f"{env}: passed" + (f" with advisory failures: {advisories}" if advisories else ""))
        else:
            failed = True
            results.append(f"{env}: FAILED " + "; ".join(f"{r.gate}: {r.describe()}" for r in verdict.failures()))
    message = f"v{version.version} " + " | ".join(results)
    return StepResult(Status.FAILED if failed else Status.DONE, message, version.version)


def _record_verdict(run: Run, version: VersionState, key: str, verdict: Verdict) -> VersionState:
    text = sign(verdict.to_json(), version.model, version.version, version.fingerprint, key)
    run.store.set_version_tag(version.model, version.version, key, text)
    aside = {k: v for k, v in version.set_aside.items() if k != key}
    version = replace(version, tags={**version.tags, key: text}, set_aside=aside)
    run.cache.remember(version)
    return version


def _judge(run: Run, name: str, version: VersionState, env: str, target: Target) -> Verdict:
    current = run.cache.current(name, env)
    gates = target.entry.gates
    candidate = _measure(run, version, measures.keys(gates), target, record=True)
    baseline = None
    if current is not None and current.version != version.version:
        # Regression is judged on the candidate's test split: the current version's recorded
        # measurements serve only if it was measured on the same data and split.
        same_split = current.tags.get(t.DATASET_HASH) == target.dataset_hash and _split_of(current) == _split_of(
            version
        )
        baseline = _measure(run, current, measures.regression_keys(gates), target, record=same_split)
    return evaluate(
        env,
        gates,
        candidate,
        baseline,
        against=current.version if baseline is not None and current is not None else None,
        at=now(),
        commit=run.provenance.commit,
    )


def _measure(run: Run, version: VersionState, wanted: set[str], target: Target, *, record: bool) -> dict[str, float]:
    """Recorded measurements, completing the missing ones on the target's test split."""
    stale = [k for k in version.set_aside if k.startswith(t.METRIC_PREFIX)]
    if record and stale:
        # Measurements whose signature failed are removed, not re-signed: signing them would
        # vouch for numbers nobody here measured. What the gates need is measured again.
        for key in stale:
            run.store.delete_version_tag(version.model, version.version, key)
        version = replace(version, set_aside={k: v for k, v in version.set_aside.items() if k not in stale})
        run.cache.remember(version)
    known = version.metrics if record else {}
    missing = wanted - set(known) - ({TRAINING_SECONDS} if record else set())
    if not missing:
        return known
    computed = measure(missing, measures.specs(target.entry.gates), run.estimator(version), run.split(target))
    if record:
        for key, value in computed.items():
            run.store.set_version_tag(version.model, version.version, t.METRIC_PREFIX + key, repr(value))
        tags = {**version.tags, **{t.METRIC_PREFIX + k: repr(v) for k, v in computed.items()}}
        signature = sign_metrics(version.model, version.version, version.fingerprint, tags)
        if signature is not None:
            run.store.set_version_tag(version.model, version.version, METRICS_SIGNATURE, signature)
            tags[METRICS_SIGNATURE] = signature
        run.cache.remember(replace(version, tags=tags))
    return {**known, **computed}


def _split_of(version: VersionState) -> object:
    spec = version.spec or {}
    dataset = spec.get("dataset")
    return dataset.get("split") if isinstance(dataset, dict) else None
