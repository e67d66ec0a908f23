"""A model's versions and the alias ledger, as rows for `reconciler history`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from reconciler.state.actual import LedgerEntry, RegisteredModelState


@dataclass(frozen=True)
class HistoryRow:
    version: str
    fingerprint: str
    commit: str
    trained: str
    deployed: str


def deployments(rm: RegisteredModelState) -> dict[str, list[tuple[str, str, str]]]:
    """version -> [(environment, from date, to date or '')] from the ledger."""
    out: dict[str, list[tuple[str, str, str]]] = {}
    open_since: dict[str, tuple[str, str]] = {}
    for entry in rm.ledger:
        if entry.event and not entry.moved:
            continue  # a rollout's step: the alias stayed where it was
        held = open_since.pop(entry.environment, None)
        if held is not None:
            out.setdefault(held[0], []).append((entry.environment, held[1], entry.at))
        if entry.to_version is not None:
            open_since[entry.environment] = (entry.to_version, entry.at)
    for env, (version, since) in open_since.items():
        out.setdefault(version, []).append((env, since, ""))
    return out


def history_rows(rm: RegisteredModelState) -> list[HistoryRow]:
    moves = deployments(rm)
    rows = []
    for version in sorted(rm.versions.values(), key=lambda v: int(v.version), reverse=True):
        spans = "; ".join(f"{env} {start[:10]} -> {end[:10]}" for env, start, end in moves.get(version.version, []))
        rows.append(
            HistoryRow(
                f"v{version.version}",
                version.fingerprint[:8],
                (version.commit[:7] or "-") + ("+dirty" if version.dirty else ""),
                version.created[:10],
                spans or "-",
            )
        )
    return rows


def rollout_lines(rm: RegisteredModelState) -> list[str]:
    """Every rollout step the ledger holds, oldest first: `2026-11-30T10:00 production v2 started: ...`."""
    return [
        f"{e.at[:16]} {e.environment} v{e.candidate} {e.event}: {e.reason}"
        for e in rm.ledger
        if e.event and e.candidate is not None
    ]


def _parse(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def valid_moment(text: str) -> bool:
    try:
        _parse(text)
    except ValueError:
        return False
    return True


def at_date(rm: RegisteredModelState, environment: str, when: str) -> LedgerEntry | None:
    """The ledger entry that set what `environment` held at `when` (None: nothing held)."""
    moment = _parse(when)
    if len(when) == 10:  # a bare date means the end of that day
        moment = moment.replace(hour=23, minute=59, second=59)
    found = None
    for entry in rm.ledger:
        if entry.environment == environment and _parse(entry.at) <= moment and (entry.moved or not entry.event):
            found = entry
    return found if found is not None and found.to_version is not None else None
