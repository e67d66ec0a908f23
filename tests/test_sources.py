"""Dataset source types through their registry (reconciler.sources), on real files."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from reconciler.sources import SOURCE_TYPES, source_type
from reconciler.sources.files import DataFileError
from reconciler.spec.catalog import load_catalog
from reconciler.spec.kinds import CsvSource, Dataset, ParquetSource, SklearnSource


def dataset(source: dict[str, object]) -> Dataset:
    return Dataset.model_validate({"kind": "Dataset", "name": "d", "source": source, "target": "y"})


def test_every_registered_type_has_its_own_key_and_a_field_named_after_it() -> None:
    assert [t.key for t in SOURCE_TYPES] == ["sklearn", "csv", "parquet", "dvc", "uri", "delta"]
    for t in SOURCE_TYPES:
        assert next(iter(t.spec.model_fields)) == t.key  # the key first; a pin may follow (uri's version_id)


def test_a_source_parses_to_its_type_and_two_keys_are_refused() -> None:
    assert isinstance(dataset({"csv": "a.csv"}).source, CsvSource)
    assert isinstance(dataset({"parquet": "a.parquet"}).source, ParquetSource)
    assert source_type(dataset({"sklearn": "load_iris"}).source).key == "sklearn"
    with pytest.raises(ValidationError, match="source needs exactly one of: sklearn, csv, parquet, dvc, uri, delta"):
        dataset({"csv": "a.csv", "parquet": "a.parquet"})


def test_repository_files_are_what_provenance_watches(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("x,y\n1,0\n2,1\n")
    csv = dataset({"csv": "a.csv"}).source
    assert source_type(csv).files(csv) == ("a.csv",)
    bundled = dataset({"sklearn": "load_iris"}).source
    assert source_type(bundled).files(bundled) == ()


def test_what_is_known_before_loading(tmp_path: Path) -> None:
    catalog = load_catalog()
    (tmp_path / "a.csv").write_text("x, y\n1,0\n")
    csv = dataset({"csv": "a.csv"}).source
    assert source_type(csv).known(csv, tmp_path, catalog.datasets).columns == ("x", "y")
    wine = dataset({"sklearn": "load_wine"}).source
    known = source_type(wine).known(wine, tmp_path, catalog.datasets)
    assert known.task == "classification" and known.classes == 3 and known.columns[-1] == "target"  # type: ignore[index]


def test_problems_have_paths_inside_the_source(tmp_path: Path) -> None:
    catalog = load_catalog()
    outside = dataset({"csv": "../x.csv"}).source
    assert list(source_type(outside).problems(outside, tmp_path, catalog.datasets)) == [
        (("csv",), "'../x.csv' leaves the repository ('..' is not allowed)")
    ]
    typo = dataset({"sklearn": "load_irs"}).source
    ((path, message),) = source_type(typo).problems(typo, tmp_path, catalog.datasets)
    assert path == ("sklearn",) and "did you mean 'load_iris'?" in message


def test_loading_and_hashing_go_through_the_type(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("x,y\n1,0\n2,1\n")
    csv = dataset({"csv": "a.csv"}).source
    frame = source_type(csv).load(csv, tmp_path)
    assert list(frame.columns) == ["x", "y"] and len(frame) == 2
    seen: list[Path] = []
    digest = source_type(csv).content_hash(csv, tmp_path, lambda p: seen.append(p) or "h")  # type: ignore[func-returns-value]
    assert digest == "h" and seen == [tmp_path / "a.csv"]
    (tmp_path / "dir.csv").mkdir()
    folder = dataset({"csv": "dir.csv"}).source
    with pytest.raises(DataFileError, match="is a directory"):
        source_type(folder).load(folder, tmp_path)


def test_bundled_sets_hash_from_their_files_without_loading() -> None:
    iris = dataset({"sklearn": "load_iris"}).source
    assert isinstance(iris, SklearnSource)
    files: list[str] = []
    source_type(iris).content_hash(iris, Path("."), lambda p: files.append(p.name) or p.name)  # type: ignore[func-returns-value]
    assert files == ["iris.csv"]
