"""`uri: s3://bucket/key` with `version_id`: one version of an object in S3-compatible storage.

The object version is the pin: overwriting the key makes a new version and never changes what
trains. `sha256` (written by `reconciler pin`) is checked against the downloaded bytes; the content
identity covers both. Credentials and the endpoint come from the environment
only (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, as boto3 reads them); a URL
carrying credentials is refused without repeating them.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, StringConstraints

from reconciler.canonical import sha256_json
from reconciler.fields import Spec
from reconciler.redact import redact, redact_url
from reconciler.sources.base import Bundled, FileHash, PinError, Repin, SourceType, SpecPath
from reconciler.sources.fetched import cached_path, read_frame, store, suffix_problem
from reconciler.sources.files import DataFileError, file_sha256

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
VersionId = Annotated[str, StringConstraints(min_length=1, max_length=1024, pattern=r"^[A-Za-z0-9._\-+/=]+$")]


class UriSource(Spec):
    uri: Annotated[str, StringConstraints(min_length=1, max_length=2048)] = Field(
        description="s3://bucket/key of a CSV or Parquet object (endpoint and credentials from the environment)."
    )
    version_id: VersionId | None = Field(
        default=None,
        description="The object version that trains: overwriting the key never changes it (`reconciler pin` sets it).",
    )
    sha256: Sha256 | None = Field(default=None, description="The version's SHA-256, checked after download.")


@dataclass(frozen=True)
class S3Key:
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


def parse_s3(uri: str) -> tuple[S3Key | None, str | None]:
    """The bucket and key, or why the URL cannot name one object (never echoing credentials)."""
    parts = urlsplit(uri)
    if "@" in parts.netloc:
        return None, "the URL carries credentials: give them in the environment (AWS_ACCESS_KEY_ID...), not in a spec"
    if parts.scheme != "s3":
        return None, f"'{redact_url(uri)}' is not an s3:// URL (the only object storage supported)"
    if parts.query or parts.fragment:
        return None, "the URL has a query or fragment: the version goes in version_id"
    if not _BUCKET.match(parts.netloc):
        return None, f"'{parts.netloc}' is not a valid bucket name"
    key = parts.path.lstrip("/")
    if not key or key.endswith("/"):
        return None, f"'{uri}' names no object (a key is needed after the bucket)"
    return S3Key(parts.netloc, key), None


def client() -> Any:
    """An S3 client configured by the environment, failing fast: an endpoint that does not
    answer is an error in seconds, not after minutes of retries. One per configuration: making
    one costs more than downloading a few megabytes."""
    return _client(tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_"))))


@functools.lru_cache(maxsize=4)
def _client(configuration: tuple[tuple[str, str], ...]) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        config=Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 2, "mode": "standard"}),
    )


def s3_error(exc: BaseException, where: str, versioned: bool = True) -> DataFileError:
    """The reason in words, from botocore's exceptions, with nothing secret in it. (A HEAD
    request's 404 has no code: with a version asked for, that version is what is missing.)"""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        words = {
            "NoSuchVersion": "has no such version",
            "InvalidArgument": "has no such version",
            "NoSuchKey": "does not exist",
            "404": "has no such version" if versioned else "does not exist",
            "NoSuchBucket": "is in a bucket that does not exist",
            "AccessDenied": "is not readable with the credentials in the environment",
            "403": "is not readable with the credentials in the environment",
            "InvalidAccessKeyId": "is not readable: the access key in the environment is unknown",
            "SignatureDoesNotMatch": "is not readable: the secret key in the environment is wrong",
        }.get(code, f"could not be read ({code or 'error'})")
        return DataFileError(f"{where} {words}")
    if isinstance(exc, EndpointConnectionError):
        endpoint = redact(str(exc.kwargs.get("endpoint_url", "")))
        return DataFileError(f"cannot reach the S3 endpoint for {where} ({endpoint})")
    if isinstance(exc, NoCredentialsError):
        return DataFileError(f"no S3 credentials in the environment to read {where}")
    return DataFileError(f"cannot read {where}: {type(exc).__name__}: {redact(str(exc)).splitlines()[0]}")


class S3Object(SourceType[UriSource]):
    key = "uri"
    spec = UriSource

    def problems(self, source: UriSource, repo: Path, bundled: Mapping[str, Bundled]) -> Iterator[tuple[SpecPath, str]]:
        where, problem = parse_s3(source.uri)
        if problem is not None:
            yield ("uri",), problem
        elif where is not None and (wrong := suffix_problem(where.key)) is not None:
            yield ("uri",), wrong
        if source.version_id is None:
            yield (
                ("uri",),
                "version_id is required: a key can be overwritten, a version cannot "
                "(`reconciler pin DATASET --latest` writes the current one)",
            )

    def remote(self, source: UriSource) -> bool:
        return True

    def _object(self, source: UriSource) -> S3Key:
        where, problem = parse_s3(source.uri)
        if where is None:
            raise DataFileError(problem or "not an s3:// URL")
        return where

    def _where(self, source: UriSource) -> S3Key:
        where = self._object(source)
        if source.version_id is None:
            raise DataFileError(f"{where} has no version_id: it is not pinned")
        return where

    def content_hash(self, source: UriSource, repo: Path, file_hash: FileHash) -> str:
        # The pin and, once `reconciler pin` has read them, the bytes' hash: a version id edited
        # by hand is a change to plan (and to fail on) even when the hash was left as it was.
        where = self._where(source)
        return sha256_json(
            {"s3": f"{where.bucket}/{where.key}", "version_id": source.version_id, "sha256": source.sha256}
        )

    def pin(self, source: UriSource, repo: Path) -> str | None:
        return f"version_id {source.version_id[:16]}" if source.version_id else None

    def uri(self, source: UriSource) -> str:
        return f"{self._where(source)}?versionId={source.version_id}"

    def load(self, source: UriSource, repo: Path) -> Any:
        where = self._where(source)
        shown = f"{where} (version {source.version_id})"
        path = cached_path(repo, "s3", self.uri(source))
        if not path.is_file():
            try:
                body = client().get_object(Bucket=where.bucket, Key=where.key, VersionId=source.version_id)["Body"]
                store(body.iter_chunks(1024 * 1024), path, shown, source.sha256)
            except DataFileError:
                raise
            except Exception as exc:  # botocore's errors: each turned into its reason
                raise s3_error(exc, shown) from exc
        return read_frame(path, where.key, shown)

    def repin(self, source: UriSource, repo: Path, version: str | None) -> Repin:
        where = self._object(source)
        try:
            head = (
                client().head_object(Bucket=where.bucket, Key=where.key, VersionId=version)
                if version is not None
                else client().head_object(Bucket=where.bucket, Key=where.key)
            )
        except Exception as exc:
            raise s3_error(exc, f"{where} (version {version})" if version else str(where), version is not None) from exc
        found = head.get("VersionId")
        if not found or found == "null":
            raise PinError(f"{where} has no object versions: turn versioning on for bucket '{where.bucket}'")
        unverified = UriSource(uri=source.uri, version_id=str(found))
        path = cached_path(repo, "s3", self.uri(unverified))
        if not path.is_file():
            self.load(unverified, repo)  # downloads into the cache, where it is hashed
        digest = file_sha256(path)
        pinned = UriSource(uri=source.uri, version_id=found, sha256=digest)
        return Repin({("version_id",): found, ("sha256",): digest}, pinned, f"version_id {found}")
