"""plan(desired, actual) -> Plan. Pure: the same inputs always give the same plan.

Pairs each desired (environment, model) with the registry by fingerprint and alias, like Argo
CD pairs target and live objects: no version for the fingerprint means train; a version whose
gates are unknown means evaluate; an alias elsewhere means promote; an alias the specs no
longer want means demote. Environments go upstream first (dev, staging, production), then
models by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from reconciler.desired.model import Desired, DesiredEntry
from reconciler.diagnostics import ReconcilerError
from reconciler.plan.diff import spec_changes
from reconciler.plan.model import Action, Change, Kind, Plan
from reconciler.state.actual import ActualState, RegisteredModelState, VersionState

ChangesFn = Callable[[Mapping[str, object] | None, Mapping[str, object]], tuple[Change, ...]]


def _no_changes(old: Mapping[str, object] | None, new: Mapping[str, object]) -> tuple[Change, ...]:
    return ()


def plan(
    desired: Sequence[DesiredEntry],
    actual: ActualState,
    environments: Sequence[str],
    *,
    scope: Sequence[str] | None = None,
    changes: ChangesFn = _no_changes,
    revision: str = "",
) -> Plan:
    """`environments` is the promotion order of every environment in the specs; `scope` limits
    the plan to some of them (`--env`). `changes` renders spec differences (a pure function)."""
    order = {env: i for i, env in enumerate(environments)}
    in_scope = set(scope) if scope is not None else set(environments)
    actions: list[Action] = []
    trained: set[tuple[str, str]] = set()
    entries = sorted(desired, key=lambda e: (order.get(e.environment, len(order)), e.environment, e.model))
    wanted = {(e.environment, e.model) for e in desired}
    for env in [*environments, *sorted({e.environment for e in desired} - set(environments))]:
        if env not in in_scope:
            continue
        for entry in (e for e in entries if e.environment == env):
            actions.extend(_plan_entry(entry, actual, trained, changes))
        actions.extend(_demotions(env, actual, wanted))
    # Environments that exist only in the registry (removed from git): remove what we put there.
    for env in sorted(_registry_environments(actual) - set(environments)):
        if scope is None or env in in_scope:
            actions.extend(_demotions(env, actual, wanted))
    return Plan(tuple(actions), tuple(environments), actual.location, revision)


def _registry_environments(actual: ActualState) -> set[str]:
    return {e.environment for rm in actual.models.values() for e in rm.ledger}


def _plan_entry(
    entry: DesiredEntry, actual: ActualState, trained: set[tuple[str, str]], changes: ChangesFn
) -> list[Action]:
    env, name, fp = entry.environment, entry.model, entry.fingerprint
    gates = entry.gates

    def act(kind: Kind, reason: str, **kw: object) -> Action:
        return Action(kind, env, name, fp, current, kw.pop("to", None), reason, gates=gates, **kw)  # type: ignore[arg-type]

    rm = actual.model(name)
    current = rm.aliases.get(env) if rm else None
    if name in actual.unmanaged:
        return [act(Kind.BLOCKED, "a registered model of this name exists and is not managed by the reconciler")]
    version = rm.by_fingerprint(fp) if rm else None
    rolling = rm.rollout(env) if rm else None
    if rolling is not None and (version is None or rolling.candidate != version.version):
        # A revert (or a newer change) while a rollout runs: the candidate is no longer wanted.
        why = f"the specs no longer deploy v{rolling.candidate}: abort its rollout ({rolling.where()})"
        aborted = Action(Kind.ABORT, env, name, rolling.fingerprint, current, current, why, gates=gates)
        after = _plan_version(entry, rm, version, current, trained, changes)
        return [aborted, *(a for a in after if a.kind is not Kind.NOOP)]
    if rolling is not None and version is not None:
        return [act(Kind.NOOP, f"rollout of v{version.version} in progress: {rolling.where()}", to=version.version)]
    return _plan_version(entry, rm, version, current, trained, changes)


def _plan_version(
    entry: DesiredEntry,
    rm: RegisteredModelState | None,
    version: VersionState | None,
    current: str | None,
    trained: set[tuple[str, str]],
    changes: ChangesFn,
) -> list[Action]:
    env, name, fp = entry.environment, entry.model, entry.fingerprint
    gates = entry.gates

    def act(kind: Kind, reason: str, **kw: object) -> Action:
        return Action(kind, env, name, fp, current, kw.pop("to", None), reason, gates=gates, **kw)  # type: ignore[arg-type]

    old_spec = _spec_of(rm, current)
    diff = (
        changes(old_spec, entry.spec) if current is not None and (version is None or current != version.version) else ()
    )
    drift = _drift(rm, env, current)

    if version is None:
        if entry.data_problems:
            return [act(Kind.BLOCKED, "data checks failed: " + "; ".join(entry.data_problems), changes=diff)]
        out: list[Action] = []
        if (name, fp) not in trained:
            trained.add((name, fp))
            why = "new fingerprint" if current is not None else "nothing deployed yet"
            if entry.pin:
                why += f" (pinned to {entry.pin})"
            out.append(act(Kind.TRAIN, why, changes=diff))
        needs = (*tuple(u for u, _ in reversed(entry.ancestors)), env)
        out.append(act(Kind.EVALUATE, "gates of " + ", ".join(needs), evaluate_in=needs))
        out.append(_move(act, entry, None, current, drift, diff))
        return out

    aborted = _aborted(version, env) if current != version.version else None
    if aborted is not None:
        return [act(Kind.BLOCKED, aborted, to=version.version)]

    for upstream, upstream_hash in entry.ancestors:
        verdict = version.verdict(upstream, upstream_hash)
        if verdict is not None and not verdict.passed:
            return [
                act(
                    Kind.BLOCKED,
                    f"v{version.version} failed the gates of '{upstream}', which '{env}' "
                    f"promotes from: {_failures(version, upstream, upstream_hash)}",
                    to=version.version,
                )
            ]
    fresh = version.verdict(env, entry.gates_hash)
    if fresh is not None and not fresh.passed:
        return [
            act(
                Kind.BLOCKED,
                f"v{version.version} failed gates: {_failures(version, env, entry.gates_hash)}",
                to=version.version,
            )
        ]
    needs, why = _evaluation(version, entry)
    if current == version.version and not needs:
        return [act(Kind.NOOP, "in sync", to=version.version)]
    out = []
    if needs:
        out.append(act(Kind.EVALUATE, why, to=version.version, evaluate_in=needs))
    if current != version.version:
        out.append(_move(act, entry, version, current, drift, diff))
    return out


def _move(
    act: Callable[..., Action],
    entry: DesiredEntry,
    version: VersionState | None,
    current: str | None,
    drift: str | None,
    diff: tuple[Change, ...],
) -> Action:
    """Promote (one alias move), or start a rollout when the environment asks for one."""
    to = version.version if version is not None else None
    if entry.rollout is not None and current is not None and drift is None:
        # A rollout replaces a version that serves; the first version, or restoring an alias
        # moved by hand, is one move.
        what = f"v{version.version}" if version is not None else "the new version"
        why = f"roll out {what} by {entry.rollout.describe()}; the alias moves once the analysis passes"
        return act(Kind.ROLLOUT, why, to=to, changes=diff)
    return act(Kind.PROMOTE, _promote_reason(version, drift, entry), to=to, changes=diff, drift=drift is not None)


def _aborted(version: VersionState, env: str) -> str | None:
    """Why the version may not roll out to `env` again: its rollout there was aborted."""
    ended = version.rollout_verdict(env)
    if ended is None or ended.phase != "aborted":
        return None
    missing = [f for f in ended.failing if f not in ended.reason]
    failing = f" ({'; '.join(missing)})" if missing else ""
    return (
        f"the rollout of v{version.version} to '{env}' was aborted on {ended.at[:10]}: {ended.reason}{failing}; "
        "change the model's spec to try a new version"
    )


def _evaluation(version: VersionState, entry: DesiredEntry) -> tuple[tuple[str, ...], str]:
    """The environments to evaluate, upstream first, and why. An environment needs evaluating
    until apply has recorded its own verdict under these gates; one a preview recorded is
    adopted then, without measuring again."""
    pending = [(u, h) for u, h in reversed(entry.ancestors) if not version.recorded(u, h)]
    if not version.recorded(entry.environment, entry.gates_hash):
        pending.append((entry.environment, entry.gates_hash))
    needs = tuple(u for u, _ in pending)
    own = version.verdict(entry.environment)
    if needs and all(version.verdict(u, h) is not None for u, h in pending):
        return needs, "record the verdicts a preview made under these gates: " + ", ".join(needs)
    if own is not None and own.gates_hash != entry.gates_hash:
        return needs, "gates changed"
    return needs, "gates of " + ", ".join(needs)


def _passed(version: VersionState, env: str, gates_hash: str) -> bool:
    verdict = version.verdict(env, gates_hash)
    return verdict is not None and verdict.passed


def _failures(version: VersionState, env: str, gates_hash: str | None = None) -> str:
    verdict = version.verdict(env, gates_hash)
    if verdict is None:
        return "not evaluated"
    return "; ".join(f"{r.gate}: {r.describe()}" for r in verdict.failures()) or "failed"


def _spec_of(rm: RegisteredModelState | None, version: str | None) -> Mapping[str, object] | None:
    if rm is None or version is None:
        return None
    state = rm.versions.get(version)
    return state.spec if state is not None else None


def _drift(rm: RegisteredModelState | None, env: str, current: str | None) -> str | None:
    """An alias that is not where the reconciler last put it was moved by hand."""
    if rm is None:
        return None
    last = rm.last_move(env)
    if last is None:
        return f"alias set to v{current} outside the reconciler" if current is not None else None
    if last.to_version != current:
        where = f"v{current}" if current is not None else "(deleted)"
        return f"alias moved outside git to {where} (the reconciler set v{last.to_version} on {last.at[:10]})"
    return None


def _promote_reason(version: VersionState | None, drift: str | None, entry: DesiredEntry) -> str:
    if drift is not None:
        return f"drift: {drift}; restore"
    if version is None:
        if entry.ancestors:
            return f"promote after '{entry.ancestors[0][0]}' passes, once the gates pass"
        return "promote once the gates pass"
    if not version.created:  # known from git alone (a revert's target): which version is not
        return "a version already holds this spec; no training"
    commit = version.commit[:7] or "unknown commit"
    return f"v{version.version} already holds this spec (trained {version.created[:10]} at {commit}); no training"


def _demotions(env: str, actual: ActualState, wanted: set[tuple[str, str]]) -> list[Action]:
    out = []
    for name in sorted(actual.models):
        rm = actual.models[name]
        current = rm.aliases.get(env)
        if (env, name) in wanted:
            continue
        rolling = rm.rollout(env)
        if rolling is not None:
            why = f"removed from the environment: abort the rollout of v{rolling.candidate}"
            out.append(Action(Kind.ABORT, env, name, rolling.fingerprint, current, current, why))
        if current is None:
            continue
        last = rm.last_move(env)
        if last is None or last.to_version != current:
            continue  # an alias the reconciler never set (or one moved by hand since) is not ours to delete
        out.append(
            Action(
                Kind.DEMOTE,
                env,
                name,
                None,
                current,
                None,
                "removed from the environment: delete alias (versions kept)",
            )
        )
    return out


def make_plan(desired: Desired, actual: ActualState, scope: Sequence[str] | None = None) -> Plan:
    """The plan for the desired state against the registry, in `scope`'s environments."""
    order = list(desired.state.environment_order)
    if scope is not None:
        unknown = [e for e in scope if e not in order]
        if unknown:
            raise ReconcilerError(f"no Environment named '{unknown[0]}' (known: {', '.join(order)})")
    return plan(desired.entries, actual, order, scope=scope, changes=spec_changes, revision=desired.provenance.short)
