"""`delta: {path | uri, version}`: one version of a Delta Lake table (read with deltalake).

The version is the pin: a table's versions are immutable, so writing to the table never
changes what trains. The identity is the location and the version, known without reading the
table (the offline plan, and a base revision whose checkout has no copy of the table, agree
with the plan made where it is). A table in object storage (`uri`) is read with the
environment's credentials (AWS_* variables, as delta-rs reads them).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, StringConstraints, model_validator

from reconciler.canonical import sha256_json
from reconciler.fields import RepoPath, Spec
from reconciler.redact import redact
from reconciler.sources.base import Bundled, FileHash, PinError, Repin, SourceType, SpecPath
from reconciler.sources.files import MAX_COLUMNS, DataFileError
from reconciler.sources.s3_object import parse_s3

LOG = "_delta_log"


class DeltaLocation(Spec):
    path: RepoPath | None = Field(default=None, description="The table's directory, inside the repository.")
    uri: Annotated[str, StringConstraints(min_length=1, max_length=2048)] | None = Field(
        default=None, description="The table in object storage: s3://bucket/prefix."
    )
    version: Annotated[int, Field(ge=0)] = Field(description="The table version that trains.")

    @model_validator(mode="after")
    def _one_location(self) -> DeltaLocation:
        if (self.path is None) == (self.uri is None):
            raise ValueError("give exactly one of path (a table in the repository) or uri (s3://...)")
        return self


class DeltaSource(Spec):
    delta: DeltaLocation = Field(description="A Delta Lake table at a version.")


def _commit_file(table: Path, version: int) -> Path:
    return table / LOG / f"{version:020d}.json"


def _latest_local(table: Path) -> int | None:
    versions = [int(p.name[:20]) for p in (table / LOG).glob("*.json") if p.name[:20].isdigit()]
    return max(versions) if versions else None


class Delta(SourceType[DeltaSource]):
    key = "delta"
    spec = DeltaSource

    def problems(
        self, source: DeltaSource, repo: Path, bundled: Mapping[str, Bundled]
    ) -> Iterator[tuple[SpecPath, str]]:
        loc = source.delta
        if loc.uri is not None:
            _, problem = parse_s3(loc.uri.rstrip("/") + "/_")  # a prefix: checked as if it held an object
            if problem is not None:
                yield ("delta", "uri"), problem
            return
        assert loc.path is not None
        problem = _path_problem(loc.path, repo)
        if problem is not None:
            yield ("delta", "path"), problem
            return
        table = repo / loc.path
        if table.exists():  # data outside git may not be on this machine: then apply says so
            try:
                _check_version(table, loc.path, loc.version)
            except DataFileError as exc:
                yield ("delta", "version" if (table / LOG).is_dir() else "path"), str(exc)

    def remote(self, source: DeltaSource) -> bool:
        return True  # outside git, even on this machine: a checkout of another revision lacks it

    def content_hash(self, source: DeltaSource, repo: Path, file_hash: FileHash) -> str:
        loc = source.delta
        return sha256_json({"delta": (loc.uri or str(loc.path)).rstrip("/"), "version": loc.version})

    def pin(self, source: DeltaSource, repo: Path) -> str | None:
        return f"version {source.delta.version}"

    def uri(self, source: DeltaSource) -> str:
        loc = source.delta
        return f"delta:{loc.uri or loc.path}@v{loc.version}"

    def _location(self, source: DeltaSource, repo: Path) -> str:
        loc = source.delta
        return loc.uri.rstrip("/") if loc.uri is not None else str(repo / str(loc.path))

    def load(self, source: DeltaSource, repo: Path) -> Any:
        loc = source.delta
        shown = f"Delta table {loc.uri or loc.path} at version {loc.version}"
        if loc.path is not None:
            _check_version(repo / loc.path, loc.path, loc.version)
        frame = _open(self._location(source, repo), shown, loc.version).to_pandas()
        if frame.shape[1] > MAX_COLUMNS:
            raise DataFileError(f"{shown} has {frame.shape[1]:,} columns; the limit is {MAX_COLUMNS:,}")
        return frame

    def repin(self, source: DeltaSource, repo: Path, version: str | None) -> Repin:
        loc = source.delta
        where = self._location(source, repo)
        shown = f"Delta table {loc.uri or loc.path}"
        if version is None:
            wanted = _open(where, shown, None).version()
        elif version.isdigit():
            wanted = int(version)
        else:
            raise PinError(f"a Delta table's version is a number, not '{version}'")
        pinned = DeltaSource(delta=loc.model_copy(update={"version": wanted}))
        if loc.path is not None:
            _check_version(repo / loc.path, loc.path, wanted)
        _open(where, shown, wanted)
        return Repin({("delta", "version"): wanted}, pinned, f"version {wanted}")


def _path_problem(rel: str, repo: Path) -> str | None:
    if "\x00" in rel:
        return "path contains a NUL byte"
    if os.path.isabs(rel) or rel.startswith("~"):
        return f"'{rel}' is absolute; use a path relative to the repository root"
    if ".." in Path(rel).parts:
        return f"'{rel}' leaves the repository ('..' is not allowed)"
    target = (repo / rel).resolve()
    if target.exists() and not target.is_relative_to(repo.resolve()):
        return f"'{rel}' resolves outside the repository (through a symlink)"
    return None


def _check_version(table: Path, shown: str, version: int) -> None:
    """The version's commit file exists: what deltalake would refuse, said in words, offline."""
    if not table.is_dir():
        raise DataFileError(f"no Delta table at '{shown}' on this machine")
    if not (table / LOG).is_dir():
        raise DataFileError(f"'{shown}' is not a Delta table (it has no {LOG} directory)")
    if _commit_file(table, version).is_file():
        return
    latest = _latest_local(table)
    if latest is not None and version > latest:
        raise DataFileError(f"version {version} of '{shown}' is in the future: the table is at version {latest}")
    raise DataFileError(f"version {version} of '{shown}' is no longer in its log (vacuumed or checkpointed away)")


def _open(location: str, shown: str, version: int | None) -> Any:
    try:
        from deltalake import DeltaTable
    except ImportError as exc:  # the optional extra
        raise DataFileError("Delta tables need the `delta` extra: pip install gitops-model-reconciler[delta]") from exc
    try:
        return DeltaTable(location, version=version) if version is not None else DeltaTable(location)
    except Exception as exc:  # deltalake raises its own DeltaError family, and OSError
        first = redact(str(exc)).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataFileError(f"cannot open {shown}: {first}") from exc
