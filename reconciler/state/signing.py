"""Verdicts signed with a key the registry does not hold.

Anyone who can write to the registry can write a tag, so a `reconciler.gate.production` tag
saying "passed" proves nothing by itself: a version registered by hand with the right
fingerprint and a forged verdict would be promoted. With `RECONCILER_VERDICT_KEY` set (a CI
secret), every verdict the reconciler records carries an HMAC-SHA256 over the model, version,
fingerprint, tag name and the verdict itself; on reading, a verdict whose signature is missing or
wrong is set aside as untrusted, so the planner evaluates the version again and nothing is
promoted on its word. Without a key, verdicts are trusted as MLflow's own tags are.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping

from reconciler.state import tags as t

KEY_ENV = "RECONCILER_VERDICT_KEY"
SIGNATURE = "sig"
# Measurements feed verdicts (a gate re-judged later reuses them), so they are signed too: one
# signature over all of a version's metric tags, rewritten whenever one is added.
METRICS_SIGNATURE = t.PREFIX + "metrics_sig"


def verdict_key() -> bytes | None:
    key = os.environ.get(KEY_ENV, "")
    return key.encode() if key else None


def _digest(key: bytes, model: str, version: str, fingerprint: str, tag: str, body: Mapping[str, object]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    message = "\n".join((model, version, fingerprint, tag, canonical)).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def sign(text: str, model: str, version: str, fingerprint: str, tag: str) -> str:
    """The verdict JSON, signed when a key is configured (unchanged otherwise)."""
    key = verdict_key()
    if key is None:
        return text
    body = json.loads(text)
    body.pop(SIGNATURE, None)
    body[SIGNATURE] = _digest(key, model, version, fingerprint, tag, body)
    return json.dumps(body, separators=(",", ":"))


def _verifies(key: bytes, text: str, model: str, version: str, fingerprint: str, tag: str) -> bool:
    try:
        body = json.loads(text)
    except ValueError:
        return False
    if not isinstance(body, dict):
        return False
    claimed = body.pop(SIGNATURE, None)
    if not isinstance(claimed, str):
        return False
    return hmac.compare_digest(claimed, _digest(key, model, version, fingerprint, tag, body))


def metric_tags(tags: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if k.startswith(t.METRIC_PREFIX)}


def sign_metrics(model: str, version: str, fingerprint: str, tags: Mapping[str, str]) -> str | None:
    """The signature of a version's metric tags; None without a key."""
    key = verdict_key()
    if key is None:
        return None
    return _digest(key, model, version, fingerprint, METRICS_SIGNATURE, metric_tags(tags))


def split_trusted(
    model: str, version: str, fingerprint: str, tags: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """The tags to trust, and those set aside: verdicts that do not verify, and all the metric
    tags when their signature does not."""
    key = verdict_key()
    if key is None:
        return dict(tags), {}
    kept: dict[str, str] = {}
    aside: dict[str, str] = {}
    metrics = metric_tags(tags)
    claimed = tags.get(METRICS_SIGNATURE, "")
    metrics_ok = not metrics or hmac.compare_digest(
        claimed, _digest(key, model, version, fingerprint, METRICS_SIGNATURE, metrics)
    )
    for name, value in tags.items():
        if name.startswith(t.METRIC_PREFIX) and not metrics_ok:
            aside[name] = value
            continue
        is_verdict = name.startswith((t.GATE_PREFIX, t.PREVIEW_PREFIX))
        if is_verdict and not _verifies(key, value, model, version, fingerprint, name):
            aside[name] = value
        else:
            kept[name] = value
    return kept, aside
