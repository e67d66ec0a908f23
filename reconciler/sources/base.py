"""What a dataset source is: its spec, how it is validated, what is known of it before loading,
the files it reads, its content hash, and how it loads.

A source type is one module in this package plus one line in its registry
(reconciler.sources.SOURCE_TYPES); nothing else dispatches on source classes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from reconciler.fields import Spec

S = TypeVar("S", bound=Spec)
SpecPath = tuple[str | int, ...]
FileHash = Callable[[Path], str]  # a file's content digest (cached by the caller)


class Bundled(Protocol):
    """What the catalog knows of a bundled dataset (reconciler.spec.catalog.DatasetInfo)."""

    @property
    def columns(self) -> tuple[str, ...]: ...
    @property
    def task(self) -> str: ...
    @property
    def classes(self) -> int: ...


@dataclass(frozen=True)
class Known:
    """What validate knows of a source without loading it: its columns, when it has a header
    or a catalog entry, and (from a catalog) its task and number of classes."""

    columns: tuple[str, ...] | None = None
    task: str | None = None
    classes: int | None = None


class SourceType(Generic[S]):
    """One kind of dataset source. Subclasses set `key` (the spec key naming it: `csv`, ...) and
    `spec`, and implement content_hash and load; the rest have defaults."""

    key: ClassVar[str]
    spec: ClassVar[type[Spec]]

    def problems(self, source: S, repo: Path, bundled: Mapping[str, Bundled]) -> Iterator[tuple[SpecPath, str]]:
        """What is wrong with the source beyond its schema (paths within the source)."""
        return iter(())

    def known(self, source: S, repo: Path, bundled: Mapping[str, Bundled]) -> Known:
        return Known()

    def files(self, source: S) -> tuple[str, ...]:
        """Repository files it reads: their uncommitted edits change what trains, and validate
        loads them to check the data contract."""
        return ()

    def watched(self, source: S) -> tuple[str, ...]:
        """Repository files that pin what it loads (its data files, or a pointer to data kept
        elsewhere): a pull request touching one has something to plan."""
        return self.files(source)

    def content_hash(self, source: S, repo: Path, file_hash: FileHash) -> str:
        """A digest of the rows and columns it loads, stable across machines and processes."""
        raise NotImplementedError

    def load(self, source: S, repo: Path) -> Any:
        """The whole dataset as a pandas DataFrame (features and target columns)."""
        raise NotImplementedError

    def remote(self, source: S) -> bool:
        """Whether its data lives outside git (a DVC remote, object storage, a table on disk):
        validate and the offline plan then work from the pin alone and leave the data contract
        to the plan apply makes."""
        return False

    def pin(self, source: S, repo: Path) -> str | None:
        """What pins its content, in words a plan shows (`md5 e5ebd4c0`, `version 4`); None
        for files in the repository, which git pins."""
        return None

    def uri(self, source: S) -> str:
        """Where it comes from and at which pin, as MLflow's dataset inputs and the version's
        provenance tags record it (never with credentials)."""
        return self.key

    def repin(self, source: S, repo: Path, version: str | None) -> Repin:
        """The fields `reconciler pin` writes into the source for `version` (None: the latest),
        once that version is known to exist; refused for sources git pins."""
        raise PinError(f"a `{self.key}` source is pinned by git: commit the change to the file instead")


class PinError(ValueError):
    pass


@dataclass(frozen=True)
class Repin:
    """A new pin for a source: the spec fields to write, the source as it would then read, and
    the pin in words."""

    fields: Mapping[tuple[str, ...], Any]  # the path of each field within the source -> its new value
    source: Spec
    described: str
