"""`parquet: path`: a Parquet file in the repository."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from reconciler.fields import RepoPath, Spec
from reconciler.sources.files import DATA_SUFFIXES
from reconciler.sources.repo_file import RepoFile


class ParquetSource(Spec):
    parquet: RepoPath = Field(description="A Parquet file inside the repository.")


class Parquet(RepoFile[ParquetSource]):
    key = "parquet"
    spec = ParquetSource
    suffixes = DATA_SUFFIXES["parquet"]

    def read(self, source: Any) -> Any:
        import pandas as pd

        return pd.read_parquet(source)
