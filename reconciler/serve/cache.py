"""Predictions kept per (environment, model), keyed by the version and the input row: a row
asked for again costs a dictionary lookup instead of a predict. Bounded (least recently used
goes first), and emptied when another version is swapped in, so an answer always comes from the
version the alias holds."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from typing import Any


def row_key(row: Sequence[Any]) -> bytes:
    """A row's identity: its values with their types (1 and 1.0 and "1" are different inputs)."""
    text = "\x1f".join(f"{type(v).__name__}:{v!r}" for v in row)
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


class PredictionCache:
    def __init__(self, size: int) -> None:
        self.size = size
        self._version: str | None = None
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, version: str, key: bytes) -> tuple[bool, Any]:
        with self._lock:
            if version != self._version or key not in self._items:
                return False, None
            self._items.move_to_end(key)
            return True, self._items[key]

    def put(self, version: str, key: bytes, value: Any) -> None:
        if self.size <= 0:
            return
        with self._lock:
            if version != self._version:
                # Only the serving version is kept; a request that started on the previous one
                # finishing after a swap must not refill the cache with its answers.
                return
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def serve(self, version: str) -> None:
        """`version` is swapped in: the previous version's entries go."""
        with self._lock:
            if version != self._version:
                self._items.clear()
                self._version = version
