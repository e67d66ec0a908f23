"""`csv: path`: a CSV file in the repository; its header is read at validate."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field

from reconciler.fields import RepoPath, Spec
from reconciler.sources.base import Bundled, Known
from reconciler.sources.files import DATA_SUFFIXES, check_repo_path, csv_header
from reconciler.sources.repo_file import RepoFile


class CsvSource(Spec):
    csv: RepoPath = Field(description="A CSV file inside the repository.")


class Csv(RepoFile[CsvSource]):
    key = "csv"
    spec = CsvSource
    suffixes = DATA_SUFFIXES["csv"]

    def known(self, source: CsvSource, repo: Path, bundled: Mapping[str, Bundled]) -> Known:
        if check_repo_path(source.csv, repo, self.suffixes) is not None:
            return Known()
        return Known(columns=csv_header(repo / source.csv))

    def read(self, source: Any) -> Any:
        import pandas as pd

        return pd.read_csv(source)
