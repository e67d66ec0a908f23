"""`reconciler monitor` on real models in a real MLflow store: no drift on held-out data, exactly
the shifted feature on a shifted batch, live quality below the gates on shuffled labels, schema
drift reported rather than crashing, and errors as exit 2."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import SMALL_SPECS, make_repo
from tests.e2e.server import PostgresServer

FEATURES = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One applied repository shared by the module's tests (training is the slow part); each
    test copies nothing and writes batches under its own names."""
    mp = pytest.MonkeyPatch()
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    root = tmp_path_factory.mktemp("monitor")
    capsys = _NullCapture()
    specs = dict(SMALL_SPECS)
    specs["specs/models/wine-classifier.yaml"] += "monitoring: {batch: {csv: batches/wine.csv}, psi_max: 0.25}\n"
    repo = make_repo(root / "repo", specs, capsys)  # type: ignore[arg-type]
    from reconciler.cli import main

    assert main(["apply", str(repo.path), "--env", "dev"]) == 0
    yield repo.path
    mp.undo()


class _NullCapture:
    def readouterr(self) -> tuple[str, str]:
        return "", ""


def iris_split(seed: int) -> Any:
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split

    x, y = load_iris(return_X_y=True, as_frame=True)
    frame = x.copy()
    frame["target"] = y
    # The same split the spec trains on (seed 7, stratified, 30%): its test rows were never seen.
    _, test = train_test_split(frame, test_size=0.3, random_state=7, stratify=y)
    return test.sample(frac=0.9, random_state=seed)


