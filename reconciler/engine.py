"""Wire the pieces: specs -> desired entries; registry -> actual state; plan(desired, actual).

The impure edges (files, git, dataset hashes, the registry) are gathered here so that the
planner itself stays a pure function of data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from reconciler.data.files import DataFileError
from reconciler.data.hashing import ContentHasher
from reconciler.diagnostics import InvalidSpecs, ReconcilerError
from reconciler.gates.evaluate import gates_hash
from reconciler.plan.model import Action, DesiredEntry, Plan
from reconciler.spec.fingerprint import fingerprint
from reconciler.spec.kinds import Dataset, Model
from reconciler.spec.loader import SPEC_DIRS, DesiredState, LoadResult, load_repo
from reconciler.spec.resolve import ResolvedModel, apply_overrides
from reconciler.state.actual import ActualState, VersionState
from reconciler.vcs.git import Provenance, export_revision, provenance

STATE_DIR = ".reconciler"


@dataclass(frozen=True)
class Target:
    """Everything needed to train and record one (environment, model)."""

    resolved: ResolvedModel
    entry: DesiredEntry
    data_root: Path
    spec_file: str
    dataset_hash: str


@dataclass(frozen=True)
class Desired:
    state: DesiredState
    targets: Mapping[tuple[str, str], Target]
    provenance: Provenance

    @property
    def entries(self) -> list[DesiredEntry]:
        return [t.entry for t in self.targets.values()]


def spec_record(model: Model, dataset: Dataset, dataset_hash: str) -> dict[str, Any]:
    """The resolved spec recorded on each version: what a later diff compares against."""
    return {
        "model": model.model_dump(by_alias=True, mode="json", exclude={"api_version", "kind"}),
        "dataset": dataset.model_dump(by_alias=True, mode="json", exclude={"api_version", "kind"}),
        "dataset_hash": dataset_hash,
    }


def load_desired(repo: Path, vcs_root: Path | None = None) -> Desired:
    """The desired state of the specs in `repo`. `vcs_root` is the git repository that pins
    are read from when `repo` is itself an exported revision."""
    vcs_root = vcs_root or repo
    result = load_repo(repo)
    if not result.ok:
        raise InvalidSpecs(result.errors)
    state = result.desired
    hashers: dict[Path, ContentHasher] = {}
    resolved: dict[tuple[str, str], tuple[ResolvedModel, Path, str]] = {}
    for key, item in state.resolved.items():
        root = repo
        doc = state.specs.documents[("Model", item.name)]
        spec_file = doc.file
        if item.pin:
            root = export_revision(vcs_root, item.pin, vcs_root / STATE_DIR / "cache" / "revisions")
            item = _pinned(item, root, state)
        resolved[key] = (item, root, spec_file)
    targets: dict[tuple[str, str], Target] = {}
    hashes: dict[tuple[Path, str], str] = {}
    unreadable: dict[tuple[Path, str], str] = {}
    for key, (item, root, spec_file) in resolved.items():
        hasher = hashers.setdefault(root, ContentHasher(root, vcs_root / STATE_DIR / "cache" / "hashes.json"))
        hkey = (root, item.dataset.name)
        if hkey not in hashes:
            try:
                hashes[hkey] = hasher.content_hash(item.dataset)
            except DataFileError as exc:
                # Not data (a device, a FIFO, a file over the size limit): this model is blocked
                # with the reason; the others reconcile. The fingerprint names the problem, so
                # nothing can ever match it.
                unreadable[hkey] = f"cannot read dataset: {exc}"
                hashes[hkey] = "unreadable:" + hashlib.sha256(str(exc).encode()).hexdigest()
        env = state.specs.environments[item.environment]
        ancestors = []
        upstream = env.promotes_from
        seen = {env.name}
        while upstream and upstream in state.specs.environments and upstream not in seen:
            seen.add(upstream)
            up = state.resolved.get((upstream, item.name))
            if up is not None:
                ancestors.append((upstream, gates_hash(up.gates)))
            upstream = state.specs.environments[upstream].promotes_from
        entry = DesiredEntry(
            environment=item.environment,
            model=item.name,
            fingerprint=fingerprint(item, hashes[hkey]),
            spec=spec_record(item.model, item.dataset, hashes[hkey]),
            gates=item.gates,
            gates_hash=gates_hash(item.gates),
            ancestors=tuple(ancestors),
            data_problems=(unreadable[hkey],) if hkey in unreadable else (),
            pin=item.pin,
        )
        targets[key] = Target(item, entry, root, spec_file, hashes[hkey])
    for hasher in hashers.values():
        hasher.save()
    inputs = SPEC_DIRS + tuple(sorted(_data_files(state)))
    return Desired(state, targets, provenance(vcs_root, inputs if repo == vcs_root else None))


def _data_files(state: DesiredState) -> set[str]:
    """The repository files datasets read: their uncommitted edits change what trains."""
    out = set()
    for dataset in state.specs.datasets.values():
        for kind in ("csv", "parquet"):
            path = getattr(dataset.source, kind, None)
            if isinstance(path, str):
                out.add(path)
    return out


def changes_since(repo: Path, head: Desired, revision: str | None) -> dict[tuple[str, str], dict[str, Any]] | None:
    """The change from `revision` to the working tree, when a policy reads it (else None).

    Fails closed: a base that cannot be read is an error, never a change of `none` that a
    policy such as `change is none or ...` would let through."""
    from reconciler.policy.sandbox import compile_expression

    if revision is None:
        return None
    if not any("change" in compile_expression(p.require).names for p in head.state.specs.policies.values()):
        return None
    return changes_between(read_base(repo, head, revision), head, revision)


class LazyChanges(Mapping[tuple[str, str], Mapping[str, Any]]):
    """The change since the base, computed on first use: a plan where nothing changes (a drift
    check, a no-op) never reads the base revision, and one where something does still fails
    closed on an unreadable base."""

    def __init__(self, repo: Path, head: Desired, revision: str | None) -> None:
        self._args = (repo, head, revision)
        self._value: dict[tuple[str, str], dict[str, Any]] | None = None
        self._done = False

    def _get(self) -> dict[tuple[str, str], dict[str, Any]]:
        if not self._done:
            self._value = changes_since(*self._args)
            self._done = True
        return self._value or {}

    def __getitem__(self, key: tuple[str, str]) -> Mapping[str, Any]:
        return self._get()[key]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


def read_base(repo: Path, head: Desired, revision: str) -> Desired:
    """The desired state at the base revision of a change; empty when nothing came before."""
    from reconciler.vcs.git import NO_BASE, base_problem

    problem = base_problem(repo, revision)
    if problem == NO_BASE:
        return Desired(head.state, {}, head.provenance)
    if problem is not None:
        raise ReconcilerError(f"policies judge the change since {revision}, but {problem}")
    try:
        return load_desired_at(repo, revision)
    except InvalidSpecs as exc:
        raise ReconcilerError(
            f"policies judge the change since {revision}, but the specs at {revision} do not validate "
            f"({len(exc.diagnostics)} error(s), first: {exc.diagnostics[0]}); pass --base with the last "
            "revision whose specs are valid"
        ) from exc
    except ReconcilerError as exc:
        raise ReconcilerError(f"policies judge the change since {revision}, but it cannot be read: {exc}") from exc


def load_desired_at(repo: Path, revision: str) -> Desired:
    """The desired state as it was at a git revision."""
    root = export_revision(repo, revision, repo / STATE_DIR / "cache" / "revisions")
    return load_desired(root, vcs_root=repo)


def _pinned(item: ResolvedModel, root: Path, current: DesiredState) -> ResolvedModel:
    """The model and dataset as they were at the pinned revision, with today's overrides."""
    at: LoadResult = load_repo(root)
    model = at.desired.specs.models.get(item.name)
    if model is None:
        raise ReconcilerError(f"{item.environment}: model '{item.name}' does not exist at revision '{item.pin}'")
    dataset = at.desired.specs.datasets.get(model.dataset)
    if dataset is None:
        raise ReconcilerError(f"{item.environment}: dataset '{model.dataset}' does not exist at revision '{item.pin}'")
    env = current.specs.environments[item.environment]
    overrides = env.models[item.name].overrides
    if overrides:
        model = Model.model_validate(apply_overrides(model, overrides))
    return ResolvedModel(item.environment, model, dataset, item.gates, item.pin)


