"""`reconciler serve` on 127.0.0.1, hit by bounded, seeded request loops: answers match the
registry's model, promotions and rollbacks are followed under load without a failed request, a
broken version is never swapped in, served traffic feeds `monitor --since`, and the cache never
answers from another version."""

from __future__ import annotations

import json
import random
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn import datasets

from reconciler.cli import main
from tests.conftest import copy_examples, git_commit_all
from tests.e2e.conftest import SMALL_SPECS
from tests.e2e.serve_helpers import Server, post, serving

LOADERS: dict[str, Callable[..., Any]] = {
    "iris-classifier": datasets.load_iris,
    "wine-classifier": datasets.load_wine,
    "breast-cancer-classifier": datasets.load_breast_cancer,
    "diabetes-regressor": datasets.load_diabetes,
}


def features(model: str) -> Any:
    return LOADERS[model](as_frame=True).frame.drop(columns="target")


def uri(repo: Path) -> str:
    return f"sqlite:///{repo / '.reconciler' / 'mlflow.db'}"


def aliases(repo: Path) -> dict[tuple[str, str], str]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri(repo), registry_uri=uri(repo))
    return {(a, rm.name): str(v) for rm in client.search_registered_models() for a, v in rm.aliases.items()}


def apply(repo: Path, *extra: str) -> None:
    code = main(["apply", str(repo), "--jobs", "1", *extra])
    assert code == 0


def small_repo(root: Path, monkeypatch: pytest.MonkeyPatch, extra: dict[str, str] | None = None) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(root / "cache"))
    repo = root / "repo"
    for rel, text in {**SMALL_SPECS, **(extra or {})}.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    git_commit_all(repo, "specs")
    apply(repo)
    return repo


def test_every_answer_is_the_deployed_versions_prediction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The examples applied, then 500 seeded requests per model to production."""
    import mlflow
    import pandas as pd

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    repo = copy_examples(tmp_path / "repo")
    apply(repo)
    held = aliases(repo)
    rng = random.Random(17)
    with serving(repo, "--env", "production") as server:
        conn = server.connection()
        for model in sorted(LOADERS):
            frame = features(model)
            sent, answers = [], []
            for i in range(500):
                rows = frame.sample(n=rng.randint(1, 3), random_state=rng.randrange(2**31))
                # the three payload forms MLflow's scoring server takes, in turn
                doc: Any = [
                    {"dataframe_split": json.loads(rows.to_json(orient="split", index=False))},
                    {"dataframe_records": json.loads(rows.to_json(orient="records"))},
                    {"inputs": rows.values.tolist()},
                ][i % 3]
                status, body, version = post(conn, "production", model, doc)
                assert status == 200, body
                assert version == body["version"] == held[("production", model)]
                sent.append(rows)
                answers.extend(body["predictions"])
            mlflow.set_tracking_uri(uri(repo))
            reference = mlflow.pyfunc.load_model(f"models:/{model}@production")
            expected = reference.predict(_concat(sent)).tolist()
            assert np.allclose(np.asarray(answers, dtype=float), np.asarray(expected, dtype=float)), model
        assert server.metric("reconciler_requests_total", environment="production") == 2000
        assert server.metric("reconciler_cpu_seconds_total", environment="production") > 0
        # Real tabular data: raw rows with text and gaps, as a caller sends them.
        mixed = pd.read_csv(repo / "data" / "breast-cancer-mixed.csv").drop(columns="target")
        gaps = mixed[mixed.isna().any(axis=1)]
        assert len(gaps) > 50 and set(mixed["size band"].dropna()) == {"small", "medium", "large"}
        sent, answers = [], []
        for i in range(60):
            rows = gaps.sample(n=rng.randint(1, 3), random_state=rng.randrange(2**31))
            orient = ("split", "records")[i % 2]
            payload = json.loads(
                rows.to_json(orient=orient, index=False) if orient == "split" else rows.to_json(orient=orient)
            )
            status, body, version = post(conn, "production", "tumour-classifier", {f"dataframe_{orient}": payload})
            assert status == 200, body
            assert version == held[("production", "tumour-classifier")]
            sent.append(rows)
            answers.extend(body["predictions"])
        reference = mlflow.pyfunc.load_model("models:/tumour-classifier@production")
        assert answers == reference.predict(_concat(sent)).tolist()
    # Its monitoring profile covers the text columns: a batch of the same rows has not drifted.
    batch = str(repo / "data" / "breast-cancer-mixed.csv")
    capsys.readouterr()
    args = ["--model", "tumour-classifier", "--data", batch, "--labels", "target", "--no-log", "--format", "json"]
    assert main(["monitor", str(repo), "--env", "production", *args]) == 0
    out = capsys.readouterr().out
    assert '"size band"' in out and "chi2" in out, out[-2000:]


def _concat(frames: list[Any]) -> Any:
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


class Load:
    """Requests to production/iris-classifier from a thread until stopped (bounded by `limit`
    seconds): what every answer was, and when."""

    def __init__(self, server: Server, limit: float = 60) -> None:
        self.server = server
        self.limit = limit
        self.answers: list[tuple[float, int, str]] = []  # (time, status, version)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.rows = features("iris-classifier")

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        rng = random.Random(5)
        conn = self.server.connection()
        end = time.monotonic() + self.limit
        while not self._stop.is_set() and time.monotonic() < end:
            row = self.rows.iloc[rng.randrange(len(self.rows))]
            try:
                status, _, version = post(conn, "production", "iris-classifier", {"inputs": [row.tolist()]})
            except OSError as exc:
                self.answers.append((time.monotonic(), 0, repr(exc)))
                conn = self.server.connection()
                continue
            self.answers.append((time.monotonic(), status, version))

    def wait_for(self, version: str, timeout: float) -> float:
        """Seconds until an answer came from `version`."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if any(v == version and t >= start for t, _, v in self.answers[-50:]):
                return time.monotonic() - start
            time.sleep(0.05)
        raise AssertionError(f"no answer from v{version} within {timeout}s; last: {self.answers[-3:]}")


