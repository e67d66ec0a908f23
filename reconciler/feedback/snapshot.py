"""Snapshots of what was served: the request log's answered rows with their true labels, as
new training rows for a Dataset. A Parquet file named after its content's SHA-256, so the same
rows always make the same file and a Dataset pins it by that hash."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.data.frames import contract_failures
from reconciler.diagnostics import ReconcilerError
from reconciler.monitor.request_log import answered, features_of, join_labels
from reconciler.spec.kinds import Dataset

DEFAULT_DIR = "data/snapshots"


class SnapshotError(ReconcilerError):
    exit_code = 2


@dataclass(frozen=True)
class Snapshot:
    dataset: str
    path: str  # relative to the repository
    sha256: str
    rows: int
    served: int  # answered rows in the window, labelled or not
    contract: tuple[str, ...]  # the Dataset's data contract on these rows: what failed
    written: bool  # False: the same rows were snapshotted before

    @property
    def passed(self) -> bool:
        return not self.contract


def labelled_rows(window: Any, labels: Any, label_column: str, dataset: Dataset) -> Any:
    """The window's answered rows that have a label, one per (request, row), as the Dataset's
    columns: its features (all the logged inputs when it lists none) and the target, named as
    the Dataset names it."""
    rows = answered(window)
    columns = dataset.feature_names or list(features_of(rows).columns)
    # A shadowed request was answered twice (champion and candidate): its inputs once.
    rows = rows.drop_duplicates(subset=["request_id", "row"], keep="first")
    joined = join_labels(rows, labels, label_column)
    joined = joined[joined[label_column].notna()]
    missing = [c for c in columns if c not in joined.columns]
    if missing:
        raise SnapshotError(f"the request log has no column(s) {', '.join(map(repr, missing))} of '{dataset.name}'")
    out = features_of(joined, keep=[label_column])[[*columns, label_column]]
    return out.rename(columns={label_column: dataset.target}).reset_index(drop=True)


def parquet_bytes(frame: Any) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def take(
    repo: Path, dataset: Dataset, rows: Any, served: int, directory: str = DEFAULT_DIR, *, write: bool = True
) -> Snapshot:
    """Write `rows` as the snapshot file (unless the same content is there) and check the
    Dataset's contract on them."""
    if rows.empty:
        raise SnapshotError(f"no labelled row to snapshot for '{dataset.name}' ({served} answered rows in the window)")
    data = parquet_bytes(rows)
    digest = hashlib.sha256(data).hexdigest()
    rel = f"{directory.strip('/')}/{dataset.name}-{digest[:12]}.parquet"
    path = repo / rel
    written = False
    if write and not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        written = True
    failures = tuple(message for _, message in contract_failures(dataset, rows))
    return Snapshot(dataset.name, rel, digest, len(rows), served, failures, written)