def check_untrained_data(desired: Desired, actual: ActualState, scope: Sequence[str] | None) -> Desired:
    """Run data contracts for models that will train (loading data only when it is needed)."""
    from reconciler.data.frames import check_data, load_frame

    results: dict[tuple[Path, str], tuple[str, ...]] = {}
    targets = dict(desired.targets)
    for key, target in desired.targets.items():
        env, name = key
        if scope is not None and env not in scope:
            continue
        rm = actual.model(name)
        if rm is not None and rm.by_fingerprint(target.entry.fingerprint) is not None:
            continue
        dkey = (target.data_root, target.resolved.dataset.name)
        if dkey not in results:
            try:
                frame = load_frame(target.resolved.dataset, target.data_root)
                results[dkey] = tuple(check_data(target.resolved.dataset, frame))
            except (OSError, ValueError, KeyError) as exc:
                results[dkey] = (f"cannot load dataset: {exc}",)
        if results[dkey]:
            entry = target.entry
            targets[key] = Target(
                target.resolved,
                DesiredEntry(
                    entry.environment,
                    entry.model,
                    entry.fingerprint,
                    entry.spec,
                    entry.gates,
                    entry.gates_hash,
                    entry.ancestors,
                    results[dkey],
                    entry.pin,
                ),
                target.data_root,
                target.spec_file,
                target.dataset_hash,
            )
    return Desired(desired.state, targets, desired.provenance)