def test_promotion_and_rollback_are_followed_under_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = small_repo(tmp_path, monkeypatch)
    spec = repo / "specs" / "models" / "iris-classifier.yaml"
    with serving(repo, "--env", "production", "--poll", "0.5") as server, Load(server) as load:
        load.wait_for("1", 10)
        spec.write_text(spec.read_text().replace("C: 1.0", "C: 0.5"))
        git_commit_all(repo, "iris: C 0.5")
        change = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True)
        apply(repo)
        assert aliases(repo)[("production", "iris-classifier")] == "2"
        to_new = load.wait_for("2", 10)
        subprocess.run(["git", "-C", str(repo), "revert", "--no-edit", change.stdout.strip()], check=True)
        apply(repo)
        assert aliases(repo)[("production", "iris-classifier")] == "1"
        back = load.wait_for("1", 10)
        time.sleep(0.5)
        swaps = {
            v: server.metric("reconciler_model_swaps_total", model="iris-classifier", version=v) for v in ("1", "2")
        }
    statuses = [s for _, s, _ in load.answers]
    assert len(statuses) > 200 and set(statuses) == {200}, "no request failed or was refused"
    versions = [v for _, _, v in load.answers]
    first_new, last_new = versions.index("2"), len(versions) - 1 - versions[::-1].index("2")
    assert set(versions[first_new : last_new + 1]) == {"2"}, "once swapped in, only v2 answered until the rollback"
    assert set(versions[:first_new]) == {"1"} and set(versions[last_new + 1 :]) == {"1"}
    assert to_new < 5 and back < 5, (to_new, back)
    assert swaps == {"1": 2.0, "2": 1.0}, "the first load, the promotion, the rollback"


