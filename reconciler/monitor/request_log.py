"""The request log: the rows a server answered, with what it answered, for `monitor --since`.

One directory per (environment, model) under the state directory, CSV files each started by one
server process and rotated by size; a row per input row: request id, time (UTC), the version that
answered, the request's latency, the input columns and the prediction. Written by a background
thread from a bounded queue, so a slow disk drops log rows (counted) instead of slowing answers."""

from __future__ import annotations

import csv
import json
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from reconciler.diagnostics import ReconcilerError
from reconciler.redact import redact, redact_url

META = ("request_id", "row", "time", "version", "latency_ms", "error")
TABLE = "reconciler_requests"
URL_VARIABLE = "RECONCILER_REQUEST_LOG_URL"  # the team option: a database URL, from the environment only


class RequestLogError(ReconcilerError):
    exit_code = 2


PREDICTION = "prediction"
DEFAULT_MAX_BYTES = 64 << 20


def log_dir(state_dir: Path, environment: str, model: str) -> Path:
    return state_dir / "requests" / environment / model


@dataclass(frozen=True)
class Entry:
    environment: str
    model: str
    request_id: str
    at: float  # epoch seconds
    version: str
    latency_ms: float
    columns: tuple[str, ...]
    rows: list[list[Any]]
    predictions: list[Any]
    error: str = ""  # a rollout's candidate failed on this request (its rows hold no inputs then)


