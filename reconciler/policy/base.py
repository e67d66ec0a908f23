"""The change policies judge: the desired state at the base revision against head's.

Fails closed: a base that cannot be read is an error, never a change of `none` that a policy
such as `change is none or ...` would let through."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from reconciler.desired.load import load_desired_at
from reconciler.desired.model import Desired
from reconciler.diagnostics import InvalidSpecs, ReconcilerError
from reconciler.plan.diff import spec_changes
from reconciler.policy.change import change_dict
from reconciler.policy.sandbox import compile_expression
from reconciler.vcs.git import NO_BASE, base_problem


def changes_since(repo: Path, head: Desired, revision: str | None) -> dict[tuple[str, str], dict[str, Any]] | None:
    """The change from `revision` to the working tree, when a policy reads it (else None).

    Fails closed: a base that cannot be read is an error, never a change of `none` that a
    policy such as `change is none or ...` would let through."""
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


def changes_between(base: Desired, head: Desired, base_revision: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The change each (environment, model) undergoes from base to head, for policies."""
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
