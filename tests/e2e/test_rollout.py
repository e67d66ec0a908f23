"""Rollouts for real: specs in a git repository, the SQLite registry, `reconciler serve` on
127.0.0.1 hit by bounded, seeded request loops. A healthy canary goes 10 -> 50 -> 100 and is
promoted; a candidate that fails on a slice of requests is aborted without a caller seeing a
failure; a shadow never answers a caller; a killed server resumes from the recorded step; a
revert during a rollout cancels it."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sklearn import datasets

from reconciler.cli import main
from tests.conftest import git_commit_all
from tests.e2e.conftest import IRIS_MODEL
from tests.e2e.serve_helpers import Server, serving

MODEL = "iris-classifier"
ENV = "production"
COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


def specs(rollout: str) -> dict[str, str]:
    return {
        "specs/datasets/iris.yaml": f"""kind: Dataset
name: iris
source: {{sklearn: load_iris}}
target: target
features: {json.dumps(COLUMNS[:3])}
split: {{test_size: 0.3, seed: 7, stratify: true}}
""",
        "specs/models/iris-classifier.yaml": IRIS_MODEL,
        "specs/gates/quality.yaml": """kind: Gate
name: quality
rules:
  - {metric: accuracy, min: 0.8}
""",
        "environments/production.yaml": f"""kind: Environment
name: production
rollout:
{rollout}
models:
  iris-classifier: {{gates: [quality]}}
