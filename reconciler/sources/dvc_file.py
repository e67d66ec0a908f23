"""`dvc: {path, repo?, rev?}`: a file tracked by DVC.

In this repository, the pointer file next to the data (`data/churn.csv.dvc`, committed to git)
is the pin: its md5 is the content identity, read without DVC or the network, so validate and
plan never download. Training reads the object with that md5 from DVC's cache, fetching it from
the configured remote when missing, and checks its bytes against the md5: an edited or stale
copy in the working tree is never what trains. In another repository (`repo`), the pin is a
full commit (`rev`), read with dvc.api at that commit.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, StringConstraints, field_validator, model_validator

from reconciler.canonical import sha256_json
from reconciler.fields import RepoPath, Spec
from reconciler.redact import redact
from reconciler.sources.base import Bundled, FileHash, PinError, Repin, SourceType, SpecPath
from reconciler.sources.fetched import cached_path, read_frame, store, suffix_problem
from reconciler.sources.files import DataFileError, check_repo_path

_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_MD5 = re.compile(r"^[0-9a-f]{32}$")
_REPO_URL = re.compile(r"^(https?|ssh|git|file)://[^\s]+$|^[\w.-]+@[\w.-]+:[^\s]+$")


class DvcFile(Spec):
    path: RepoPath = Field(description="The DVC-tracked file (a CSV or Parquet), as DVC names it.")
    repo: Annotated[str, StringConstraints(min_length=1, max_length=2048)] | None = Field(
        default=None, description="Another git repository holding it (a URL); default: this one."
    )
    rev: str | None = Field(default=None, description="With repo (required there): the full commit to read it at.")

    @field_validator("rev")
    @classmethod
    def _full_commit(cls, rev: str | None) -> str | None:
        if rev is not None and not _COMMIT.match(rev):
            raise ValueError(
                f"{rev!r} is not a full commit SHA (40 hex digits): a branch or tag can move "
                "(`reconciler pin DATASET --version REF` resolves one)"
            )
        return rev

    @model_validator(mode="after")
    def _rev_with_repo(self) -> DvcFile:
        if self.repo is None and self.rev is not None:
            raise ValueError("rev needs repo: in this repository the pointer file committed with the specs is the pin")
        return self


class DvcSource(Spec):
    dvc: DvcFile = Field(description="A file tracked by DVC, pinned by its pointer (or by a commit of another repo).")


@dataclass(frozen=True)
class Pointer:
    md5: str
    size: int | None
    plain: bool  # DVC 3's `hash: md5` (the bytes' md5); older pointers hash text files differently


def pointer_of(repo: Path, rel: str) -> Pointer:
    """The md5 recorded in `<rel>.dvc`, read as data (no DVC import, no network)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    name = f"{rel}.dvc"
    problem = check_repo_path(name, repo, (".dvc",))
    if problem is not None:
        raise DataFileError(f"no DVC pointer for '{rel}': {problem} (run `dvc add {rel}` and commit the .dvc file)")
    try:
        doc = YAML(typ="safe", pure=True).load((repo / name).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError) as exc:
        raise DataFileError(f"{name} is not a readable DVC pointer: {str(exc).splitlines()[0]}") from exc
    outs = doc.get("outs") if isinstance(doc, dict) else None
    if not isinstance(outs, list) or len(outs) != 1 or not isinstance(outs[0], dict):
        raise DataFileError(f"{name} should have one entry under `outs`")
    out = outs[0]
    md5 = str(out.get("md5", ""))
    if md5.endswith(".dir"):
        raise DataFileError(f"{name} tracks a directory: point the dataset at one file inside it")
    if not _MD5.match(md5):
        raise DataFileError(f"{name} has no md5 (is it a DVC pointer?)")
    size = out.get("size")
    return Pointer(md5, size if isinstance(size, int) else None, out.get("hash") == "md5")


