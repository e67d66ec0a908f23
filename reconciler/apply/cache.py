"""The registry as an apply sees it: read once per model, then kept current with the apply's
own writes instead of read back. Under the apply lock nobody else writes, and every
compare-and-set (an alias move) still reads the registry fresh."""

from __future__ import annotations

from dataclasses import replace

from reconciler.state.actual import ActualState, LedgerEntry, RegisteredModelState, VersionState
from reconciler.state.mlflow_store import MlflowStore


class RegistryCache:
    def __init__(self, store: MlflowStore, actual: ActualState | None = None) -> None:
        self.store = store
        # Seeded with the state the plan was made from; every write refreshes what it touched.
        self.models: dict[str, RegisteredModelState | None] = dict(actual.models) if actual else {}
        self.unmanaged = actual.unmanaged if actual else frozenset()
        # Seeded with a whole read made under the lock, the cache knows that a model it does not
        # hold did not exist then, and under the lock only this run creates one.
        self.whole = actual is not None

    def model(self, name: str, refresh: bool = False) -> RegisteredModelState | None:
        if refresh or (name not in self.models and not self.whole):
            self.models[name] = self.store.read_model(name)
        return self.models.get(name)

    def version(self, name: str, fingerprint: str | None, version: str | None) -> VersionState | None:
        rm = self.model(name)
        if rm is None:
            return None
        if version is not None and version in rm.versions:
            return rm.versions[version]
        return rm.by_fingerprint(fingerprint) if fingerprint else None

    def current(self, name: str, environment: str) -> VersionState | None:
        """The version the environment's alias holds now."""
        rm = self.model(name)
        held = rm.aliases.get(environment) if rm else None
        return rm.versions.get(held) if rm and held else None

    def registered(self, version: VersionState) -> None:
        if version.model not in self.models:
            if version.model in self.store.created:  # made under this lock just now: only this version
                self.models[version.model] = RegisteredModelState(version.model, True, {}, {version.version: version})
            else:
                self.model(version.model, refresh=True)
            return
        rm = self.models[version.model] or RegisteredModelState(version.model, True, {}, {})
        self.models[version.model] = replace(rm, versions={**rm.versions, version.version: version})

    def moved(self, model: str, env: str, to: str | None, ledger: tuple[LedgerEntry, ...]) -> None:
        rm = self.models.get(model)
        if rm is None:
            self.model(model, refresh=True)
            return
        aliases = {k: v for k, v in rm.aliases.items() if k != env} | ({env: to} if to is not None else {})
        self.models[model] = replace(rm, aliases=aliases, ledger=ledger)

    def remember(self, version: VersionState) -> None:
        rm = self.models.get(version.model)
        if rm is not None:
            self.models[version.model] = replace(rm, versions={**rm.versions, version.version: version})
