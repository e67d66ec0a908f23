"""Request bodies as MLflow's scoring server takes them, to a frame in the model's column order;
predictions back to JSON. Pure: no server, no model.

Accepted, like `mlflow models serve`: `{"dataframe_split": {"columns": [...], "data": [[...]]}}`,
`{"dataframe_records": [{...}, ...]}`, and `{"inputs": ...}` (or `instances`) as a list of rows
in the model's column order, a list of records, or a mapping of column to values."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

MAX_ROWS = 100_000  # one request; larger batches belong in `monitor --data`, not in a request


class PayloadError(ValueError):
    """The request body cannot be read as rows for this model: the client's fault (400)."""


def parse(body: bytes, columns: Sequence[str]) -> Any:
    """The rows of a request as a pandas DataFrame with exactly `columns`, in that order."""
    import pandas as pd

    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise PayloadError(f"the body is not JSON: {str(exc)[:120]}") from exc
    if not isinstance(doc, dict):
        raise PayloadError("the body should be a JSON object with dataframe_split, dataframe_records or inputs")
    keys = [k for k in ("dataframe_split", "dataframe_records", "inputs", "instances") if k in doc]
    if len(keys) != 1:
        raise PayloadError(
            "the body needs exactly one of dataframe_split, dataframe_records, inputs"
            + (f" (got {', '.join(keys)})" if keys else "")
        )
    key = keys[0]
    value = doc[key]
    if key == "dataframe_split":
        if not isinstance(value, dict) or not isinstance(value.get("data"), list):
            raise PayloadError("dataframe_split needs 'data' (a list of rows) and 'columns'")
        names = value.get("columns", list(columns))
        if not isinstance(names, list) or not all(isinstance(c, str) for c in names):
            raise PayloadError("dataframe_split.columns should be a list of column names")
        rows = value["data"]
        _check_rows(rows, len(names))
        frame = _numeric_frame(rows, names)
    elif key == "dataframe_records" or (isinstance(value, list) and value and isinstance(value[0], dict)):
        if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
            raise PayloadError(f"{key} should be a list of records (objects of column: value)")
        _check_count(len(value))
        frame = pd.DataFrame.from_records(value)
    elif isinstance(value, list):
        _check_rows(value, len(columns))
        frame = _numeric_frame(value, columns)
    elif isinstance(value, dict):
        if not all(isinstance(v, list) for v in value.values()):
            raise PayloadError(f"{key} as an object should map each column to a list of values")
        lengths = {len(v) for v in value.values()}
        if len(lengths) > 1:
            raise PayloadError(f"{key}: the columns have different lengths ({sorted(lengths)})")
        _check_count(lengths.pop() if lengths else 0)
        frame = pd.DataFrame(value)
    else:
        raise PayloadError(f"{key} should be a list of rows, a list of records or an object of columns")
    return _in_order(frame, columns)


def _numeric_frame(rows: list[Any], columns: Sequence[str]) -> Any:
    """Rows of numbers through one float array (several times faster to build than from lists);
    anything else as pandas infers it."""
    import numpy as np
    import pandas as pd

    try:
        array = np.asarray(rows, dtype=float)
    except (ValueError, TypeError):
        return pd.DataFrame(rows, columns=list(columns))
    return pd.DataFrame(array, columns=list(columns))


def _check_count(n: int) -> None:
    if n == 0:
        raise PayloadError("no rows to predict")
    if n > MAX_ROWS:
        raise PayloadError(f"{n:,} rows in one request; at most {MAX_ROWS:,}")


def _check_rows(rows: Any, width: int) -> None:
    if not isinstance(rows, list):
        raise PayloadError("rows should be a list")
    _check_count(len(rows))
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            raise PayloadError(f"row {i} should be a list of {width} values")


def _in_order(frame: Any, columns: Sequence[str]) -> Any:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        shown = ", ".join(repr(c) for c in missing[:5])
        raise PayloadError(f"missing column(s) {shown}; the model takes {', '.join(map(repr, columns))}")
    # Values are the model's to judge: what it cannot take (a string where it needs a number)
    # fails its predict, which the server answers with 400 and the model's message.
    if list(frame.columns) == list(columns):
        return frame  # selecting columns copies the frame: a third of a small request's time
    return frame[list(columns)]


def to_json(predictions: Any) -> list[Any]:
    """NumPy values as plain JSON numbers (and strings for string labels)."""
    out = predictions.tolist() if hasattr(predictions, "tolist") else list(predictions)
    return [_plain(v) for v in out]


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
