"""The desired state as data: one entry per (environment, model) the specs deploy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.spec.kinds import Dataset, Gate, Model
from reconciler.spec.loader import DesiredState
from reconciler.spec.resolve import ResolvedModel
from reconciler.spec.rollout import Rollout
from reconciler.vcs.git import Provenance


@dataclass(frozen=True)
class DesiredEntry:
    """One (environment, model) as the specs want it, with what planning needs to know."""

    environment: str
    model: str
    fingerprint: str
    spec: Mapping[str, Any]  # the resolved spec recorded on versions (what a diff compares)
    gates: tuple[Gate, ...]
    gates_hash: str
    ancestors: tuple[tuple[str, str], ...] = ()  # (upstream environment, its gates hash), nearest first
    data_problems: tuple[str, ...] = ()
    pin: str | None = None
    rollout: Rollout | None = None  # how a new version takes traffic; None: one alias move


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


def spec_record(model: Model, dataset: Dataset, dataset_hash: str, dataset_pin: str | None = None) -> dict[str, Any]:
    """The resolved spec recorded on each version: what a later diff compares against. A source
    pinned outside its spec (a DVC pointer) records the pin in words, for the plan to show."""
    record = {
        "model": model.model_dump(by_alias=True, mode="json", exclude={"api_version", "kind"}),
        "dataset": dataset.model_dump(by_alias=True, mode="json", exclude={"api_version", "kind"}),
        "dataset_hash": dataset_hash,
    }
    if dataset_pin is not None:
        record["dataset_pin"] = dataset_pin
    return record