def make_plan(desired: Desired, actual: ActualState, scope: Sequence[str] | None = None) -> Plan:
    from reconciler.plan.diff import spec_changes
    from reconciler.plan.planner import plan

    order = list(desired.state.environment_order)
    if scope is not None:
        unknown = [e for e in scope if e not in order]
        if unknown:
            raise ReconcilerError(f"no Environment named '{unknown[0]}' (known: {', '.join(order)})")
    return plan(desired.entries, actual, order, scope=scope, changes=spec_changes, revision=desired.provenance.short)


def changes_between(base: Desired, head: Desired, base_revision: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The change each (environment, model) undergoes from base to head, for policies."""
    from reconciler.plan.diff import spec_changes
    from reconciler.policy.change import change_dict

    out = {}
    for key, target in head.targets.items():
        before = base.targets.get(key)
        out[key] = change_dict(
            base_revision,
            head.provenance.short,
            before.entry.fingerprint if before is not None else None,
            target.entry.fingerprint,
            before.resolved.gates if before is not None else None,
            target.resolved.gates,
            spec_changes(before.entry.spec, target.entry.spec) if before is not None else (),
        )
    return out


def policy_context(
    desired: Desired,
    key: tuple[str, str],
    action: Action | None,
    candidate: VersionState | None,
    current: VersionState | None,
    changes: Mapping[tuple[str, str], Mapping[str, Any]] | None,
    pending: Sequence[str] = (),
) -> dict[str, Any]:
    from reconciler.policy.context import plan_context, spec_context

    target = desired.targets[key]
    base = spec_context(target.resolved, desired.state.specs.environments[key[0]])
    hashes = {env: t.entry.gates_hash for (env, model), t in desired.targets.items() if model == key[1]}
    return plan_context(base, action, candidate, current, (changes or {}).get(key), hashes, pending)


def _evaluated_before(plan: Plan, action: Action) -> tuple[str, ...]:
    """Environments whose gates this plan evaluates for the action's version before it runs."""
    from reconciler.plan.model import Kind

    out: list[str] = []
    for a in plan.actions:
        if a is action:
            break
        if a.kind is Kind.EVALUATE and a.model == action.model and a.fingerprint == action.fingerprint:
            out.extend(a.evaluate_in)
    return tuple(out)


def police(
    plan: Plan,
    desired: Desired,
    actual: ActualState | None,
    changes: Mapping[tuple[str, str], Mapping[str, Any]] | None,
) -> Plan:
    """Judge each changing (environment, model) against the policies; an error blocks it."""
    from reconciler.plan.model import Action as PlanAction
    from reconciler.plan.model import Kind
    from reconciler.policy.check import check

    policies = list(desired.state.specs.policies.values())
    if not policies:
        return plan
    grouped: dict[tuple[str, str], list[PlanAction]] = {}
    for a in plan.actions:
        grouped.setdefault((a.environment, a.model), []).append(a)
    blocked: dict[tuple[str, str], str] = {}
    notes = list(plan.notes)
    for key, group in grouped.items():
        if key not in desired.targets or all(a.kind in (Kind.NOOP, Kind.BLOCKED) for a in group):
            continue
        action = next((a for a in group if a.kind is Kind.PROMOTE), group[0])
        rm = actual.model(key[1]) if actual is not None else None
        candidate = rm.versions.get(action.to_version) if rm and action.to_version else None
        current = rm.versions.get(action.from_version) if rm and action.from_version else None
        context = policy_context(desired, key, action, candidate, current, changes, _evaluated_before(plan, action))
        for violation in check(policies, key[0], key[1], context, stage="plan"):
            if violation.severity == "error":
                blocked.setdefault(key, violation.describe())
            else:
                notes.append(f"warning for {key[0]}/{key[1]}: {violation.describe()}")
    if not blocked and notes == list(plan.notes):
        return plan
    return replace(plan.blocking(blocked), notes=tuple(notes))
