from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.data.frames import check_data, load_frame, split
from reconciler.data.hashing import ContentHasher
from reconciler.sources.sklearn_bundled import BUNDLED_FILES, sklearn_data_dir
from reconciler.spec.kinds import Dataset


def csv_dataset(path: str, **extra: object) -> Dataset:
    return Dataset.model_validate({"kind": "Dataset", "name": "d", "source": {"csv": path}, "target": "y", **extra})


def test_csv_hash_is_the_file_sha256_and_is_cached(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("a,y\n1,0\n2,1\n")
    cache = tmp_path / "cache.json"
    hasher = ContentHasher(tmp_path, cache)
    digest = hasher.content_hash(csv_dataset("d.csv"))
    assert digest == hashlib.sha256(data.read_bytes()).hexdigest()
    hasher.save()
    assert cache.exists()
    # A cached digest is served without reading the file again: prove it with a stale entry.
    stat = data.stat()
    os.utime(data, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert ContentHasher(tmp_path, cache).content_hash(csv_dataset("d.csv")) == digest
    data.write_text("a,y\n1,0\n2,0\n")
    assert ContentHasher(tmp_path, cache).content_hash(csv_dataset("d.csv")) != digest


def test_bundled_hash_needs_no_sklearn_import_and_is_stable_across_processes() -> None:
    for files in BUNDLED_FILES.values():
        assert all((sklearn_data_dir() / f).is_file() for f in files)
    probe = (
        "import sys\nfrom pathlib import Path\nfrom reconciler.data.hashing import ContentHasher\n"
        "from reconciler.spec.kinds import Dataset\n"
        "d = Dataset.model_validate({'kind': 'Dataset', 'name': 'i', 'source': {'sklearn': 'load_iris'},\n"
        "                            'target': 'target'})\n"
        "print(ContentHasher(Path('.')).content_hash(d), 'sklearn' in sys.modules)\n"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", probe],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outs) == 1
    assert outs.pop().strip().endswith("False")


def test_split_is_deterministic_and_stratified() -> None:
    iris = Dataset.model_validate(
        {
            "kind": "Dataset",
            "name": "iris",
            "source": {"sklearn": "load_iris"},
            "target": "target",
            "split": {"test_size": 0.2, "seed": 3, "stratify": True},
        }
    )
    frame = load_frame(iris, Path("."))
    a, b = split(iris, frame), split(iris, frame)
    assert list(a.x_test.index) == list(b.x_test.index)
    assert len(a.x_test) == 30
    assert sorted(a.y_test.value_counts().tolist()) == [10, 10, 10]


def test_data_checks_report_every_failure(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("a,b,y\n1,x,0\n,y,1\n50,z,1\n")
    ds = csv_dataset(
        "d.csv",
        checks={
            "min_rows": 10,
            "no_nulls": True,
            "columns": {"a": {"dtype": "float", "max": 10}, "b": {"dtype": "int"}},
        },
    )
    frame = load_frame(ds, tmp_path)
    failures = check_data(ds, frame)
    assert failures == [
        "3 rows, fewer than min_rows 10",
        "column 'a' has 1 null values (no_nulls)",
        "column 'a' has maximum 50 > 10",
        f"column 'b' has dtype {frame['b'].dtype}, expected int",  # 'object' or, on pandas 3, 'str'
    ]


def test_data_files_over_the_size_limit_are_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "d.csv").write_text("a,y\n" + "1,0\n" * 1000)
    monkeypatch.setenv("RECONCILER_MAX_DATA_BYTES", "100")
    with pytest.raises(ValueError, match=r"d.csv is 4,004 bytes, over the limit of 100"):
        load_frame(csv_dataset("d.csv"), tmp_path)


def test_a_sparse_file_of_gigabytes_is_refused_at_once_by_every_reader(tmp_path: Path) -> None:
    from reconciler.data.hashing import ContentHasher

    with (tmp_path / "d.csv").open("wb") as fh:
        fh.truncate(3 * 1024**3)  # 3 GiB that cost nothing on disk
    with pytest.raises(ValueError, match=r"d.csv is 3,221,225,472 bytes, over the limit of 1,073,741,824"):
        load_frame(csv_dataset("d.csv"), tmp_path)
    with pytest.raises(ValueError, match="over the limit"):
        ContentHasher(tmp_path).content_hash(csv_dataset("d.csv"))


def test_a_table_too_wide_for_mlflow_is_refused_after_loading(tmp_path: Path) -> None:
    header = ",".join(f"c{i}" for i in range(10_001))
    (tmp_path / "d.csv").write_text(header + ",y\n" + ",".join("1" * 10_002) + "\n")
    with pytest.raises(ValueError, match="10,002 columns; the limit is 10,000"):
        load_frame(csv_dataset("d.csv"), tmp_path)
