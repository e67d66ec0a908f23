"""Invariants over a registry, checkable at any time (`reconciler status --check`). Pure."""

from __future__ import annotations

from reconciler.state.actual import ActualState


def violations(actual: ActualState) -> list[str]:
    """One version per fingerprint; every alias is on a version that passed that environment's
    gates: under the gates in force when the reconciler moved it (a gate tightened later is not
    a breach), or at all when it was moved by hand."""
    out: list[str] = []
    for name, rm in sorted(actual.models.items()):
        seen: dict[str, str] = {}
        for version in sorted(rm.versions.values(), key=lambda v: int(v.version)):
            for tag in version.untrusted:
                out.append(f"{name} v{version.version}: {tag} is not signed with the verdict key; it is not trusted")
            if not version.fingerprint:
                out.append(f"{name} v{version.version}: no fingerprint tag")
            elif version.fingerprint in seen:
                out.append(f"{name} v{version.version}: same fingerprint as v{seen[version.fingerprint]}")
            else:
                seen[version.fingerprint] = version.version
        for env, number in sorted(rm.aliases.items()):
            last = rm.last_move(env)
            held = rm.versions.get(number)
            if held is None:
                out.append(f"{name}@{env}: points at v{number}, which does not exist")
                continue
            if last is None or last.to_version != number:
                # Moved outside the reconciler: drift that plan repairs, and a breach when the
                # version never passed this environment's gates.
                verdict = held.verdict(env)
                if verdict is None or not verdict.passed:
                    why = "no recorded verdict" if verdict is None else "a failed verdict"
                    out.append(
                        f"{name}@{env} -> v{number}: moved outside the reconciler onto a version with {why} for '{env}'"
                    )
                continue
            verdict = (held.verdict(env, last.gates) if last.gates else None) or held.verdict(env)
            if verdict is None:
                out.append(f"{name}@{env} -> v{number}: no recorded verdict for '{env}'")
            elif verdict.gates_hash == last.gates and not verdict.passed:
                out.append(f"{name}@{env} -> v{number}: moved onto a version that failed the gates of '{env}'")
    return out
