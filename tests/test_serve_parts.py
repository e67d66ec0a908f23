"""The pure parts of serving: request bodies, the prediction cache, the request log, and the
serving settings a model inherits from its environment."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.monitor.request_log import (
    META,
    PREDICTION,
    DatabaseSink,
    Entry,
    FileSink,
    RequestLog,
    RequestLogError,
    features_of,
    read_window,
)
from reconciler.serve.cache import PredictionCache, row_key
from reconciler.serve.payload import MAX_ROWS, PayloadError, parse, to_json
from reconciler.spec.kinds import Environment, Serving

COLUMNS = ("a", "b")


def body(doc: Any) -> bytes:
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    "doc",
    [
        {"dataframe_split": {"columns": ["b", "a"], "data": [[2, 1], [4, 3]]}},
        {"dataframe_split": {"data": [[1, 2], [3, 4]]}},
        {"dataframe_records": [{"a": 1, "b": 2}, {"b": 4, "a": 3, "extra": 9}]},
        {"inputs": [[1, 2], [3, 4]]},
        {"inputs": {"a": [1, 3], "b": [2, 4]}},
        {"inputs": [{"a": 1, "b": 2}, {"a": 3, "b": 4}]},
        {"instances": [[1, 2], [3, 4]]},
    ],
)
def test_every_mlflow_payload_gives_the_same_frame(doc: dict[str, Any]) -> None:
    frame = parse(body(doc), COLUMNS)
    assert list(frame.columns) == ["a", "b"]
    assert frame.values.tolist() == [[1, 2], [3, 4]]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{", "the body is not JSON"),
        (b"[1, 2]", "the body should be a JSON object"),
        (body({"rows": []}), "needs exactly one of dataframe_split, dataframe_records, inputs"),
        (body({"inputs": [], "dataframe_records": []}), "(got dataframe_records, inputs)"),
        (body({"inputs": []}), "no rows to predict"),
        (body({"inputs": [[1]]}), "row 0 should be a list of 2 values"),
        (body({"inputs": {"a": [1], "b": [1, 2]}}), "the columns have different lengths"),
        (body({"dataframe_records": [{"a": 1}]}), "missing column(s) 'b'"),
        (body({"dataframe_split": {"columns": "ab", "data": [[1, 2]]}}), "should be a list of column names"),
        (body({"inputs": "x"}), "should be a list of rows"),
        (b"[" * 100_000, "the body"),
    ],
)
def test_a_bad_body_is_a_clear_client_error(raw: bytes, message: str) -> None:
    with pytest.raises(PayloadError) as exc:
        parse(raw, COLUMNS)
    assert message in str(exc.value)


def test_a_request_is_bounded_in_rows() -> None:
    with pytest.raises(PayloadError, match="rows in one request"):
        parse(body({"inputs": [[1, 2]] * (MAX_ROWS + 1)}), COLUMNS)


def test_predictions_are_plain_json() -> None:
    import numpy as np

    assert to_json(np.array([1, 2])) == [1, 2]
    assert to_json(np.array([0.5, np.nan])) == [0.5, None]
    assert json.dumps(to_json(np.array(["setosa"]))) == '["setosa"]'


def test_the_cache_is_bounded_and_keeps_only_the_serving_version() -> None:
    cache = PredictionCache(2)
    cache.serve("1")
    for i in range(3):
        cache.put("1", row_key((i, 0.5)), i)
    assert len(cache) == 2
    assert cache.get("1", row_key((0, 0.5))) == (False, None), "the least recently used went first"
    assert cache.get("1", row_key((2, 0.5))) == (True, 2)
    cache.put("2", row_key((9,)), 9)
    assert cache.get("2", row_key((9,))) == (False, None), "a version not serving never fills the cache"
    cache.serve("2")
    assert len(cache) == 0 and cache.get("1", row_key((2, 0.5))) == (False, None)


@given(st.lists(st.one_of(st.integers(), st.floats(allow_nan=False), st.text(max_size=5)), max_size=6))
@settings(max_examples=200, deadline=None)
def test_row_keys_tell_values_and_types_apart(row: list[Any]) -> None:
    assert row_key(row) == row_key(list(row))
    if row:
        changed = [*row[:-1], str(row[-1]) if not isinstance(row[-1], str) else row[-1] + "x"]
        assert row_key(changed) != row_key(row)


def entry(env: str, at: float, version: str, rows: list[list[Any]]) -> Entry:
    return Entry(env, "m", f"r{at}", at, version, 1.5, COLUMNS, rows, [sum(r) for r in rows])


def test_the_request_log_keeps_what_was_answered_and_reads_a_window(tmp_path: Path) -> None:
    now = datetime.now(timezone.utc)
    log = RequestLog(FileSink(tmp_path, max_bytes=200))  # small: rotation happens
    for i in range(20):
        log.append(entry("prod", (now - timedelta(minutes=20 - i)).timestamp(), "1", [[i, i + 0.5], [i, 1.0]]))
    log.append(entry("dev", now.timestamp(), "3", [[7, 7]]))
    log.close()
    files = sorted((tmp_path / "requests" / "prod" / "m").glob("*.csv"))
    assert len(files) > 1, "rotated by size"
    frame = read_window(tmp_path, "prod", "m", now - timedelta(minutes=5, seconds=30))
    assert list(frame.columns) == [*META, "a", "b", PREDICTION]
    assert len(frame) == 2 * 5 and frame["a"].tolist() == [15, 15, 16, 16, 17, 17, 18, 18, 19, 19]
    assert (frame["prediction"] == frame["a"] + frame["b"]).all() and set(frame["version"]) == {1}
    assert list(features_of(frame).columns) == ["a", "b"]
    assert read_window(tmp_path, "dev", "m", now - timedelta(minutes=1))["a"].tolist() == [7]
    assert read_window(tmp_path, "staging", "m", now - timedelta(days=1)).empty


def test_a_database_request_log_reads_back_like_the_files(tmp_path: Path) -> None:
    """The team option, on SQLite here (PostgreSQL in the serving scenario): the same window."""
    now = datetime.now(timezone.utc)
    url = f"sqlite:///{tmp_path / 'requests.db'}"
    files, database = RequestLog(FileSink(tmp_path / "files")), RequestLog(DatabaseSink(url))
    for log in (files, database):
        for i in range(6):
            log.append(entry("prod", (now - timedelta(minutes=6 - i)).timestamp(), "2", [[i, 0.5], [i, 1.5]]))
        log.close()
    since = now - timedelta(minutes=3, seconds=30)
    from_files = read_window(tmp_path / "files", "prod", "m", since)
    from_database = read_window(tmp_path / "nowhere", "prod", "m", since, url)
    assert len(from_database) == 6 and list(from_database.columns) == list(from_files.columns)
    for column in ("a", "b", "prediction", "row"):
        assert from_database[column].tolist() == from_files[column].tolist(), column
    assert from_database["request_id"].tolist() == from_files["request_id"].tolist()
    with pytest.raises(RequestLogError) as exc:
        DatabaseSink("postgresql+nosuchdriver://bob:s3cret@db/x")
    assert "s3cret" not in str(exc.value) and "request log postgresql+nosuchdriver://db/x" in str(exc.value)


def test_a_full_request_log_drops_rows_and_counts_them(tmp_path: Path) -> None:
    dropped: list[Entry] = []
    log = RequestLog(FileSink(tmp_path), max_buffered=2, interval=3600, dropped=dropped.append)
    for i in range(5):
        log.append(entry("p", float(i), "1", [[1, 2]]))
    assert [e.at for e in dropped] == [2.0, 3.0, 4.0]
    log.close()
    frame = read_window(tmp_path, "p", "m", datetime.fromtimestamp(0, timezone.utc))
    assert frame["request_id"].tolist() == ["r0.0", "r1.0"], "what was kept is written on close"


def test_a_model_inherits_its_environments_serving_settings() -> None:
    env = Environment.model_validate(
        {
            "kind": "Environment",
            "name": "production",
            "serving": {"sample_rate": 0.25, "price_per_cpu_hour": 0.05},
            "models": {"a": {"serving": {"cache_size": 1000, "sample_rate": 1.0}}, "b": {}},
        }
    )
    assert env.serving_of("a") == Serving(sample_rate=1.0, cache_size=1000, price_per_cpu_hour=0.05)
    assert env.serving_of("b") == Serving(sample_rate=0.25, price_per_cpu_hour=0.05)
    assert Environment.model_validate({"kind": "Environment", "name": "dev"}).serving_of("a") == Serving()


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from reconciler.cli import main

    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_serve_refuses_bad_arguments_before_listening(example_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["serve", "--repo", str(example_repo), "--env", "prod"], capsys)
    assert code == 1 and err == "reconciler: no environment 'prod' in the specs (known: dev, production, staging)\n"
    code, _, err = run_cli(["serve", "--repo", str(example_repo), "--port", "70000"], capsys)
    assert code == 2 and "--port 70000: expected 1-65535" in err
    code, _, err = run_cli(["serve", "--repo", str(example_repo), "--poll", "0"], capsys)
    assert code == 2 and "--poll 0.0: expected 0.05-3600 seconds" in err
    model = example_repo / "specs" / "models" / "iris-classifier.yaml"
    model.write_text(model.read_text().replace("C: 1.0", "C: -1"))
    code, _, err = run_cli(["serve", "--repo", str(example_repo)], capsys)
    assert code == 1 and "specs/models/iris-classifier.yaml:9:15: estimator.params.C" in err and "Traceback" not in err
    assert not (example_repo / ".reconciler").exists(), "nothing was opened"


def test_late_labels_join_by_request_and_row() -> None:
    import pandas as pd

    from reconciler.monitor.request_log import LabelError, join_labels

    log = pd.DataFrame({"request_id": ["a", "a", "b"], "row": [0, 1, 0], "x": [1.0, 2.0, 3.0], "prediction": [0, 1, 1]})
    labels = pd.DataFrame({"request_id": ["a", "b"], "row": [1, 0], "y": [1, 0]})
    joined = join_labels(log, labels, "y")
    assert joined["y"].tolist()[1:] == [1, 0] and pd.isna(joined["y"].iloc[0]), "a row not labelled yet stays so"
    with pytest.raises(LabelError, match="need a `row` column"):
        join_labels(log, labels.drop(columns="row"), "y")
    assert join_labels(log[log.request_id == "b"], labels.drop(columns="row"), "y")["y"].tolist() == [0]
    with pytest.raises(LabelError, match="more than one label"):
        join_labels(log, pd.concat([labels, labels]), "y")
    with pytest.raises(LabelError, match="need the columns request_id and y"):
        join_labels(log, labels.rename(columns={"y": "z"}), "y")
    with pytest.raises(LabelError, match="is also an input column"):
        join_labels(log, labels.rename(columns={"y": "x"}), "x")
