"""Data fetched from outside the repository: where the verified copies are kept, and how bytes
become a frame.

A fetched object is stored under a name derived from its pin, and only once it is whole (and,
where the pin carries a hash, verified): plan, the fit and the gates of one apply read it once
from the network, and a later run reads the pinned bytes even after the key was overwritten.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from reconciler.redact import redact
from reconciler.sources.files import DATA_SUFFIXES, MAX_COLUMNS, DataFileError, check_data_file, max_data_bytes


def cache_root(repo: Path) -> Path:
    """RECONCILER_DATA_CACHE, else the workspace's own state directory."""
    configured = os.environ.get("RECONCILER_DATA_CACHE")
    return Path(configured) if configured else repo / ".reconciler" / "cache" / "data"


def cached_path(repo: Path, kind: str, pin: str) -> Path:
    return cache_root(repo) / kind / hashlib.sha256(pin.encode()).hexdigest()


def data_format(name: str) -> str | None:
    """`csv` or `parquet` from a file name's suffix, None for anything else."""
    lower = name.lower()
    return next((fmt for fmt, suffixes in DATA_SUFFIXES.items() if lower.endswith(suffixes)), None)


def suffix_problem(name: str) -> str | None:
    if data_format(name) is None:
        wanted = " or ".join(s for suffixes in DATA_SUFFIXES.values() for s in suffixes)
        return f"'{name}' should end with {wanted} (the format is read from the name)"
    return None


def store(chunks: Iterable[bytes], target: Path, shown: str, sha256: str | None = None) -> Path:
    """Write the chunks to `target` through a temporary file, refusing more than the size limit
    and, with `sha256`, bytes that do not hash to it."""
    limit = max_data_bytes()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.part")
    digest = hashlib.sha256()
    size = 0
    try:
        with tmp.open("wb") as fh:
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise DataFileError(f"{shown} is over the limit of {limit:,} bytes (RECONCILER_MAX_DATA_BYTES)")
                digest.update(chunk)
                fh.write(chunk)
        if sha256 is not None and digest.hexdigest() != sha256:
            raise DataFileError(
                f"{shown} does not match its pin (sha256 {digest.hexdigest()[:12]}..., pinned {sha256[:12]}...)"
            )
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def read_frame(path: Path, name: str, shown: str) -> Any:
    """A DataFrame from a fetched file, read by the file source of the format its original name
    says (the same reader as a file committed to the repository)."""
    from reconciler.sources.csv_file import Csv
    from reconciler.sources.parquet_file import Parquet

    check_data_file(path, shown)
    fmt = data_format(name)
    try:
        frame = (Parquet() if fmt == "parquet" else Csv()).read(path)
    except MemoryError as exc:
        raise DataFileError(f"{shown} does not fit in memory once loaded (RECONCILER_MAX_DATA_BYTES)") from exc
    except (ValueError, OSError) as exc:
        raise DataFileError(f"{shown} is not readable as {fmt}: {redact(str(exc)).splitlines()[0]}") from exc
    if frame.shape[1] > MAX_COLUMNS:
        raise DataFileError(f"{shown} has {frame.shape[1]:,} columns; the limit is {MAX_COLUMNS:,}")
    return frame
