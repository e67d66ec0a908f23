"""Dataset content hashes: stable across machines and processes, cheap when nothing changed.

Files are hashed by their bytes (like DVC and `sha256sum`), and the digest is cached against
the file's size, modification time and inode so an unchanged file is never read twice.
What is hashed is each source type's choice (reconciler.sources): the files it reads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from reconciler.atomic import write_json
from reconciler.canonical import sha256_json
from reconciler.sources import source_type
from reconciler.sources.files import DataFileError, check_data_file, file_sha256
from reconciler.spec.kinds import Dataset


def verify_pin(repo: Path, rel: str, pinned: str, file_hash: Callable[[Path], str]) -> None:
    """A pinned file must still hold what was pinned: training never reads other rows."""
    check_data_file(repo / rel, rel)
    found = file_hash(repo / rel)
    if found != pinned:
        raise DataFileError(
            f"snapshot {rel} no longer matches its pin (sha256 {found[:12]}..., pinned {pinned[:12]}...): "
            "restore the file, or snapshot and pin again"
        )


class ContentHasher:
    """Implements reconciler.desired.fingerprint.DatasetHasher for files in one repository."""

    def __init__(self, repo: Path, cache_file: Path | None = None) -> None:
        self.repo = repo
        self.cache_file = cache_file
        self._cache: dict[str, dict[str, object]] | None = None
        self._dirty = False

    def content_hash(self, dataset: Dataset) -> str:
        if not dataset.uses_source:  # a window of snapshots: the source's rows are not trained on
            used = dataset.used_snapshots
            for snap in used:
                verify_pin(self.repo, snap.parquet, snap.sha256, self.file_hash)
            return sha256_json({"window": [snap.sha256 for snap in used]})
        base = source_type(dataset.source).content_hash(dataset.source, self.repo, self.file_hash)
        if not dataset.snapshots:
            return base  # the hash every dataset had before snapshots existed
        for snap in dataset.snapshots:
            verify_pin(self.repo, snap.parquet, snap.sha256, self.file_hash)
        return sha256_json({"source": base, "snapshots": [snap.sha256 for snap in dataset.snapshots]})

    def file_hash(self, path: Path) -> str:
        check_data_file(path, path.name)
        st = path.stat()
        key = str(path.resolve())
        stamp = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino}
        cache = self._load()
        hit = cache.get(key)
        if hit is not None and all(hit.get(k) == v for k, v in stamp.items()):
            return str(hit["sha256"])
        digest = file_sha256(path)
        cache[key] = {**stamp, "sha256": digest}
        self._dirty = True
        return digest

    def _load(self) -> dict[str, dict[str, object]]:
        if self._cache is None:
            self._cache = {}
            if self.cache_file is not None:
                try:
                    loaded = json.loads(self.cache_file.read_text(encoding="utf-8"))
                    if isinstance(loaded, dict):
                        self._cache = loaded
                except (OSError, ValueError):
                    pass
        return self._cache

    def save(self) -> None:
        if not self._dirty or self.cache_file is None or self._cache is None:
            return
        if write_json(self.cache_file, self._cache):  # atomic: a killed run never leaves half a cache
            self._dirty = False