def test_a_version_that_does_not_load_is_never_swapped_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlflow import MlflowClient

    repo = small_repo(tmp_path, monkeypatch)
    spec = repo / "specs" / "models" / "iris-classifier.yaml"
    with serving(repo, "--env", "production", "--poll", "0.3") as server:
        spec.write_text(spec.read_text().replace("C: 1.0", "C: 0.5"))
        git_commit_all(repo, "iris: C 0.5")
        apply(repo, "--only", "train:iris-classifier")  # v2 registered, no alias moved
        client = MlflowClient(tracking_uri=uri(repo), registry_uri=uri(repo))
        where = Path(client.get_model_version_download_uri("iris-classifier", "2").removeprefix("file://"))
        (model_file,) = where.rglob("*.skops")
        model_file.write_bytes(b"not a model at all")
        apply(repo)
        assert aliases(repo)[("production", "iris-classifier")] == "2"
        deadline = time.monotonic() + 15
        while server.metric("reconciler_model_loads_total", version="2", result="failed") < 1:
            assert time.monotonic() < deadline, server.get("/v1/status")
            time.sleep(0.1)
        conn = server.connection()
        for _ in range(50):
            status, body, version = post(conn, "production", "iris-classifier", {"inputs": [[5.1, 3.5, 1.4, 0.2]]})
            assert (status, version) == (200, "1"), body
        view = next(m for m in server.get_json("/v1/status")["models"] if m["model"] == "iris-classifier")
        assert (view["alias"], view["serving"], view["ready"]) == ("2", "1", False)
        assert "v2 of 'iris-classifier' cannot be loaded" in view["error"]
        assert server.get("/readyz")[0] == 503
        assert server.metric("reconciler_model_swaps_total", environment="production", version="2") == 0
        capsys.readouterr()
        url = f"http://127.0.0.1:{server.port}"
        assert main(["status", str(repo), "--env", "production", "--serve-url", url]) == 1
        lines = capsys.readouterr().out.splitlines()
        assert lines[0].split() == ["ENV", "MODEL", "DESIRED", "ACTUAL", "SERVED", "STATE", "SINCE", "COMMIT"]
        iris = next(line for line in lines if "iris-classifier" in line)
        assert iris.split()[2:6] == ["v2", "v2", "v1", "Progressing"]
        assert "the server still answers with v1: v2 of 'iris-classifier' cannot be loaded" in iris
        wine = next(line for line in lines if "wine-classifier" in line)
        assert wine.split()[2:6] == ["v1", "v1", "v1", "Synced"]
    assert any("failed to load" in line and "v1 keeps serving" in line for line in server.output)
    capsys.readouterr()
    assert main(["status", str(repo), "--env", "production", "--serve-url", url, "--format", "json"]) == 0
    out, err = capsys.readouterr()
    assert {row["served"] for row in json.loads(out)} == {"?"}, "the server is gone: unknown, not a failure"
    assert f"cannot ask {url} what it serves" in err


def shifted(frame: Any, column: str, stds: float) -> Any:
    out = frame.copy()
    out[column] = out[column] + stds * frame[column].std()
    return out


def wait_logged(repo: Path, env: str, rows: int) -> None:
    from datetime import datetime, timedelta, timezone

    from reconciler.monitor.request_log import read_window

    deadline = time.monotonic() + 15
    since = datetime.now(timezone.utc) - timedelta(hours=1)
    while len(read_window(repo / ".reconciler", env, "iris-classifier", since)) < rows:
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_monitor_reads_served_traffic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = small_repo(tmp_path, monkeypatch)
    frame = features("iris-classifier")
    truth = datasets.load_iris().target
    rng = np.random.default_rng(3)
    labels: list[tuple[str, int, int]] = []  # what a labelling process reports later, by request id and row
    with serving(repo, "--poll", "1") as server:
        conn = server.connection()
        for env, batch in (("staging", frame), ("production", shifted(frame, "petal length (cm)", 1.0))):
            for _ in range(150):
                picked = rng.integers(0, len(batch), size=2)
                rows = batch.iloc[picked]
                status, body, _ = post(conn, env, "iris-classifier", {"dataframe_records": rows.to_dict("records")})
                assert status == 200, body
                if env == "staging":
                    labels += [(body["request_id"], i, int(truth[p])) for i, p in enumerate(picked)]
            wait_logged(repo, env, 300)
    capsys.readouterr()
    base = ["monitor", str(repo), "--model", "iris-classifier", "--since", "10m", "--no-log", "--format", "json"]
    assert main([*base, "--env", "staging"]) == 0
    (calm,) = json.loads(capsys.readouterr().out)
    assert calm["rows"] == 300 and calm["verdict"] == "ok"
    assert calm["batch"].startswith("requests served to iris-classifier@staging since ")
    assert main([*base, "--env", "production"]) == 1
    (report,) = json.loads(capsys.readouterr().out)
    assert [f["name"] for f in report["drift"]["features"] if f["drifted"]] == ["petal length (cm)"]
    assert main([*base, "--env", "dev"]) == 2, "a model asked for by name with no traffic is an error"
    assert "no requests served to iris-classifier@dev" in capsys.readouterr().err

    # Late labels, joined by request id and row: live quality on the labelled rows (two thirds).
    import pandas as pd

    known = pd.DataFrame(labels[:200], columns=["request_id", "row", "species"])
    known.to_csv(tmp_path / "labels.csv", index=False)
    joined = [*base, "--env", "staging", "--labels-from", str(tmp_path / "labels.csv"), "--labels", "species"]
    assert main(joined) == 0
    (report,) = json.loads(capsys.readouterr().out)
    assert report["rows"] == 300 and report["labels"] == "species"
    accuracy = next(q for q in report["quality"] if q["metric"] == "accuracy" and q["bound"] == "min")
    assert accuracy["passed"] and accuracy["live"] > 0.9
    wrong = known.assign(species=(known["species"] + 1) % 3)  # labels that disagree with every answer
    wrong.to_csv(tmp_path / "wrong.csv", index=False)
    assert main([*joined[:-4], "--labels-from", str(tmp_path / "wrong.csv"), "--labels", "species"]) == 1
    (report,) = json.loads(capsys.readouterr().out)
    assert any("live quality below the gates" in r for r in report["reasons"])
    known.drop(columns="row").to_csv(tmp_path / "no-row.csv", index=False)
    assert main([*joined[:-4], "--labels-from", str(tmp_path / "no-row.csv"), "--labels", "species"]) == 2
    assert "the labels need a `row` column" in capsys.readouterr().err