""",
        ".gitignore": ".reconciler/\n",
    }


CANARY = """  strategy: canary
  steps: [{weight: 10}, {pause: PAUSE}, {weight: 50}, {weight: 100}]
  analysis:
    interval: 500ms
    failure_limit: 1
    min_requests: 40
    metrics:
      - {metric: error_rate, max: 0.02}
      - {metric: latency_p95, max: 2000}
      - {metric: prediction_drift, max: 1.0}"""


def make_repo(root: Path, monkeypatch: pytest.MonkeyPatch, rollout: str) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(root / "cache"))
    repo = root / "repo"
    for rel, text in specs(rollout).items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    git_commit_all(repo, "specs")
    apply(repo)
    return repo


def apply(repo: Path) -> None:
    assert main(["apply", str(repo), "--jobs", "1"]) == 0


def edit(repo: Path, rel: str, old: str, new: str, message: str) -> str:
    path = repo / rel
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))
    git_commit_all(repo, message)
    return subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()


def registry(repo: Path) -> Any:
    from mlflow import MlflowClient

    uri = f"sqlite:///{repo / '.reconciler' / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri).get_registered_model(MODEL)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(root)}
    return subprocess.run([sys.executable, "-m", "reconciler", *args], capture_output=True, text=True, env=env)


def aliases(repo: Path) -> dict[str, str]:
    return {alias: str(version) for alias, version in registry(repo).aliases.items()}


def ledger(repo: Path) -> list[dict[str, Any]]:
    tags = registry(repo).tags
    return [json.loads(tags[k]) for k in sorted(tags) if k.startswith("reconciler.ledger.")]


def rollout_view(server: Server) -> dict[str, Any] | None:
    views = server.get_json("/v1/status")["models"]
    view = next(v for v in views if v["environment"] == ENV and v["model"] == MODEL)
    return view.get("rollout")


def wait_until(what: str, check: Any, timeout: float, server: Server | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout}s" + (
            "" if server is None else "\n" + json.dumps(server.get_json("/v1/status"), indent=1)
        )
        time.sleep(0.1)


ROWS = datasets.load_iris(as_frame=True).frame.drop(columns="target")


class Caller:
    """Seeded requests of one iris row each, on one kept-alive connection."""

    def __init__(self, server: Server, seed: int) -> None:
        self.conn = server.connection()
        self.rng = random.Random(seed)
        self.answers: list[tuple[int, str, str]] = []  # (status, version, role)

    def send(self, count: int, drop_share: float = 0.0, key: str | None = None) -> None:
        for _ in range(count):
            row = ROWS.iloc[self.rng.randrange(len(ROWS))].to_dict()
            if self.rng.random() < drop_share:
                del row["petal width (cm)"]  # a caller that does not send the newest feature yet
            headers = {"Content-Type": "application/json"} | ({"X-User": key} if key else {})
            self.conn.request(
                "POST", f"/v1/{ENV}/{MODEL}/invocations", json.dumps({"dataframe_records": [row]}), headers
            )
            response = self.conn.getresponse()
            body = json.loads(response.read())
            assert response.status == 200, body
            self.answers.append(
                (
                    response.status,
                    response.getheader("X-Model-Version") or "",
                    response.getheader("X-Rollout-Role") or "",
                )
            )


def test_a_healthy_canary_goes_10_50_100_and_is_promoted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(tmp_path, monkeypatch, CANARY.replace("PAUSE", "20s"))
    with serving(repo, "--env", ENV, "--poll", "0.2") as server:
        edit(repo, "specs/models/iris-classifier.yaml", "C: 1.0", "C: 0.5", "iris: C 0.5")
        apply(repo)
        assert aliases(repo) == {ENV: "1", f"{ENV}-candidate": "2"}, "apply starts a rollout; the alias stays"
        wait_until("the server follows the rollout", lambda: (rollout_view(server) or {}).get("loaded"), 20, server)
        caller = Caller(server, seed=1)
        caller.send(2000)
        view = rollout_view(server)
        assert view is not None and view["weight"] == 10, view
        to_candidate = sum(1 for _, version, role in caller.answers if role == "candidate")
        assert all(version == ("2" if role == "candidate" else "1") for _, version, role in caller.answers)
        assert 160 <= to_candidate <= 240, f"{to_candidate} of 2000 requests reached the candidate at weight 10"
        assert server.metric("reconciler_rollout_weight", version="2") == 10
        # The status page shows the rollout under way: where it is and its last analysis.
        site = tmp_path / "site"
        cli("status", "--repo", str(repo), "--html", str(site))
        index = (site / "index.html").read_text()
        assert f'data-env="{ENV}" data-model="{MODEL}" data-state="Progressing"' in index
        page = (site / "models" / f"{MODEL}.html").read_text()
        row = page.split(f'<tr class="rollout" data-env="{ENV}">', 1)[1].split("</tr>", 1)[0]
        assert '<td data-label="Candidate">v2</td>' in row and '<td data-label="Champion">v1</td>' in row, row
        assert "weight 10%" in row and "error_rate 0 (&lt;= 0.02) ok" in row, row

        def promoted() -> bool:
            caller.send(50)
            return aliases(repo) == {ENV: "2"}

        wait_until("the candidate is promoted", promoted, 90, server)
        caller.send(20)
        assert {version for _, version, _ in caller.answers[-20:]} == {"2"}
        assert rollout_view(server) is None
    events = [(e.get("event", ""), e["from"], e["to"]) for e in ledger(repo)]
    assert events[-5:] == [
        ("started", "1", "1"),
        ("step", "1", "1"),
        ("step", "1", "1"),
        ("step", "1", "1"),
        ("promoted", "1", "2"),
    ], events
    last = ledger(repo)[-1]
    assert "error_rate 0 (<= 0.02) ok" in last["reason"] and last["candidate"] == "2"
    assert main(["plan", str(repo), "--detailed-exitcode"]) == 0, "promoted: in sync"
    status = cli("status", "--repo", str(repo))
    assert "Synced" in status.stdout, status.stdout
    history = cli("history", MODEL, "--repo", str(repo)).stdout
    v1 = next(line for line in history.splitlines() if line.startswith("v1 "))
    assert v1.count("production") == 1, "rollout steps do not split v1's time in production"
    rollouts = history.split("ROLLOUTS\n")[1].splitlines()
    assert [line.split(" ")[3] for line in rollouts] == ["started:", "step:", "step:", "step:", "promoted:"], history
    assert rollouts[-1].split(" ")[2] == "v2" and "every step passed its analysis" in rollouts[-1]


def test_a_candidate_failing_on_a_slice_is_aborted_and_no_caller_sees_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path, monkeypatch, CANARY.replace("PAUSE", "1m"))
    with serving(repo, "--env", ENV, "--poll", "0.2") as server:
        # The new version needs a feature some callers do not send yet.
        edit(repo, "specs/datasets/iris.yaml", json.dumps(COLUMNS[:3]), json.dumps(COLUMNS), "iris: all four features")
        apply(repo)
        wait_until("the server follows the rollout", lambda: (rollout_view(server) or {}).get("loaded"), 20, server)
        caller = Caller(server, seed=2)

        def aborted() -> bool:
            caller.send(100, drop_share=0.1)
            return f"{ENV}-candidate" not in aliases(repo)

        wait_until("the rollout is aborted", aborted, 60, server)
        failures = server.metric("reconciler_candidate_failures_total", version="2")
        errors = server.metric("reconciler_request_errors_total")
    assert all(status == 200 for status, _, _ in caller.answers), "every caller got an answer"
    from reconciler.monitor.request_log import failed, read_window

    logged = read_window(repo / ".reconciler", ENV, MODEL, datetime.now(timezone.utc) - timedelta(hours=1))
    by_version = logged.groupby(logged["version"].astype(str)).size().to_dict()
    assert set(by_version) == {"1", "2"}, by_version
    assert set(logged.loc[failed(logged), "version"].astype(str)) == {"2"}, "the candidate's failures are logged"
    assert failures > 0 and errors == 0, (failures, errors)
    assert aliases(repo) == {ENV: "1"}, "production's alias never moved"
    last = ledger(repo)[-1]
    assert last["event"] == "aborted" and last["from"] == last["to"] == "1"
    assert "error_rate" in last["reason"] and "FAILED" in last["reason"]
    status = cli("status", "--repo", str(repo))
    assert "Degraded" in status.stdout and "error_rate" in status.stdout, status.stdout
    plan = cli("plan", "--repo", str(repo))
    assert "was aborted on" in plan.stdout and "change the model's spec" in plan.stdout, plan.stdout
    assert main(["apply", str(repo), "--jobs", "1"]) == 1, "blocked, like a gate failure"
    assert aliases(repo) == {ENV: "1"}, "the same fingerprint is not tried again"


# The pause outlasts the 300 requests below even on a loaded machine: a promotion during them
# would (rightly) have v2 answer as the new champion.
SHADOW = """  strategy: shadow
  steps: [{pause: 10s}]
  analysis:
    interval: 500ms
    min_requests: 40
    metrics:
      - {metric: error_rate, max: 0.02}
      - {metric: prediction_drift, max: 5}"""


def test_a_shadow_never_answers_a_caller_and_its_drift_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path, monkeypatch, SHADOW)
    with serving(repo, "--env", ENV, "--poll", "0.2") as server:
        edit(repo, "specs/models/iris-classifier.yaml", "C: 1.0", "C: 0.01", "iris: C 0.01")
        apply(repo)
        wait_until("the server follows the rollout", lambda: (rollout_view(server) or {}).get("loaded"), 20, server)
        caller = Caller(server, seed=3)
        caller.send(300)
        assert {(version, role) for _, version, role in caller.answers} == {("1", "champion")}
        drift = wait_until(
            "prediction drift is measured",
            lambda: next(
                (m for m in (rollout_view(server) or {}).get("last", []) if m.startswith("prediction_drift ")), None
            ),
            20,
            server,
        )
        assert server.metric("reconciler_requests_total", version="2") >= 40, "the candidate answered copies"

        def promoted() -> bool:
            caller.send(50)
            return aliases(repo) == {ENV: "2"}

        wait_until("the shadow is promoted", promoted, 60, server)
    assert "prediction_drift" in drift
    assert "prediction_drift" in ledger(repo)[-1]["reason"]


def test_a_killed_server_resumes_the_rollout_from_its_recorded_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path, monkeypatch, CANARY.replace("PAUSE", "4s"))
    edit(repo, "specs/models/iris-classifier.yaml", "C: 1.0", "C: 0.5", "iris: C 0.5")
    apply(repo)
    with serving(repo, "--env", ENV, "--poll", "0.2") as server:
        wait_until("the server follows the rollout", lambda: (rollout_view(server) or {}).get("loaded"), 20, server)
        caller = Caller(server, seed=4)

        def at_pause() -> bool:
            caller.send(40)
            return (rollout_view(server) or {}).get("step") == 2

        wait_until("the rollout reaches its pause", at_pause, 30, server)
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait()
    steps_before = [e for e in ledger(repo) if e.get("event") == "step"]
    assert len(steps_before) == 1
    with serving(repo, "--env", ENV, "--poll", "0.2") as server:
        view = wait_until("the restarted server follows the rollout", lambda: rollout_view(server), 20, server)
        assert view["step"] == 2 and view["weight"] == 10, "resumed at its recorded step, not from the start"
        caller = Caller(server, seed=5)

        def promoted() -> bool:
            caller.send(50)
            return aliases(repo) == {ENV: "2"}

        wait_until("the resumed rollout is promoted", promoted, 60, server)
    assert [e.get("event") for e in ledger(repo)].count("started") == 1


def test_a_revert_during_a_rollout_cancels_it_and_the_change_can_come_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path, monkeypatch, CANARY.replace("PAUSE", "1m"))
    change = edit(repo, "specs/models/iris-classifier.yaml", "C: 1.0", "C: 0.5", "iris: C 0.5")
    apply(repo)
    assert aliases(repo) == {ENV: "1", f"{ENV}-candidate": "2"}
    subprocess.run(["git", "-C", str(repo), "revert", "--no-edit", change], check=True, capture_output=True)
    plan = cli("plan", "--repo", str(repo))
    assert "abort" in plan.stdout and "no longer deploy v2" in plan.stdout, plan.stdout
    assert "Rollback: reverts" in plan.stdout, plan.stdout
    comment = cli("plan", "--repo", str(repo), "--format", "markdown").stdout
    assert "production/iris-classifier stays at v1 (its rollout is cancelled)" in comment, comment
    apply(repo)
    assert aliases(repo) == {ENV: "1"}
    assert ledger(repo)[-1]["event"] == "aborted"
    subprocess.run(["git", "-C", str(repo), "revert", "--no-edit", "HEAD"], check=True, capture_output=True)
    apply(repo)
    assert aliases(repo) == {ENV: "1", f"{ENV}-candidate": "2"}, "a cancelled rollout may start again"


def test_render_gives_kserve_the_candidate_at_the_steps_weight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import jsonschema
    import yaml

    from reconciler.rollout.analysis import Observations
    from reconciler.rollout.controller import Controller
    from reconciler.state.mlflow_store import MlflowStore
    from tests.e2e.test_render import CRD

    crd = yaml.load(CRD.read_text(), Loader=yaml.CSafeLoader)
    schema = next(v for v in crd["spec"]["versions"] if v["name"] == "v1beta1")["schema"]["openAPIV3Schema"]
    repo = make_repo(tmp_path, monkeypatch, CANARY.replace("PAUSE", "1m"))
    out = repo / "deploy"

    def render() -> str:
        assert main(["render", "--repo", str(repo), "--target", "kserve", "--env", ENV]) == 0
        text = (out / ENV / f"{MODEL}.yaml").read_text()
        jsonschema.validate(yaml.safe_load(text), schema)
        return text

    before = render()
    assert "canaryTrafficPercent" not in before
    edit(repo, "specs/models/iris-classifier.yaml", "C: 1.0", "C: 0.5", "iris: C 0.5")
    apply(repo)
    store = MlflowStore.for_repo(repo)
    at_10 = render()
    assert "canaryTrafficPercent: 10" in at_10 and "version: '2'" in at_10
    assert at_10.split("storageUri: ")[1].split("\n")[0] == store.artifact_location(MODEL, "2")

    seen = Observations()
    seen.candidate.requests = 100
    seen.candidate.latencies_ms.extend([1.0] * 100)
    seen.candidate.predictions.extend([0, 1, 2] * 30)
    seen.champion.predictions.extend([0, 1, 2] * 30)
    clock = [time.time()]
    controller = Controller(store, say=lambda text: None, clock=lambda: clock[0])
    for _ in range(2):  # weight 10 verified, then the pause held: weight 50
        clock[0] += 3600
        state = store.read().models[MODEL].rollout(ENV)
        assert state is not None and controller.tick(MODEL, state, seen) is not None
    at_50 = render()
    changed = [(a, b) for a, b in zip(at_10.splitlines(), at_50.splitlines(), strict=True) if a != b]
    assert changed == [("    canaryTrafficPercent: 10", "    canaryTrafficPercent: 50")], changed
    for _ in range(2):  # weight 100, then promoted
        clock[0] += 3600
        state = store.read().models[MODEL].rollout(ENV)
        assert state is not None and controller.tick(MODEL, state, seen) is not None
    assert aliases(repo) == {ENV: "2"}
    promoted = render()
    assert "canaryTrafficPercent" not in promoted and "version: '2'" in promoted
    uri = [line for line in at_10.splitlines() if "storageUri" in line]
    assert uri == [line for line in promoted.splitlines() if "storageUri" in line], "the candidate stays in"


def log_traffic(repo: Path, count: int, error_share: float, seed: int) -> None:
    """What servers logging to the request log would have written: `count` requests, one in
    ten answered by the candidate (v2), some of those failed."""
    from reconciler.monitor.request_log import Entry, FileSink, RequestLog

    rng = random.Random(seed)
    log = RequestLog(FileSink(repo / ".reconciler"))
    for i in range(count):
        row = ROWS.iloc[rng.randrange(len(ROWS))]
        values = [float(row[c]) for c in COLUMNS[:3]]
        version = "2" if i % 10 == 0 else "1"
        if version == "2" and rng.random() < error_share:
            log.append(
                Entry(
                    ENV,
                    MODEL,
                    f"r{seed}-{i}",
                    time.time(),
                    "2",
                    3.0,
                    tuple(COLUMNS[:3]),
                    [[None] * 3],
                    [None],
                    "missing column",
                )
            )
            continue
        log.append(
            Entry(
                ENV,
                MODEL,
                f"r{seed}-{i}",
                time.time(),
                version,
                2.0,
                tuple(COLUMNS[:3]),
                [values],
                [rng.choice([0, 1, 2])],
            )
        )
    log.close()


def test_the_one_shot_advances_from_the_request_log_and_aborts_on_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo(tmp_path, monkeypatch, CANARY.replace("PAUSE", "1s"))
    assert main(["rollout", "--repo", str(repo)]) == 0
    assert "no rollout under way" in capsys.readouterr().out
    edit(repo, "specs/models/iris-classifier.yaml", "C: 1.0", "C: 0.5", "iris: C 0.5")
    apply(repo)
    outputs = []
    for round_ in range(12):
        time.sleep(0.6)
        log_traffic(repo, 600, 0.0, seed=round_)
        capsys.readouterr()
        assert main(["rollout", "--repo", str(repo), "--env", ENV]) == 0
        outputs.append(capsys.readouterr().out)
        if aliases(repo) == {ENV: "2"}:
            break
    assert aliases(repo) == {ENV: "2"}, "\n".join(outputs)
    assert any("advance: step 2/4: pause 1s" in o for o in outputs), outputs
    assert "promote: every step passed its analysis" in outputs[-1]

    edit(repo, "specs/models/iris-classifier.yaml", "C: 0.5", "C: 0.25", "iris: C 0.25")
    apply(repo)
    assert aliases(repo) == {ENV: "2", f"{ENV}-candidate": "3"}
    codes = []
    for round_ in range(4):
        time.sleep(0.6)
        from reconciler.monitor.request_log import Entry, FileSink, RequestLog

        log = RequestLog(FileSink(repo / ".reconciler"))
        for i in range(100):
            failed = i % 5 == 0
            log.append(
                Entry(
                    ENV,
                    MODEL,
                    f"s{round_}-{i}",
                    time.time(),
                    "3",
                    2.0,
                    tuple(COLUMNS[:3]),
                    [[None] * 3 if failed else [5.0, 3.0, 1.5]],
                    [None if failed else 0],
                    "boom" if failed else "",
                )
            )
        log.close()
        capsys.readouterr()
        codes.append(main(["rollout", "--repo", str(repo)]))
        if codes[-1] == 1:
            break
    out = capsys.readouterr().out
    assert codes == [0, 1], codes
    assert "abort: analysis failed 2 times (limit 1): error_rate 0.2 (<= 0.02) FAILED" in out, out
    assert aliases(repo) == {ENV: "2"}


def test_a_rollout_can_be_promoted_or_aborted_by_hand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo(tmp_path, monkeypatch, CANARY.replace("PAUSE", "1h"))
    edit(repo, "specs/models/iris-classifier.yaml", "C: 1.0", "C: 0.5", "iris: C 0.5")
    apply(repo)
    assert main(["rollout", "--repo", str(repo), "--promote", "wine-classifier"]) == 1
    assert "no rollout of 'wine-classifier' under way" in capsys.readouterr().err
    assert main(["rollout", "--repo", str(repo), "--promote", MODEL]) == 0
    assert "promoted by hand at step 1/4" in capsys.readouterr().out
    assert aliases(repo) == {ENV: "2"}
    assert ledger(repo)[-1]["event"] == "promoted"
    edit(repo, "specs/models/iris-classifier.yaml", "C: 0.5", "C: 0.25", "iris: C 0.25")
    apply(repo)
    assert main(["rollout", "--repo", str(repo), "--abort", MODEL]) == 0
    assert aliases(repo) == {ENV: "2"}
    plan = cli("plan", "--repo", str(repo))
    assert "aborted by hand" in plan.stdout, plan.stdout
