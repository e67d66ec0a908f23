"""Specs in a working tree (or at a revision) -> the desired state: every (environment, model)
resolved, pinned revisions read from git, datasets hashed, fingerprints computed.

The impure edges of planning's input (files, git, dataset contents) are here, so the planner
stays a pure function of data.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

from reconciler.data.hashing import ContentHasher
from reconciler.desired.fingerprint import fingerprint
from reconciler.desired.model import Desired, DesiredEntry, Target, spec_record
from reconciler.diagnostics import InvalidSpecs, ReconcilerError
from reconciler.gates.evaluate import gates_hash
from reconciler.policy.check import judge_specs
from reconciler.sources import source_type
from reconciler.sources.files import DataFileError
from reconciler.spec.kinds import Model
from reconciler.spec.loader import SPEC_DIRS, DesiredState, LoadResult, load_repo
from reconciler.spec.problems import diagnose
from reconciler.spec.resolve import ResolvedModel, apply_overrides
from reconciler.vcs.git import export_revision, provenance

STATE_DIR = ".reconciler"


def validate_repo(repo: Path) -> LoadResult:
    """Every spec checked, and the policies that read only specs judged: what `validate` reports
    and what planning refuses to start from when it has errors."""
    result = load_repo(repo)
    documents = result.desired.specs.documents
    judged = [
        replace(diagnose(documents[(v.kind, v.name)], v.problem), severity=v.severity) for v in judge_specs(result)
    ]
    if not judged:
        return result
    return replace(result, diagnostics=tuple(sorted({*result.diagnostics, *judged})))


def load_desired(repo: Path, vcs_root: Path | None = None) -> Desired:
    """The desired state of the specs in `repo`. `vcs_root` is the git repository that pins
    are read from when `repo` is itself an exported revision."""
    vcs_root = vcs_root or repo
    result = validate_repo(repo)
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
    pins: dict[tuple[Path, str], str | None] = {}
    for key, (item, root, spec_file) in resolved.items():
        hasher = hashers.setdefault(root, ContentHasher(root, vcs_root / STATE_DIR / "cache" / "hashes.json"))
        hkey = (root, item.dataset.name)
        if hkey not in hashes:
            try:
                hashes[hkey] = hasher.content_hash(item.dataset)
                pins[hkey] = source_type(item.dataset.source).pin(item.dataset.source, root)
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
            spec=spec_record(item.model, item.dataset, hashes[hkey], pins.get(hkey)),
            gates=item.gates,
            gates_hash=gates_hash(item.gates),
            ancestors=tuple(ancestors),
            data_problems=(unreadable[hkey],) if hkey in unreadable else (),
            pin=item.pin,
            rollout=env.rollout_of(item.name),
        )
        targets[key] = Target(item, entry, root, spec_file, hashes[hkey])
    for hasher in hashers.values():
        hasher.save()
    inputs = watched_paths(state)
    return Desired(state, targets, provenance(vcs_root, inputs if repo == vcs_root else None))


def watched_paths(state: DesiredState) -> tuple[str, ...]:
    """What the reconciler reads from the repository: the spec directories and the files
    datasets read. An uncommitted edit to one makes a run `dirty`; a pull request that touches
    none has nothing to plan."""
    files = {path for d in state.specs.datasets.values() for path in source_type(d.source).watched(d.source)}
    files |= {snap.parquet for d in state.specs.datasets.values() for snap in d.snapshots}
    return SPEC_DIRS + tuple(sorted(files))


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
