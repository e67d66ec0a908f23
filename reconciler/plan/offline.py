"""A plan from git alone: compare the desired state at the base revision with the head.

Pull requests from forks get no secrets, so the registry cannot be read. What git does tell:
which (environment, model) fingerprints change, hence what merging will train and promote,
and what each change is. Whether a version already exists for a fingerprint, and how gates
will judge it, is unknown here and said so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from reconciler.desired.model import DesiredEntry
from reconciler.plan.model import UNKNOWN_VERSION, Action, Change, Kind, Plan

ChangesFn = Callable[[Mapping[str, object] | None, Mapping[str, object]], tuple[Change, ...]]

OFFLINE_NOTE = "not checked against the registry: computed from git alone (base vs head)"


def offline_plan(
    base: Sequence[DesiredEntry],
    head: Sequence[DesiredEntry],
    environments: Sequence[str],
    changes: ChangesFn,
    *,
    known: Sequence[DesiredEntry] = (),
    revision: str = "",
) -> Plan:
    """`known` holds entries of other revisions whose versions exist (e.g. the state a revert
    returns to), so that reaching them again is shown as a promotion, not a training."""
    existing = {(e.model, e.fingerprint) for e in (*base, *known)}
    before = {(e.environment, e.model): e for e in base}
    order = {env: i for i, env in enumerate(environments)}
    actions: list[Action] = []
    trained: set[tuple[str, str]] = set()
    for entry in sorted(head, key=lambda e: (order.get(e.environment, len(order)), e.model)):
        old = before.get((entry.environment, entry.model))
        gates = entry.gates
        if old is not None and old.fingerprint == entry.fingerprint:
            if old.gates_hash != entry.gates_hash:
                actions.append(
                    Action(
                        Kind.EVALUATE,
                        entry.environment,
                        entry.model,
                        entry.fingerprint,
                        UNKNOWN_VERSION,
                        UNKNOWN_VERSION,
                        "gates changed: the deployed version is judged again",
                        gates=gates,
                        evaluate_in=(entry.environment,),
                    )
                )
            else:
                actions.append(
                    Action(
                        Kind.NOOP,
                        entry.environment,
                        entry.model,
                        entry.fingerprint,
                        UNKNOWN_VERSION,
                        UNKNOWN_VERSION,
                        "unchanged",
                        gates=gates,
                    )
                )
            continue
        diff = changes(old.spec if old is not None else None, entry.spec)
        deployed = UNKNOWN_VERSION if old is not None else None
        key = (entry.model, entry.fingerprint)
        if entry.data_problems and key not in existing:
            actions.append(
                Action(
                    Kind.BLOCKED,
                    entry.environment,
                    entry.model,
                    entry.fingerprint,
                    deployed,
                    None,
                    "data checks failed: " + "; ".join(entry.data_problems),
                    changes=diff,
                    gates=gates,
                )
            )
            continue
        if key not in trained and key not in existing:
            trained.add(key)
            why = "new fingerprint (trains unless the registry already holds it)" if old else "new in this environment"
            actions.append(
                Action(
                    Kind.TRAIN,
                    entry.environment,
                    entry.model,
                    entry.fingerprint,
                    deployed,
                    None,
                    why,
                    changes=diff,
                    gates=gates,
                )
            )
        elif key not in trained:
            trained.add(key)  # deployed at base or in the state a revert returns to: no training
        actions.append(
            Action(
                Kind.PROMOTE,
                entry.environment,
                entry.model,
                entry.fingerprint,
                deployed,
                None,
                "promote once the gates pass",
                changes=diff,
                gates=gates,
            )
        )
    head_keys = {(e.environment, e.model) for e in head}
    for key, old in sorted(before.items(), key=lambda kv: (order.get(kv[0][0], len(order)), kv[0][1])):
        if key not in head_keys:
            actions.append(
                Action(
                    Kind.DEMOTE,
                    old.environment,
                    old.model,
                    None,
                    UNKNOWN_VERSION,
                    None,
                    "removed from the environment: delete alias (versions kept)",
                )
            )
    return Plan(tuple(actions), tuple(environments), "git only", revision, (OFFLINE_NOTE,), checked=False)
