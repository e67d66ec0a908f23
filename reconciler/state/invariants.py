"""Invariants over a registry, checkable at any time (`reconciler status --check`). Pure."""

from __future__ import annotations

from reconciler.state.actual import ActualState


def violations(actual: ActualState) -> list[str]:
    """One version per fingerprint; every alias the reconciler set is on a version that had
    passed that environment's gates when it moved (a gate tightened later is not a breach)."""
    out: list[str] = []
    for name, rm in sorted(actual.models.items()):
        seen: dict[str, str] = {}
        for version in sorted(rm.versions.values(), key=lambda v: int(v.version)):
            if not version.fingerprint:
                out.append(f"{name} v{version.version}: no fingerprint tag")
            elif version.fingerprint in seen:
                out.append(f"{name} v{version.version}: same fingerprint as v{seen[version.fingerprint]}")
            else:
                seen[version.fingerprint] = version.version
        for env, number in sorted(rm.aliases.items()):
            last = rm.last_move(env)
            if last is None:
                continue  # not set by the reconciler: drift, reported by plan
            if last.to_version != number:
                continue  # moved by hand since: drift, reported by plan
            held = rm.versions.get(number)
            verdict = held.verdict(env) if held is not None else None
            if held is None:
                out.append(f"{name}@{env}: points at v{number}, which does not exist")
            elif verdict is None:
                out.append(f"{name}@{env} -> v{number}: no recorded verdict for '{env}'")
            elif verdict.gates_hash == last.gates and not verdict.passed:
                out.append(f"{name}@{env} -> v{number}: moved onto a version that failed the gates of '{env}'")
    return out
