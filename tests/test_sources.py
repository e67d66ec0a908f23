"""Dataset source types through their registry (reconciler.sources), on real files."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
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


# --- data kept outside git: pure parts (the stores themselves: tests/e2e/test_external_*.py) ---

V = "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"


def test_external_sources_say_their_pin_and_where_they_come_from(tmp_path: Path) -> None:
    s3 = dataset({"uri": "s3://lake/churn.parquet", "version_id": V}).source
    assert source_type(s3).remote(s3) and source_type(s3).pin(s3, tmp_path) == f"version_id {V[:16]}"
    assert source_type(s3).uri(s3) == f"s3://lake/churn.parquet?versionId={V}"
    delta = dataset({"delta": {"path": "data/events", "version": 4}}).source
    assert source_type(delta).pin(delta, tmp_path) == "version 4"
    assert source_type(delta).uri(delta) == "delta:data/events@v4"
    (tmp_path / "data").mkdir()
    (tmp_path / "data/x.csv.dvc").write_text(
        "outs:\n- md5: e5ebd4c02cefbe7955977c67ada242b7\n  size: 8\n  hash: md5\n  path: x.csv\n"
    )
    dvc = dataset({"dvc": {"path": "data/x.csv"}}).source
    assert source_type(dvc).pin(dvc, tmp_path) == "md5 e5ebd4c02cef"
    assert source_type(dvc).watched(dvc) == ("data/x.csv.dvc",) and source_type(dvc).files(dvc) == ()
    for local in ({"sklearn": "load_iris"}, {"csv": "a.csv"}):
        src = dataset(local).source
        assert not source_type(src).remote(src) and source_type(src).pin(src, tmp_path) is None


@given(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789._-", min_size=1, max_size=40),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789._-", min_size=1, max_size=40),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
)
def test_the_content_hash_moves_with_the_pin_and_only_with_it(a: str, b: str, x: int, y: int) -> None:
    """Pure functions of the pin: same pin, same hash, in any process; another pin, another."""

    def s3(version: str) -> str:
        src = dataset({"uri": "s3://lake/k.csv", "version_id": version}).source
        return source_type(src).content_hash(src, Path("."), lambda p: "unused")

    def delta(version: int) -> str:
        src = dataset({"delta": {"uri": "s3://lake/t", "version": version}}).source
        return source_type(src).content_hash(src, Path("."), lambda p: "unused")

    assert s3(a) == s3(a) and (s3(a) == s3(b)) == (a == b)
    assert (delta(x) == delta(y)) == (x == y)
    assert s3(a) != delta(x)


def test_a_pointer_that_is_not_one_is_an_error_before_anything_loads(tmp_path: Path) -> None:
    from reconciler.sources.dvc_file import pointer_of

    (tmp_path / "a.csv.dvc").write_text("outs: [unclosed\n")
    with pytest.raises(DataFileError, match="not a readable DVC pointer"):
        pointer_of(tmp_path, "a.csv")
    (tmp_path / "a.csv.dvc").write_text("outs:\n- path: a.csv\n")
    with pytest.raises(DataFileError, match="has no md5"):
        pointer_of(tmp_path, "a.csv")
    (tmp_path / "a.csv.dvc").write_text(
        "outs:\n- md5: 0123456789abcdef0123456789abcdef\n- md5: 0123456789abcdef0123456789abcdef\n"
    )
    with pytest.raises(DataFileError, match="one entry under `outs`"):
        pointer_of(tmp_path, "a.csv")


@pytest.mark.parametrize(
    ("uri", "said"),
    [
        ("s3://AKIAEXAMPLE:wJalrXUtnFEMI@lake/k.csv", "carries credentials"),
        ("s3://token@lake/k.csv", "carries credentials"),
        ("https://lake.example/k.csv?X-Amz-Signature=abc123secret", "not an s3:// URL"),
        ("s3://lake/k.csv?versionId=abc123secret", "the version goes in version_id"),
        ("s3://Lake_Bad/k.csv", "not a valid bucket name"),
        ("s3://lake/", "names no object"),
    ],
)
def test_s3_urls_that_cannot_be_pinned_are_refused_without_repeating_secrets(uri: str, said: str) -> None:
    from reconciler.sources.s3_object import parse_s3

    where, problem = parse_s3(uri)
    assert where is None and problem is not None and said in problem
    for secret in ("wJalrXUtnFEMI", "abc123secret", "token@"):
        assert secret not in problem


def test_the_plan_names_the_pin_that_moved() -> None:
    from reconciler.plan.diff import change_line, spec_changes

    old = {"model": {}, "dataset": {}, "dataset_hash": "a", "dataset_pin": "md5 e5ebd4c02cef"}
    new = {"model": {}, "dataset": {}, "dataset_hash": "b", "dataset_pin": "md5 1a2b3c4d5e6f"}
    assert [change_line(c) for c in spec_changes(old, new)] == [
        "dataset content changed (md5 e5ebd4c02cef -> md5 1a2b3c4d5e6f)"
    ]
    # A version recorded before pins were: the content line alone, no noise about the new key.
    legacy = {k: v for k, v in old.items() if k != "dataset_pin"}
    assert [change_line(c) for c in spec_changes(legacy, new)] == ["dataset content changed"]
