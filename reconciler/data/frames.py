"""Load a dataset into features and target, split it deterministically, check its contract."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.sources import source_type
from reconciler.sources.files import DataFileError
from reconciler.spec.kinds import Dataset


@dataclass(frozen=True)
class Split:
    x_train: Any
    x_test: Any
    y_train: Any
    y_test: Any


def load_frame(dataset: Dataset, repo: Path) -> Any:
    """The whole dataset as a pandas DataFrame (features and target columns): the source's rows,
    then each snapshot's, in the order listed; with `snapshot_window`, the last N snapshots'
    rows only (the source still gives the columns and their types)."""
    frame = source_type(dataset.source).load(dataset.source, repo)
    if not dataset.snapshots:
        return frame
    import pandas as pd

    from reconciler.data.hashing import verify_pin
    from reconciler.sources.files import file_sha256
    from reconciler.sources.parquet_file import Parquet, ParquetSource

    parts = [frame] if dataset.uses_source else []
    for snap in dataset.used_snapshots:
        verify_pin(repo, snap.parquet, snap.sha256, file_sha256)
        rows = Parquet().load(ParquetSource(parquet=snap.parquet), repo)
        missing = [c for c in frame.columns if c not in rows.columns]
        if missing:
            shown = ", ".join(repr(c) for c in missing[:5])
            raise DataFileError(f"snapshot {snap.parquet} lacks the dataset's column(s) {shown}")
        parts.append(rows[list(frame.columns)].astype(frame.dtypes.to_dict(), errors="ignore"))
    return pd.concat(parts, ignore_index=True)


def features_and_target(dataset: Dataset, frame: Any) -> tuple[Any, Any]:
    names = dataset.feature_names
    features = names if names else [c for c in frame.columns if c != dataset.target]
    x = frame[features]
    categories = [c for c, kind in dataset.feature_types.items() if kind == "category" and c in x.columns]
    if categories:  # declared categories reach the estimator as pandas categories
        x = x.astype(dict.fromkeys(categories, "category"))
    return x, frame[dataset.target]


def split(dataset: Dataset, frame: Any) -> Split:
    from sklearn.model_selection import train_test_split

    x, y = features_and_target(dataset, frame)
    x_train, x_test, y_train, y_test = train_test_split(
        x,
        y,
        test_size=dataset.split.test_size,
        random_state=dataset.split.seed,
        stratify=y if dataset.split.stratify else None,
    )
    return Split(x_train, x_test, y_train, y_test)


_DTYPE_KINDS = {
    "int": "iu",
    "float": "f",
    "number": "iuf",
    "bool": "b",
    "datetime": "M",
}


def check_data(dataset: Dataset, frame: Any) -> list[str]:
    """The dataset's contract; every failure is a sentence naming the column and the numbers."""
    return [message for _, message in contract_failures(dataset, frame)]


SpecPath = tuple[str | int, ...]


def contract_failures(dataset: Dataset, frame: Any) -> list[tuple[SpecPath, str]]:
    """Each failure with the path of the spec field it breaks, for positioned diagnostics."""
    failures: list[tuple[SpecPath, str]] = []
    checks = dataset.checks
    missing = [c for c in [dataset.target, *(dataset.feature_names or [])] if c not in frame.columns]
    if missing:
        where: SpecPath = ("target",) if dataset.target in missing else ("features",)
        failures.append((where, f"missing column {', '.join(repr(c) for c in missing)}"))
    for i, feature in enumerate(dataset.features or ()):
        if isinstance(feature, str) or feature.name not in frame.columns:
            continue
        series = frame[feature.name]
        if not _dtype_ok(series, feature.type):
            shown = ", ".join(repr(str(v)) for v in series.dropna().unique()[:3])
            failures.append(
                (
                    ("features", i, "type"),
                    f"feature '{feature.name}' is declared {feature.type} but holds {series.dtype} ({shown})",
                )
            )
    if len(frame) < 2:
        failures.append((("source",), f"{len(frame)} rows: too few to split into train and test sets"))
    if checks.min_rows is not None and len(frame) < checks.min_rows:
        failures.append((("checks", "min_rows"), f"{len(frame)} rows, fewer than min_rows {checks.min_rows}"))
    if checks.no_nulls:
        nulls = frame.isna().sum()
        for column, count in nulls[nulls > 0].items():
            failures.append((("checks", "no_nulls"), f"column '{column}' has {int(count)} null values (no_nulls)"))
    for column, rule in checks.columns.items():
        at: SpecPath = ("checks", "columns", column)
        if column not in frame.columns:
            failures.append((at, f"missing column '{column}'"))
            continue
        series = frame[column]
        if rule.dtype is not None and not _dtype_ok(series, rule.dtype):
            failures.append(((*at, "dtype"), f"column '{column}' has dtype {series.dtype}, expected {rule.dtype}"))
            continue
        if rule.min is not None and len(series) and series.min() < rule.min:
            failures.append(((*at, "min"), f"column '{column}' has minimum {_num(series.min())} < {rule.min:g}"))
        if rule.max is not None and len(series) and series.max() > rule.max:
            failures.append(((*at, "max"), f"column '{column}' has maximum {_num(series.max())} > {rule.max:g}"))
    return failures


def _num(value: Any) -> str:
    return f"{float(value):g}" if isinstance(value, (int, float)) or hasattr(value, "item") else str(value)


def _dtype_ok(series: Any, dtype: str) -> bool:
    kind = series.dtype.kind
    if dtype in _DTYPE_KINDS:
        return kind in _DTYPE_KINDS[dtype]
    if dtype == "string":
        return kind in "OSU" or str(series.dtype) in ("string", "str")
    if dtype == "category":
        return str(series.dtype) == "category" or kind in "OSU"
    return True
