"""`sklearn: load_iris`: a dataset bundled with scikit-learn, known from the catalog and hashed
from the data files inside the installed package without importing scikit-learn (a no-op plan
must not pay a second for it)."""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import Field

from reconciler.fields import Spec
from reconciler.sources.base import Bundled, FileHash, Known, SourceType, SpecPath
from reconciler.suggest import did_you_mean

# The files each bundled loader reads (scikit-learn/sklearn/datasets/_base.py).
BUNDLED_FILES = {
    "load_iris": ("iris.csv",),
    "load_wine": ("wine_data.csv",),
    "load_breast_cancer": ("breast_cancer.csv",),
    "load_diabetes": ("diabetes_data_raw.csv.gz", "diabetes_target.csv.gz"),
    "load_digits": ("digits.csv.gz",),
}


class SklearnSource(Spec):
    sklearn: str = Field(description="A scikit-learn bundled loader, e.g. load_iris.")


def sklearn_data_dir() -> Path:
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("scikit-learn is not installed")
    return Path(spec.origin).parent / "datasets" / "data"


class Sklearn(SourceType[SklearnSource]):
    key = "sklearn"
    spec = SklearnSource

    def problems(
        self, source: SklearnSource, repo: Path, bundled: Mapping[str, Bundled]
    ) -> Iterator[tuple[SpecPath, str]]:
        if source.sklearn not in bundled:
            yield (
                ("sklearn",),
                f"'{source.sklearn}' is not a bundled scikit-learn dataset{did_you_mean(source.sklearn, bundled)} "
                f"(available: {', '.join(bundled)})",
            )

    def known(self, source: SklearnSource, repo: Path, bundled: Mapping[str, Bundled]) -> Known:
        info = bundled.get(source.sklearn)
        return Known(info.columns, info.task, info.classes) if info is not None else Known()

    def content_hash(self, source: SklearnSource, repo: Path, file_hash: FileHash) -> str:
        digest = hashlib.sha256(f"sklearn:{source.sklearn}\n".encode())
        for name in BUNDLED_FILES[source.sklearn]:
            digest.update(file_hash(sklearn_data_dir() / name).encode())
        return digest.hexdigest()

    def uri(self, source: SklearnSource) -> str:
        return f"sklearn:{source.sklearn}"

    def load(self, source: SklearnSource, repo: Path) -> Any:
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, source.sklearn)(as_frame=True)
        frame = bunch.frame.copy()
        frame.columns = [str(c) for c in frame.columns]
        return frame
