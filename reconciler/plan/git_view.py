"""What git alone says the registry holds, for planning without reading it (a pull request
from a fork gets no secrets).

Every fingerprint deployed at the base revision, or in a state a revert returns to, has a
version; each environment's alias sits on its base fingerprint, put there by the reconciler,
with the passing verdict under the base's gates that apply recorded before moving it. Version
numbers are placeholders: the plan made from this view says `?` for them
(reconciler.plan.offline).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from reconciler.desired.model import DesiredEntry
from reconciler.gates.verdict import Verdict
from reconciler.state import tags as t
from reconciler.state.actual import ActualState, LedgerEntry, RegisteredModelState, VersionState

LOCATION = "git only"


def git_only_state(base: Sequence[DesiredEntry], known: Sequence[DesiredEntry] = ()) -> ActualState:
    numbers: dict[tuple[str, str], str] = {}
    recorded: dict[tuple[str, str], dict[str, str]] = {}
    for entry in (*base, *known):
        key = (entry.model, entry.fingerprint)
        numbers.setdefault(key, str(sum(1 for m, _ in numbers if m == entry.model) + 1))
        tags = recorded.setdefault(key, {t.FINGERPRINT: entry.fingerprint, t.SPEC: json.dumps(dict(entry.spec))})
        passed = Verdict(entry.environment, True, entry.gates_hash, ())
        tags.setdefault(t.GATE_PREFIX + entry.environment, passed.to_json())
    models: dict[str, RegisteredModelState] = {}
    for name in sorted({m for m, _ in numbers}):
        versions = {
            number: VersionState(name, number, fp, None, "", "", recorded[(name, fp)])
            for (model, fp), number in numbers.items()
            if model == name
        }
        deployed = [e for e in base if e.model == name]
        aliases = {e.environment: numbers[(name, e.fingerprint)] for e in deployed}
        ledger = tuple(
            LedgerEntry(i + 1, env, None, version, "", "", "", "deployed at the base revision")
            for i, (env, version) in enumerate(sorted(aliases.items()))
        )
        models[name] = RegisteredModelState(name, True, aliases, versions, ledger)
    return ActualState(LOCATION, models)
