"""'Did you mean' hints for misspelt names, fields and scorers."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, candidates: Iterable[str]) -> str | None:
    options = list(candidates)
    prefixed = sorted(c for c in options if len(word) >= 3 and c.startswith(word))
    if prefixed:
        return prefixed[0]
    found = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not found:
        lowered = {c.lower(): c for c in options}
        found = [lowered[m] for m in difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)]
    return found[0] if found else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    match = closest(word, candidates)
    return f"; did you mean '{match}'?" if match else ""
