"""What the steps of one apply share: the registry cache, the targets, provenance, and the
estimators and splits already in memory."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from reconciler.apply.cache import RegistryCache
from reconciler.apply.prefit import Prefits
from reconciler.data.frames import Split
from reconciler.desired.model import Target
from reconciler.policy.police import MoveCheck
from reconciler.spec.catalog import Catalog
from reconciler.state.actual import LedgerEntry, VersionState
from reconciler.state.mlflow_store import MlflowStore
from reconciler.vcs.git import Provenance

# Estimators fitted in this process, kept so their gates are measured without loading them back
# from the registry. Bounded: a plan with many large models must not hold them all in memory.
FITTED_KEPT = 8
SPLITS_KEPT = 4


def keep(cache: OrderedDict[Any, Any], key: Any, value: Any, limit: int) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > limit:
        cache.popitem(last=False)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Run:
    store: MlflowStore
    cache: RegistryCache
    targets: Mapping[tuple[str, str], Target]
    catalog: Catalog
    provenance: Provenance
    move_check: MoveCheck | None = None
    preview: bool = False  # a pull request's preview: verdicts under its gates, no alias moves
    plan_id: str = ""
    prefitted: Prefits = field(default_factory=Prefits)
    failed_fingerprints: dict[tuple[str, str], str] = field(default_factory=dict)
    reused: set[tuple[str, str | None]] = field(default_factory=set)
    fitted: OrderedDict[tuple[str, str], Any] = field(default_factory=OrderedDict)
    splits: OrderedDict[tuple[str, str], Split] = field(default_factory=OrderedDict)

    def entry(self, env: str, before: str | None, after: str | None, reason: str, gates: str = "") -> LedgerEntry:
        """The ledger entry for an alias move made by this run (its number is given on append)."""
        prov = self.provenance
        return LedgerEntry(0, env, before, after, prov.commit, now(), self.plan_id, reason, gates, prov.dirty)

    def estimator(self, version: VersionState) -> Any:
        """The fitted estimator: the one trained in this process if kept, else loaded back."""
        key = (version.model, version.version)
        if key in self.fitted:
            return self.fitted[key]
        return self.store.load_model(version.model, version.version)

    def split(self, target: Target) -> Split:
        key = _data_key(target)
        if key not in self.splits:
            from reconciler.data.frames import load_frame, split

            dataset = target.resolved.dataset
            keep(self.splits, key, split(dataset, load_frame(dataset, target.data_root)), SPLITS_KEPT)
        return self.splits[key]


def _data_key(target: Target) -> tuple[str, str]:
    """Same content and same dataset spec (columns, split) give the same split."""
    return target.dataset_hash, target.resolved.dataset.model_dump_json()
