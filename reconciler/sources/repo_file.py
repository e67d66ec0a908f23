"""A data file committed to the repository, read whole: the shared part of `csv` and `parquet`.
Monitoring batches (a path or a URL) are read by the same types, chosen by file suffix."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from reconciler.sources.base import Bundled, FileHash, S, SourceType, SpecPath
from reconciler.sources.files import MAX_COLUMNS, DataFileError, check_data_file, check_repo_path


class RepoFile(SourceType[S]):
    suffixes: ClassVar[tuple[str, ...]]  # what the file's name must end with

    def path(self, source: S) -> str:
        return str(getattr(source, self.key))

    def problems(self, source: S, repo: Path, bundled: Mapping[str, Bundled]) -> Iterator[tuple[SpecPath, str]]:
        problem = check_repo_path(self.path(source), repo, self.suffixes)
        if problem is not None:
            yield (self.key,), problem

    def files(self, source: S) -> tuple[str, ...]:
        return (self.path(source),)

    def uri(self, source: S) -> str:
        return self.path(source)  # in the repository at the version's commit (its git_commit tag)

    def content_hash(self, source: S, repo: Path, file_hash: FileHash) -> str:
        return file_hash(repo / self.path(source))

    def load(self, source: S, repo: Path) -> Any:
        rel = self.path(source)
        check_data_file(repo / rel, rel)
        try:
            frame = self.read(repo / rel)
        except MemoryError as exc:
            raise DataFileError(f"{rel} does not fit in memory once loaded (RECONCILER_MAX_DATA_BYTES)") from exc
        if frame.shape[1] > MAX_COLUMNS:
            raise DataFileError(f"{rel} has {frame.shape[1]:,} columns; the limit is {MAX_COLUMNS:,}")
        return frame

    def read(self, source: Any) -> Any:
        """A DataFrame from a path or a file object in this format (monitoring batches too)."""
        raise NotImplementedError
