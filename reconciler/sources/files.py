"""What a data file must be before anything reads it: a regular file of bounded size.

Data files come from pull requests. A FIFO blocks a reader forever, a symlink to `/dev/zero`
never ends, a directory or a device is not data, and a sparse file can claim gigabytes it costs
nothing to commit and everything to load. Every reader (hashing, loading, `monitor --data`)
asks here first, and fails at once with the reason.
"""

from __future__ import annotations

import csv
import hashlib
import os
import stat
from pathlib import Path

# Data files are read whole into memory (pandas expands a CSV several times over): a file past
# this size is refused before reading. RECONCILER_MAX_DATA_BYTES raises or lowers it.
DEFAULT_MAX_DATA_BYTES = 1024**3
MAX_COLUMNS = 10_000  # a wider table is refused after loading (MLflow's input checks stall on it)
DATA_SUFFIXES = {"csv": (".csv",), "parquet": (".parquet", ".pq")}


def max_data_bytes() -> int:
    try:
        return int(os.environ.get("RECONCILER_MAX_DATA_BYTES", DEFAULT_MAX_DATA_BYTES))
    except ValueError:
        return DEFAULT_MAX_DATA_BYTES


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISSOCK, "a socket"),
)


class DataFileError(ValueError):
    pass


def check_data_file(path: Path | str, shown: str | None = None) -> int:
    """The file's size, once it is known to be a regular file within the limit."""
    name = shown or str(path)
    try:
        st = os.stat(path)  # follows symlinks: what a reader would open
    except OSError as exc:
        raise DataFileError(f"cannot read {name}: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(st.st_mode):
        kind = next((word for test, word in _KINDS if test(st.st_mode)), "not a regular file")
        raise DataFileError(f"{name} is {kind}, not a data file")
    limit = max_data_bytes()
    if st.st_size > limit:
        raise DataFileError(f"{name} is {st.st_size:,} bytes, over the limit of {limit:,} (RECONCILER_MAX_DATA_BYTES)")
    return st.st_size


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def csv_header(path: Path) -> tuple[str, ...] | None:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            row = next(csv.reader(fh), None)
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    return tuple(c.strip() for c in row) if row else None


def check_repo_path(rel: str, repo: Path, suffixes: tuple[str, ...], must_exist: bool = True) -> str | None:
    """Paths in specs stay inside the repository, symlinks included (specs are data)."""
    if "\x00" in rel:
        return "path contains a NUL byte"
    if os.path.isabs(rel) or rel.startswith("~") or (len(rel) > 1 and rel[1] == ":"):
        return f"'{rel}' is absolute; use a path relative to the repository root"
    parts = Path(rel).parts
    if ".." in parts:
        return f"'{rel}' leaves the repository ('..' is not allowed)"
    root = repo.resolve()
    target = (repo / rel).resolve()
    if not target.is_relative_to(root):
        return f"'{rel}' resolves outside the repository (through a symlink)"
    if not target.exists():
        return f"no such file '{rel}' in the repository" if must_exist else None
    if not target.is_file():
        return f"'{rel}' is not a file"
    if not rel.lower().endswith(suffixes):
        return f"'{rel}' should end with {' or '.join(suffixes)}"
    return None