CACHED = {
    "environments/production.yaml": SMALL_SPECS["environments/production.yaml"]
    + "serving: {cache_size: 1000, price_per_cpu_hour: 0.1}\n"
}


def test_the_cache_answers_repeats_and_never_from_another_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = small_repo(tmp_path, monkeypatch)
    (repo / "environments" / "production.yaml").write_text(CACHED["environments/production.yaml"])
    git_commit_all(repo, "production: a prediction cache")
    capsys.readouterr()
    assert main(["plan", str(repo), "--detailed-exitcode"]) == 0, "serving settings never change a fingerprint"
    rows = features("iris-classifier").iloc[:20].values.tolist()
    spec = repo / "specs" / "models" / "iris-classifier.yaml"
    with serving(repo, "--env", "production", "--poll", "0.3") as server:
        conn = server.connection()
        first = post(conn, "production", "iris-classifier", {"inputs": rows})
        second = post(conn, "production", "iris-classifier", {"inputs": rows})
        assert first[1]["predictions"] == second[1]["predictions"] and first[2] == second[2] == "1"
        assert server.metric("reconciler_cache_hits_total", version="1") == 20
        assert server.metric("reconciler_cache_misses_total", version="1") == 20
        assert server.metric("reconciler_cost_total", version="1") > 0
        spec.write_text(spec.read_text().replace("C: 1.0", "C: 0.5"))
        git_commit_all(repo, "iris: C 0.5")
        apply(repo)
        deadline = time.monotonic() + 10
        while post(conn, "production", "iris-classifier", {"inputs": rows[:1]})[2] != "2":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        third = post(conn, "production", "iris-classifier", {"inputs": rows})
        assert third[2] == "2" and third[1]["version"] == "2"
        assert server.metric("reconciler_cache_hits_total", version="2") == 1, "only the row asked just before"
        assert server.metric("reconciler_cache_misses_total", version="2") == 20


def test_servers_of_a_team_log_requests_to_postgresql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """RECONCILER_REQUEST_LOG_URL: the request log in a database every server and the monitoring
    job reach, instead of one machine's files."""
    import uuid

    from tests.e2e.server import _connect, postgres_or_skip

    postgres_or_skip()
    database = f"reconciler_{uuid.uuid4().hex[:12]}"
    with _connect("test") as admin:  # type: ignore[attr-defined]
        admin.execute(f'CREATE DATABASE "{database}"')
    try:
        monkeypatch.setenv("RECONCILER_REQUEST_LOG_URL", f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}")
        repo = small_repo(tmp_path, monkeypatch)
        batch = shifted(features("iris-classifier"), "petal length (cm)", 1.0)
        rng = np.random.default_rng(11)
        with serving(repo, "--env", "production") as server:
            conn = server.connection()
            for _ in range(100):
                rows = batch.iloc[rng.integers(0, len(batch), size=3)]
                assert post(conn, "production", "iris-classifier", {"inputs": rows.values.tolist()})[0] == 200
            deadline = time.monotonic() + 15
            while server.metric("reconciler_request_log_rows_total") < 300:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert any(f"request log: postgresql+psycopg://127.0.0.1:5432/{database}" in line for line in server.output)
        assert not (repo / ".reconciler" / "requests").exists()
        capsys.readouterr()
        argv = ["monitor", str(repo), "--env", "production", "--since", "1h", "--no-log", "--format", "json"]
        assert main([*argv, "--model", "iris-classifier"]) == 1
        (report,) = json.loads(capsys.readouterr().out)
        assert report["rows"] == 300
        assert [f["name"] for f in report["drift"]["features"] if f["drifted"]] == ["petal length (cm)"]
    finally:
        with _connect("test") as admin:  # type: ignore[attr-defined]
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
