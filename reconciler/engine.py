"""Wire the pieces: specs -> desired entries; registry -> actual state; plan(desired, actual).

The impure edges (files, git, dataset hashes, the registry) are gathered here so that the
planner itself stays a pure function of data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.data.hashing import ContentHasher
from reconciler.diagnostics import InvalidSpecs, ReconcilerError
from reconciler.gates.evaluate import gates_hash
from reconciler.plan.model import DesiredEntry, Plan
from reconciler.spec.fingerprint import fingerprint
from reconciler.spec.kinds import Dataset, Model
from reconciler.spec.loader import DesiredState, LoadResult, load_repo
from reconciler.spec.resolve import ResolvedModel, apply_overrides
from reconciler.state.actual import ActualState
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
        raise InvalidSpecs(result.diagnostics)
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
    for key, (item, root, spec_file) in resolved.items():
        hasher = hashers.setdefault(root, ContentHasher(root, vcs_root / STATE_DIR / "cache" / "hashes.json"))
        hkey = (root, item.dataset.name)
        if hkey not in hashes:
            hashes[hkey] = hasher.content_hash(item.dataset)
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
            pin=item.pin,
        )
        targets[key] = Target(item, entry, root, spec_file, hashes[hkey])
    for hasher in hashers.values():
        hasher.save()
    return Desired(state, targets, provenance(vcs_root))


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
