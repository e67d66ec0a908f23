"""Dataset source types, one module each, and their registry.

To add a source type: write a module with its spec (a pydantic class on reconciler.fields.Spec
with one field named after its key) and a SourceType subclass, and add an instance to
SOURCE_TYPES. The Dataset spec, the JSON schema, validation, hashing, loading and provenance
read it from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from reconciler.fields import Spec, tagged_union
from reconciler.sources.base import SourceType
from reconciler.sources.csv_file import Csv
from reconciler.sources.delta_table import Delta
from reconciler.sources.dvc_file import Dvc
from reconciler.sources.parquet_file import Parquet
from reconciler.sources.s3_object import S3Object
from reconciler.sources.sklearn_bundled import Sklearn

# In the order the schema and error messages list them.
SOURCE_TYPES: tuple[SourceType[Any], ...] = (Sklearn(), Csv(), Parquet(), Dvc(), S3Object(), Delta())

_BY_SPEC: dict[type[Spec], SourceType[Any]] = {t.spec: t for t in SOURCE_TYPES}


def source_type(source: Spec) -> SourceType[Any]:
    return _BY_SPEC[type(source)]


def _key(value: Any) -> str | None:
    if isinstance(value, BaseModel):  # serializing: the model knows its own kind
        found = _BY_SPEC.get(type(value))  # type: ignore[arg-type]
        return found.key if found else None
    if isinstance(value, dict):
        present = [t.key for t in SOURCE_TYPES if t.key in value]
        return present[0] if len(present) == 1 else None
    return None


if TYPE_CHECKING:
    Source = Spec
else:
    Source = tagged_union(
        [(t.key, t.spec) for t in SOURCE_TYPES],
        _key,
        "source_kind",
        f"source needs exactly one of: {', '.join(t.key for t in SOURCE_TYPES)}",
    )