def monitor(repo: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from reconciler.cli import main

    capsys.readouterr()
    code = main(["monitor", str(repo), "--env", "dev", *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def run_json(repo: Path, capsys: pytest.CaptureFixture[str], batch: Path, *args: str) -> tuple[int, dict[str, Any]]:
    code, out, err = monitor(
        repo, capsys, "--model", "iris-classifier", "--data", str(batch), "--format", "json", "--no-log", *args
    )
    report = json.loads(out)[0]
    assert code == (1 if report["verdict"] == "drifted" else 0), err
    return code, report


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_held_out_rows_do_not_drift(trained: Path, capsys: pytest.CaptureFixture[str], seed: int) -> None:
    batch = trained / f"held-out-{seed}.csv"
    iris_split(seed).drop(columns="target").to_csv(batch, index=False)
    code, report = run_json(trained, capsys, batch)
    assert code == 0, report["reasons"]
    assert report["verdict"] == "ok" and report["drift"]["schema"] == []
    assert [f["name"] for f in report["drift"]["features"]] == FEATURES
    assert report["drift"]["prediction"]["drifted"] is False


@pytest.mark.parametrize("feature", FEATURES)
def test_a_feature_shifted_by_one_std_is_the_one_flagged(
    trained: Path, capsys: pytest.CaptureFixture[str], feature: str
) -> None:
    from sklearn.datasets import load_iris

    x = load_iris(as_frame=True).data
    batch = iris_split(0).drop(columns="target")
    batch[feature] = batch[feature] + x[feature].std()
    path = trained / "shifted.csv"
    batch.to_csv(path, index=False)
    code, report = run_json(trained, capsys, path)
    assert code == 1
    assert [f["name"] for f in report["drift"]["features"] if f["drifted"]] == [feature]
    assert any(feature in reason for reason in report["reasons"])


def test_shuffled_labels_fail_live_quality_against_the_gate(trained: Path, capsys: pytest.CaptureFixture[str]) -> None:
    batch = iris_split(0)
    batch["target"] = batch["target"].sample(frac=1, random_state=3).to_numpy()
    path = trained / "shuffled.csv"
    batch.to_csv(path, index=False)
    code, report = run_json(trained, capsys, path, "--labels", "target")
    assert code == 1
    assert not any(f["drifted"] for f in report["drift"]["features"]), "the inputs are the same rows"
    failed = [q for q in report["quality"] if not q["passed"]]
    assert failed and all(q["metric"] == "accuracy" for q in failed)
    live = failed[0]["live"]
    assert live < 0.8, "a shuffled target leaves the model near chance, below the gate's 0.8"

    # The same rows with their true labels pass.
    good = trained / "labelled.csv"
    iris_split(0).to_csv(good, index=False)
    code, report = run_json(trained, capsys, good, "--labels", "target")
    assert code == 0 and all(q["passed"] for q in report["quality"])


def test_schema_drift_is_reported_not_a_crash(trained: Path, capsys: pytest.CaptureFixture[str]) -> None:
    batch = iris_split(0).drop(columns=["target", "sepal width (cm)"])
    batch["petal width (cm)"] = "wide"
    batch["new_column"] = 1.0
    path = trained / "schema.csv"
    batch.to_csv(path, index=False)
    code, report = run_json(trained, capsys, path)
    assert code == 1
    problems = {(s["column"], s["problem"]) for s in report["drift"]["schema"]}
    assert problems == {("sepal width (cm)", "missing"), ("petal width (cm)", "type"), ("new_column", "extra")}
    assert report["drift"]["prediction"] is None
    assert {f["name"] for f in report["drift"]["features"]} == {"sepal length (cm)", "petal length (cm)"}


def test_the_check_is_logged_to_mlflow_and_reports_are_written(
    trained: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sklearn.datasets import load_wine

    (trained / "batches").mkdir(exist_ok=True)
    load_wine(as_frame=True).data.sample(n=60, random_state=1).to_csv(trained / "batches" / "wine.csv", index=False)
    reports = trained / "out"
    code, out, err = monitor(trained, capsys, "--report-dir", str(reports))  # every model with a batch source
    assert code == 0, out + err
    assert "iris-classifier@dev: no batch source" in err
    assert "wine-classifier@dev" in out and "verdict: OK" in out
    html = (reports / "dev-wine-classifier.html").read_text()
    assert html.count('<svg class="histogram"') == 14  # 13 features and the predictions
    assert list(reports.glob("dev-wine-classifier-*.png"))
    from mlflow import MlflowClient

    uri = f"sqlite:///{trained / '.reconciler' / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    runs = client.search_runs(
        [client.get_experiment_by_name("reconciler-monitoring").experiment_id],
        filter_string="tags.`reconciler.monitor.model` = 'wine-classifier'",
    )
    assert len(runs) == 1
    run = runs[0]
    assert run.data.tags["reconciler.monitor.verdict"] == "ok" and run.data.tags["reconciler.monitor.version"] == "1"
    assert "psi.alcohol" in run.data.metrics
    names = {a.path for a in client.list_artifacts(run.info.run_id, "monitor")}
    assert {"monitor/dev-wine-classifier.html", "monitor/dev-wine-classifier.json"} <= names
    summary = json.loads(client.get_model_version("wine-classifier", "1").tags["reconciler.monitor.dev"])
    assert summary["verdict"] == "ok" and summary["run_id"] == run.info.run_id


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "nope", "--data", "x.csv"], "model 'nope' is not deployed to 'dev'"),
        (["--model", "iris-classifier", "--data", "missing.csv"], "cannot read the batch missing.csv"),
        (["--model", "iris-classifier"], "iris-classifier has no monitoring.batch in its spec: pass --data FILE"),
        (["--data", "x.csv"], "--data is one batch: name the model it is for with --model"),
        (["--model", "iris-classifier", "--data", "bad.txt"], "should be a .csv or .parquet file"),
        (["--model", "iris-classifier", "--data", "held-out-0.csv", "--labels", "y"], "label column 'y' is not"),
    ],
)
def test_errors_exit_2_with_one_line(
    trained: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    (trained / "bad.txt").write_text("a,b\n1,2\n")
    iris_split(0).drop(columns="target").to_csv(trained / "held-out-0.csv", index=False)
    monkeypatch.chdir(trained)
    code, _, err = monitor(trained, capsys, *args)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_a_model_never_applied_has_nothing_to_monitor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    repo = make_repo(tmp_path / "fresh", SMALL_SPECS, capsys)
    iris_split(0).to_csv(tmp_path / "b.csv", index=False)
    code, _, err = monitor(repo.path, capsys, "--model", "iris-classifier", "--data", str(tmp_path / "b.csv"))
    assert code == 2 and "models:/iris-classifier@dev holds no version" in err


def test_the_html_report_renders_in_headless_chromium(
    trained: Path, capsys: pytest.CaptureFixture[str], chromium: str, tmp_path: Path
) -> None:
    import subprocess

    batch = iris_split(0).drop(columns="target")
    batch["petal length (cm)"] += 1.8
    path = trained / "for-browser.csv"
    batch.to_csv(path, index=False)
    code, _, err = monitor(
        trained, capsys, "--model", "iris-classifier", "--data", str(path), "--no-log", "--report-dir", str(tmp_path)
    )
    assert code == 1, err
    page = tmp_path / "dev-iris-classifier.html"
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"]
    dom = subprocess.run(
        [*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert dom.count('class="histogram"') == 5  # four features and the predictions
    assert dom.count('class="live"') > 4 * 6 + 2 and 'id="verdict">drifted<' in dom
    assert "petal length (cm) (drifted)" in dom
    shot = tmp_path / "report.png"
    subprocess.run(
        [*flags, f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_a_sweep_of_every_environment_skips_what_is_not_deployed_yet(
    trained: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from sklearn.datasets import load_wine

    (trained / "batches").mkdir(exist_ok=True)
    load_wine(as_frame=True).data.sample(n=60, random_state=2).to_csv(trained / "batches" / "wine.csv", index=False)
    from reconciler.cli import main

    capsys.readouterr()
    code = main(["monitor", str(trained), "--no-log", "--report-dir", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "models:/wine-classifier@staging holds no version" in err and "skipped" in err
    assert out.count("wine-classifier@") == 1 and "wine-classifier@dev" in out


def test_nothing_to_monitor_is_not_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_repo(tmp_path / "plain", SMALL_SPECS, capsys)
    from reconciler.cli import main

    capsys.readouterr()
    assert main(["monitor", str(repo.path)]) == 0
    assert "nothing to monitor" in capsys.readouterr().out


def test_monitor_against_a_server_reads_the_profile_and_logs_the_check(
    pg_server: PostgresServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A team's set-up: the model, its profile and the monitoring run's reports all go through a
    real mlflow server on PostgreSQL (artifacts served by it), not a local file store."""
    from mlflow import MlflowClient
    from sklearn.datasets import load_iris

    from reconciler.cli import main

    pg_server.reset()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", pg_server.uri)
    repo = make_repo(tmp_path / "repo", SMALL_SPECS, capsys)
    assert main(["apply", str(repo.path), "--env", "dev"]) == 0

    held_out = repo.path / "held-out.csv"
    iris_split(1).drop(columns="target").to_csv(held_out, index=False)
    code, report = run_json(repo.path, capsys, held_out)
    assert code == 0, report["reasons"]

    shifted = iris_split(1).drop(columns="target")
    shifted["petal length (cm)"] += load_iris(as_frame=True).data["petal length (cm)"].std()
    path = repo.path / "shifted.csv"
    shifted.to_csv(path, index=False)
    code, out, err = monitor(repo.path, capsys, "--model", "iris-classifier", "--data", str(path))
    assert code == 1 and "petal length (cm)" in out, out + err

    client = MlflowClient(pg_server.uri, pg_server.uri)
    runs = client.search_runs([client.get_experiment_by_name("reconciler-monitoring").experiment_id])
    assert [r.data.tags["reconciler.monitor.verdict"] for r in runs] == ["drifted"]
    names = {a.path for a in client.list_artifacts(runs[0].info.run_id, "monitor")}
    assert "monitor/dev-iris-classifier.html" in names
    summary = json.loads(client.get_model_version("iris-classifier", "1").tags["reconciler.monitor.dev"])
    assert summary["verdict"] == "drifted"


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory", "sparse"])
def test_a_batch_that_is_not_a_data_file_fails_at_once(
    trained: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str
) -> None:
    """Without the check, the FIFO and /dev/zero never return and the sparse file fills memory."""
    import os

    path = tmp_path / "batch.csv"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "directory":
        path.mkdir()
    else:
        with path.open("wb") as fh:
            fh.truncate(5 * 1024**3)
    code, _, err = monitor(trained, capsys, "--model", "iris-classifier", "--data", str(path), "--no-log")
    assert code == 2
    expected = {
        "fifo": "is a FIFO",
        "dev-zero": "is a device",
        "directory": "is a directory",
        "sparse": "over the limit",
    }
    assert expected[kind] in err, err


SECRET_URL_PARTS = ("hunter2", "X-Amz-Signature", "sig-0123456789")


@pytest.fixture
def batch_server(trained: Path) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 serving a held-out batch (any path, any query)."""
    import http.server
    import threading

    body = iris_split(0).drop(columns="target").to_csv(index=False).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_presigned_batch_url_is_never_shown_logged_or_written(
    trained: Path, capsys: pytest.CaptureFixture[str], batch_server: str, tmp_path: Path
) -> None:
    host = batch_server.removeprefix("http://")
    url = f"http://bob:hunter2@{host}/live/iris.csv?X-Amz-Signature=sig-0123456789&X-Amz-Expires=600"
    reports = tmp_path / "reports"
    outputs = []
    for fmt in ("text", "json", "markdown"):
        code, out, err = monitor(
            trained, capsys, "--model", "iris-classifier", "--data", url, "--format", fmt, "--report-dir", str(reports)
        )
        assert code == 0, out + err
        outputs.append(out + err)
    written = [p.read_text(errors="replace") for p in reports.iterdir() if p.suffix in (".html", ".json")]
    from mlflow import MlflowClient

    uri = f"sqlite:///{trained / '.reconciler' / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    runs = client.search_runs(
        [client.get_experiment_by_name("reconciler-monitoring").experiment_id],
        filter_string="tags.`reconciler.monitor.model` = 'iris-classifier'",
    )
    assert len(runs) == 3 and len(written) == 2  # one logged check per format; one html and one json report
    logged = [json.dumps(r.to_dictionary()) for r in runs]
    logged += [client.get_model_version("iris-classifier", "1").tags.get("reconciler.monitor.dev", "")]
    for run in runs:
        for artifact in client.list_artifacts(run.info.run_id, "monitor"):
            if artifact.path.endswith((".json", ".html")):
                local = client.download_artifacts(run.info.run_id, artifact.path, str(tmp_path))
                logged.append(Path(local).read_text(errors="replace"))
    everything = "\n".join(outputs + written + logged)
    assert f"http://{host}/live/iris.csv?***" in everything, "the batch is still named, redacted"
    for secret in SECRET_URL_PARTS:
        assert secret not in everything, secret


def test_a_batch_server_that_never_answers_ends_the_check(
    trained: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # accepts connections (the kernel does) and never answers
    port = listener.getsockname()[1]
    monkeypatch.setenv("RECONCILER_BATCH_TIMEOUT_SECONDS", "2")
    started = time.monotonic()
    code, _, err = monitor(
        trained, capsys, "--model", "iris-classifier", "--data", f"http://127.0.0.1:{port}/b.csv?token=s3cret"
    )
    assert time.monotonic() - started < 60  # without the timeout: never
    listener.close()
    assert code == 2 and "cannot fetch the batch http://127.0.0.1" in err and "timed out" in err, err
    assert "s3cret" not in err


def test_a_batch_variable_must_be_meant_for_batches_and_is_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    from reconciler.monitor.check import MonitorError, read_batch
    from reconciler.spec.kinds import BatchSource

    with pytest.raises(ValueError, match="RECONCILER_BATCH_"):
        BatchSource.model_validate({"uri_env": "MLFLOW_TRACKING_TOKEN"})
    assert BatchSource.model_validate({"uri_env": "RECONCILER_BATCH_IRIS"}).uri_env == "RECONCILER_BATCH_IRIS"
    with pytest.raises(MonitorError) as error:
        read_batch("/nowhere/batch.csv?token=abc#frag")
    assert "abc" not in str(error.value) and "frag" not in str(error.value)