class FileSink:
    """CSV files under the state directory: the embedded default, for one machine."""

    def __init__(self, state_dir: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.state_dir = state_dir
        self.max_bytes = max_bytes
        self._files: dict[tuple[str, str], tuple[Path, tuple[str, ...], Any, Any]] = {}

    def write(self, entries: list[Entry]) -> None:
        for entry in entries:
            self._write(entry)
            if self._files[(entry.environment, entry.model)][2].tell() >= self.max_bytes:
                self._files.pop((entry.environment, entry.model))[2].close()  # the next row starts a file
        for _, _, handle, _ in self._files.values():
            handle.flush()

    def close(self) -> None:
        for _, _, handle, _ in self._files.values():
            handle.close()

    def _write(self, entry: Entry) -> None:
        key = (entry.environment, entry.model)
        header = (*META, *entry.columns, PREDICTION)
        current = self._files.get(key)
        if current is None or current[1] != header:
            if current is not None:
                current[2].close()
            directory = log_dir(self.state_dir, *key)
            directory.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
            path = directory / f"{stamp}-{os.getpid()}.csv"
            handle = path.open("w", newline="", encoding="utf-8")
            writer = csv.writer(handle)
            writer.writerow(header)
            current = (path, header, handle, writer)
            self._files[key] = current
        when = datetime.fromtimestamp(entry.at, timezone.utc).isoformat(timespec="milliseconds")
        latency = f"{entry.latency_ms:.3f}"
        pairs = enumerate(zip(entry.rows, entry.predictions, strict=True))
        error = entry.error[:500]
        current[3].writerows(
            [entry.request_id, i, when, entry.version, latency, error, *row, prediction]
            for i, (row, prediction) in pairs
        )


class DatabaseSink:
    """One table in a database every server and the monitoring job can reach (PostgreSQL for a
    team; any SQLAlchemy URL works): `reconciler_requests`, the inputs of a row as a JSON object."""

    def __init__(self, url: str) -> None:
        self.engine, self.table = _database(url)

    def write(self, entries: list[Entry]) -> None:
        rows = [
            {
                "environment": e.environment,
                "model": e.model,
                "request_id": e.request_id,
                "row": i,
                "time": datetime.fromtimestamp(e.at, timezone.utc),
                "version": e.version,
                "latency_ms": e.latency_ms,
                "error": e.error[:500] or None,
                "inputs": json.dumps(dict(zip(e.columns, values, strict=True)), default=str),
                "prediction": json.dumps(prediction, default=str),
            }
            for e in entries
            for i, (values, prediction) in enumerate(zip(e.rows, e.predictions, strict=True))
        ]
        if rows:
            with self.engine.begin() as conn:
                conn.execute(self.table.insert(), rows)

    def close(self) -> None:
        self.engine.dispose()


def _database(url: str) -> tuple[Any, Any]:
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(url, pool_pre_ping=True)
    except (ImportError, sa.exc.ArgumentError, ValueError) as exc:
        raise RequestLogError(
            f"request log {redact_url(url)}: {type(exc).__name__}: {redact(str(exc))[:200]}"
            + (
                " (PostgreSQL needs the server extra: pip install 'gitops-model-reconciler[server]')"
                if isinstance(exc, ImportError)
                else ""
            )
        ) from exc
    meta = sa.MetaData()
    table = sa.Table(
        TABLE,
        meta,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("environment", sa.String(63), nullable=False),
        sa.Column("model", sa.String(63), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("row", sa.Integer, nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("inputs", sa.Text, nullable=False),
        sa.Column("prediction", sa.Text, nullable=False),
        sa.Index(f"{TABLE}_by_time", "environment", "model", "time"),
    )
    try:
        meta.create_all(engine)
        known = {c["name"] for c in sa.inspect(engine).get_columns(TABLE)}
        if "error" not in known:  # a table made before rollouts logged their candidates' failures
            with engine.begin() as conn:
                conn.execute(sa.text(f"ALTER TABLE {TABLE} ADD COLUMN error TEXT"))
    except sa.exc.SQLAlchemyError as exc:
        raise RequestLogError(f"request log {redact_url(url)}: cannot open it ({type(exc).__name__})") from exc
    return engine, table


class RequestLog:
    """Answers are buffered in memory (appending is a lock and a list append) and written in
    batches by a thread that wakes every `interval` seconds: a thread woken per request would
    take the interpreter lock from the server once per request."""

    def __init__(
        self,
        sink: FileSink | DatabaseSink,
        *,
        max_buffered: int = 100_000,
        interval: float = 0.25,
        dropped: Callable[[Entry], None] = lambda entry: None,
        written: Callable[[Entry], None] = lambda entry: None,
    ) -> None:
        self.sink = sink
        self.max_buffered = max_buffered
        self.interval = interval
        self._buffer: list[Entry] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._dropped = dropped
        self._written = written
        self._thread = threading.Thread(target=self._run, name="reconciler-request-log", daemon=True)
        self._thread.start()

    def append(self, entry: Entry) -> None:
        with self._lock:
            if len(self._buffer) < self.max_buffered:
                self._buffer.append(entry)
                return
        self._dropped(entry)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._drain()
        self._drain()
        self.sink.close()

    def _drain(self) -> None:
        with self._lock:
            batch, self._buffer = self._buffer, []
        if not batch:
            return
        try:
            self.sink.write(batch)
        except Exception:  # a full disk, a database gone: those rows are lost, counted, and serving goes on
            for entry in batch:
                self._dropped(entry)
            return
        for entry in batch:
            self._written(entry)


def open_request_log(state_dir: Path, url: str | None, **kwargs: Any) -> RequestLog:
    return RequestLog(DatabaseSink(url) if url else FileSink(state_dir), **kwargs)


def read_window(state_dir: Path, environment: str, model: str, since: datetime, url: str | None = None) -> Any:
    """Every logged row of (environment, model) answered at or after `since`, oldest first; an
    empty frame when there is none. `url`: the database the servers log to, else the files."""
    import pandas as pd

    if url:
        return _read_database(url, environment, model, since)

    directory = log_dir(state_dir, environment, model)
    cutoff = since.timestamp()
    frames = []
    for path in sorted(directory.glob("*.csv")) if directory.is_dir() else ():
        if path.stat().st_mtime < cutoff:
            continue  # last written before the window opened
        frame = pd.read_csv(path)
        frame["time"] = pd.to_datetime(frame["time"], utc=True, format="ISO8601")
        frames.append(frame[frame["time"] >= pd.Timestamp(since)])
    if not frames:
        return pd.DataFrame(columns=list(META))
    return pd.concat(frames, ignore_index=True).sort_values("time", kind="stable").reset_index(drop=True)


def _read_database(url: str, environment: str, model: str, since: datetime) -> Any:
    import pandas as pd
    import sqlalchemy as sa

    engine, table = _database(url)
    query = (
        sa.select(table)
        .where(table.c.environment == environment, table.c.model == model, table.c.time >= since)
        .order_by(table.c.time, table.c.id)
    )
    try:
        with engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
    except sa.exc.SQLAlchemyError as exc:
        raise RequestLogError(f"request log {redact_url(url)}: cannot read it ({type(exc).__name__})") from exc
    finally:
        engine.dispose()
    if not rows:
        return pd.DataFrame(columns=list(META))
    inputs = pd.DataFrame.from_records([json.loads(r["inputs"]) for r in rows])
    meta = pd.DataFrame.from_records([{k: r[k] for k in META} for r in rows])
    meta["time"] = pd.to_datetime(meta["time"], utc=True)
    prediction = pd.Series([json.loads(r["prediction"]) for r in rows], name=PREDICTION)
    return pd.concat([meta, inputs, prediction], axis=1)


def failed(frame: Any) -> Any:
    """Whether each row is a request a rollout's candidate failed on (no inputs, no answer)."""
    if "error" not in frame.columns:
        return frame["request_id"].isna() & False
    return frame["error"].notna() & (frame["error"].astype(str) != "")


def answered(frame: Any) -> Any:
    """The rows that were answered: what drift and quality are checked on."""
    return frame[~failed(frame)].reset_index(drop=True)


def features_of(frame: Any, keep: Sequence[str] = ()) -> Any:
    """The input columns (and `keep`), without what the log adds around them."""
    meta = set(META) | {PREDICTION}
    return frame[[c for c in frame.columns if c not in meta or c in keep]]


class LabelError(ValueError):
    pass


def join_labels(frame: Any, labels: Any, column: str) -> Any:
    """`frame` (a request log window) with the true label of each row that has one, by request
    id (and `row`, the row's place in its request, when the labels say it). Rows without a label
    keep a missing one: drift is checked on every row, quality on the labelled ones."""
    if "request_id" not in labels.columns or column not in labels.columns:
        raise LabelError(
            f"the labels need the columns request_id and {column} (have: {', '.join(map(str, labels.columns))})"
        )
    keys = ["request_id", "row"] if "row" in labels.columns else ["request_id"]
    if keys == ["request_id"] and frame["request_id"].astype(str).duplicated().any():
        raise LabelError(
            "some requests held several rows: the labels need a `row` column (the row's place in its request)"
        )
    labels = labels[[*keys, column]].astype({"request_id": str})
    if labels.duplicated(keys).any():
        raise LabelError(f"the labels give one {' and '.join(keys)} more than one label")
    if column in frame.columns:
        raise LabelError(f"the label column '{column}' is also an input column")
    left = frame.assign(request_id=frame["request_id"].astype(str))
    return left.merge(labels, how="left", on=keys, validate="many_to_one")
