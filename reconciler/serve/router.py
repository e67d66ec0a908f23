"""During a rollout: which version answers a request, and what each version did, kept for the
analysis. A caller that sends the rollout's key header always lands on the same side of the
split (its bucket only ever joins the candidate as the weight grows); without one, each request
is drawn on its own."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reconciler.serve.fleet import Slot
from reconciler.state.rollout import RolloutState

BUCKETS = 10_000
RECENT = 20_000  # answers remembered per slot for labels sent back later

CANDIDATE, CHAMPION = "candidate", "champion"


def bucket(key: str) -> int:
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8, person=b"reconciler-roll").digest()
    return int.from_bytes(digest, "big") % BUCKETS


def to_candidate(state: RolloutState, key: str | None, draw: Callable[[], float]) -> bool:
    if state.spec.strategy != "canary" or state.weight <= 0:
        return False
    if key is not None:
        return bucket(key) < state.weight * (BUCKETS // 100)
    return draw() * 100 < state.weight


def _current_side(slot: Slot, role: str, version: str) -> Any:
    state = slot.rollout
    if state is None or slot.seen_for != (state.candidate, state.step):
        return None
    if (role == CANDIDATE) != (version == state.candidate):
        return None  # a swap raced the request: it belongs to neither side of this rollout
    return slot.seen.candidate if role == CANDIDATE else slot.seen.champion


def record_answer(
    slot: Slot, role: str, version: str, seconds: float, predictions: Sequence[Any], frame: Any, request_id: str
) -> None:
    state = slot.rollout
    analysis = state.spec.analysis if state is not None else None
    rows: list[dict[str, Any]] = []
    if role == CANDIDATE and analysis and any(m.metric == "input_drift" for m in analysis.metrics):
        # Not frame.to_dict("records"): 200 us for one row, most of what a rollout adds per request.
        columns = [str(c) for c in frame.columns]
        rows = [dict(zip(columns, values, strict=True)) for values in frame.values.tolist()]
    with slot.lock:
        side = _current_side(slot, role, version)
        if side is None:
            return
        side.requests += 1
        side.latencies_ms.append(seconds * 1000)
        side.predictions.extend(predictions)
        side.rows.extend(rows)
        recent = slot.recent
        recent[request_id] = (role, list(predictions))
        while len(recent) > RECENT:
            recent.popitem(last=False)


def record_failure(slot: Slot, version: str) -> None:
    with slot.lock:
        side = _current_side(slot, CANDIDATE, version)
        if side is not None:
            side.requests += 1
            side.errors += 1


def record_labels(slot: Slot, labels: Sequence[Mapping[str, Any]]) -> int:
    """Join labels to the candidate's remembered answers; how many joined."""
    joined = 0
    with slot.lock:
        recent = slot.recent
        for item in labels:
            found = recent.get(str(item.get("request_id", "")))
            row = item.get("row", 0)
            if found is None or not isinstance(row, int) or isinstance(row, bool):
                continue
            role, predictions = found
            if role == CANDIDATE and 0 <= row < len(predictions):
                slot.seen.candidate.labelled.append((predictions[row], item.get("label")))
                joined += 1
    return joined
