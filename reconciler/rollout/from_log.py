"""A rollout's observations read back from the request log (files, or the team's database):
what `reconciler rollout` judges when no server of its own holds them, e.g. from CI while
several servers log to one database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from reconciler.monitor.request_log import failed, features_of
from reconciler.rollout.analysis import Observations, Side
from reconciler.state.rollout import RolloutState


def observations(frame: Any, state: RolloutState) -> Observations:
    """`frame`: the log since the rollout started. The candidate's side counts from its step's
    start; the champion's answers over the whole rollout are the reference for prediction drift."""
    import pandas as pd

    seen = Observations()
    if frame.empty:
        return seen
    versions = frame["version"].astype(str)
    step_start = pd.Timestamp(datetime.fromtimestamp(state.step_started).astimezone())
    candidate = frame[(versions == state.candidate) & (frame["time"] >= step_start)]
    champion = frame[versions == str(state.champion)]
    _fill(seen.candidate, candidate, rows=True)
    _fill(seen.champion, champion, rows=False)
    return seen


def _fill(side: Side, part: Any, rows: bool) -> None:
    if part.empty:
        return
    bad = failed(part)
    side.requests = int(part["request_id"].astype(str).nunique())
    side.errors = int(part.loc[bad, "request_id"].astype(str).nunique())
    good = part[~bad]
    side.latencies_ms.extend(good.groupby(good["request_id"].astype(str))["latency_ms"].first().tolist())
    side.predictions.extend(good["prediction"].tolist())
    if rows:
        side.rows.extend(features_of(good).to_dict("records"))