class Dvc(SourceType[DvcSource]):
    key = "dvc"
    spec = DvcSource

    def problems(self, source: DvcSource, repo: Path, bundled: Mapping[str, Bundled]) -> Iterator[tuple[SpecPath, str]]:
        spec = source.dvc
        wrong = suffix_problem(spec.path)
        if wrong is not None:
            yield ("dvc", "path"), wrong
        if spec.repo is not None:
            if "@" in spec.repo.split("://", 1)[-1].split("/", 1)[0] and "://" in spec.repo:
                yield ("dvc", "repo"), "the URL carries credentials: give them to git (a credential helper), not a spec"
            elif not _REPO_URL.match(spec.repo):
                yield (
                    ("dvc", "repo"),
                    f"'{redact(spec.repo)}' is not a git URL (https://, ssh://, git@host:path, file://)",
                )
            if spec.rev is None:
                yield (
                    ("dvc",),
                    "rev is required with repo: a full commit SHA, as a branch or tag can move "
                    "(`reconciler pin DATASET` writes the newest)",
                )
            return
        try:
            pointer_of(repo, spec.path)
        except DataFileError as exc:
            yield ("dvc", "path"), str(exc)

    def watched(self, source: DvcSource) -> tuple[str, ...]:
        return () if source.dvc.repo is not None else (f"{source.dvc.path}.dvc",)

    def remote(self, source: DvcSource) -> bool:
        return True

    def content_hash(self, source: DvcSource, repo: Path, file_hash: FileHash) -> str:
        spec = source.dvc
        if spec.repo is not None:
            return sha256_json({"dvc_repo": spec.repo, "rev": spec.rev, "path": spec.path})
        return sha256_json({"dvc_md5": pointer_of(repo, spec.path).md5})

    def pin(self, source: DvcSource, repo: Path) -> str | None:
        spec = source.dvc
        if spec.rev is not None:
            return f"rev {spec.rev[:12]}"
        try:
            return f"md5 {pointer_of(repo, spec.path).md5[:12]}"
        except DataFileError:
            return None

    def uri(self, source: DvcSource) -> str:
        spec = source.dvc
        if spec.repo is not None:
            return f"dvc:{redact(spec.repo)}@{spec.rev}:{spec.path}"
        return f"dvc:{spec.path}"

    def load(self, source: DvcSource, repo: Path) -> Any:
        spec = source.dvc
        if spec.repo is not None:
            return self._load_other(spec, repo)
        pointer = pointer_of(repo, spec.path)
        shown = f"{spec.path} (DVC md5 {pointer.md5[:12]})"
        dvc_repo = _open_repo(repo)
        cache = Path(dvc_repo.cache.local.oid_to_path(pointer.md5))
        if not cache.is_file():
            try:
                dvc_repo.fetch(targets=[str(repo / f"{spec.path}.dvc")])
            except Exception as exc:  # DVC's errors (no remote, unreachable, missing object)
                raise DataFileError(f"cannot fetch {shown} from its DVC remote: {_first(exc)}") from exc
            if not cache.is_file():
                raise DataFileError(f"{shown} is not in the DVC remote (was `dvc push` run?)")
        if pointer.plain:
            found = _md5(cache)
            if found != pointer.md5:
                raise DataFileError(
                    f"{spec.path}: the data DVC holds does not match its pointer (md5 {found[:12]}..., "
                    f"pointer {pointer.md5[:12]}...): the cache or remote is corrupt"
                )
        return read_frame(cache, spec.path, shown)

    def _load_other(self, spec: DvcFile, repo: Path) -> Any:
        if spec.rev is None:
            raise DataFileError(f"{spec.path} of {redact(str(spec.repo))} has no rev: it is not pinned")
        pin = f"{spec.repo}@{spec.rev}:{spec.path}"
        shown = f"{spec.path} of {redact(str(spec.repo))} at {str(spec.rev)[:12]}"
        path = cached_path(repo, "dvc", pin)
        if not path.is_file():
            try:
                import dvc.api

                with dvc.api.open(spec.path, repo=spec.repo, rev=spec.rev, mode="rb") as fh:
                    store(iter(lambda: fh.read(1024 * 1024), b""), path, shown)
            except DataFileError:
                raise
            except Exception as exc:
                raise DataFileError(f"cannot read {shown} with DVC: {_first(exc)}") from exc
        return read_frame(path, spec.path, shown)

    def repin(self, source: DvcSource, repo: Path, version: str | None) -> Repin:
        spec = source.dvc
        if spec.repo is None:
            raise PinError(
                f"'{spec.path}' is pinned by its pointer {spec.path}.dvc: run `dvc add {spec.path}`, "
                "`dvc push`, and commit the pointer"
            )
        commit = _resolve(spec.repo, version or "HEAD")
        pinned = DvcSource(dvc=spec.model_copy(update={"rev": commit}))
        return Repin({("dvc", "rev"): commit}, pinned, f"rev {commit}")


def _open_repo(repo: Path) -> Any:
    try:
        from dvc.repo import Repo
    except ImportError as exc:
        raise DataFileError("DVC sources need the `dvc` extra: pip install 'gitops-model-reconciler[dvc]'") from exc
    from dvc.scm import SCMError

    try:
        return Repo(str(repo))
    except SCMError:  # an exported revision (a pinned model) is a tree without .git
        return Repo(str(repo), config={"core": {"no_scm": True}})
    except Exception as exc:
        raise DataFileError(f"not a DVC repository ({_first(exc)}): run `dvc init` and commit .dvc/") from exc


def _resolve(url: str, ref: str) -> str:
    """The commit `ref` names in the repository at `url` (git ls-remote: nothing is cloned)."""
    import subprocess

    if re.fullmatch(r"[0-9a-f]{40}", ref):
        return ref
    result = subprocess.run(
        ["git", "ls-remote", "--", url, ref], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        last = redact(result.stderr.strip()).splitlines()[-1:] or [f"git exited {result.returncode}"]
        raise PinError(f"cannot read {redact(url)}: {last[0]}")
    for line in result.stdout.splitlines():
        sha, _, name = line.partition("\t")
        if name in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}"):
            return sha
    raise PinError(f"{redact(url)} has no branch or tag '{ref}'")


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _first(exc: BaseException) -> str:
    text = redact(str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__
