"""Opening one store must not redirect the next: mlflow.set_tracking_uri exports an
environment variable that `MlflowStore.for_repo` would otherwise read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.state.mlflow_store import MlflowStore


def test_a_second_store_is_not_redirected_to_the_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    first = tmp_path / "a"
    MlflowStore.for_repo(first)
    assert "MLFLOW_TRACKING_URI" not in os.environ
    second = MlflowStore.for_repo(tmp_path / "b")
    assert second.tracking_uri.endswith("/b/.reconciler/mlflow.db")
