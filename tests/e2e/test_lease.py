"""Every registry write is fenced by the lease, with real processes on both backends: a run
whose lease is lost (renewals failing, or frozen past it with SIGSTOP) stops before its next
write, previews and partial applies take the same lock, and whatever runs at once, each
fingerprint has one version and every alias sits on a version that passed its gates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reconciler.state.invariants import violations
from reconciler.state.mlflow_store import MlflowStore
from tests.conftest import ROOT
from tests.e2e.conftest import SMALL_SPECS, Repo, make_repo

LOST = "lost the registry lock"


def spawn(repo: Repo, *argv: str, **env: str) -> subprocess.Popen[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "RECONCILER_"))}
    if repo.server_uri:
        base["MLFLOW_TRACKING_URI"] = repo.server_uri
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler", argv[0], str(repo.path), *argv[1:]],
        cwd=ROOT,
        env={**base, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: object, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def lock_held(repo: Repo) -> bool:
    if not repo.server and not (repo.path / ".reconciler" / "mlflow.db").exists():
        return False
    try:
        return MlflowStore(repo.uri).read_lock() is not None
    except Exception:
        return False  # the store is still being created by the process under test


def stopped(process: subprocess.Popen[str]) -> bool:
    if process.poll() is not None:
        out, err = process.communicate()
        raise AssertionError(f"exited with {process.returncode} instead of freezing: {out}{err}")
    stat = Path(f"/proc/{process.pid}/stat").read_text()
    return stat[stat.rindex(")") + 2] == "T"


def one_version_per_fingerprint(repo: Repo) -> None:
    versions = repo.client().search_model_versions(max_results=1000)
    keys = [(v.name, v.tags["reconciler.fingerprint"]) for v in versions]
    assert len(keys) == len(set(keys)), sorted(keys)
    assert violations(MlflowStore(repo.uri).read()) == []


@pytest.fixture
def sqlite_repo(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Repo:
    """The lock's own logic is the same on both backends; the runs that race on a server are
    the SIGSTOP and the all-at-once tests below."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return make_repo(tmp_path / "repo", SMALL_SPECS, capsys)


def test_a_run_whose_renewals_fail_stops_and_the_next_one_converges(sqlite_repo: Repo) -> None:
    repo = sqlite_repo
    first = spawn(repo, "apply", RECONCILER_FAIL_AT="lock:renew", RECONCILER_LOCK_LEASE_SECONDS="1.5")
    wait_for(lambda: lock_held(repo) or first.poll() is not None, "the first apply to take the lock")
    second = spawn(repo, "apply", RECONCILER_LOCK_LEASE_SECONDS="1.5")
    out1, err1 = first.communicate(timeout=300)
    out2, err2 = second.communicate(timeout=300)
    assert first.returncode == 1, out1 + err1
    assert LOST in err1 and "Traceback" not in err1
    assert second.returncode == 0, out2 + err2
    one_version_per_fingerprint(repo)
    assert len(repo.aliases()) == 6


def test_an_apply_frozen_past_its_lease_stops_when_resumed(repo: Repo) -> None:
    first = spawn(repo, "apply", RECONCILER_STOP_AT="store:after-register", RECONCILER_LOCK_LEASE_SECONDS="2")
    try:
        wait_for(lambda: stopped(first), "the first apply to freeze after registering a version")
        second = spawn(repo, "apply", RECONCILER_LOCK_LEASE_SECONDS="2")
        out2, err2 = second.communicate(timeout=300)
        assert second.returncode == 0, out2 + err2
        assert "expired" in out2 and "taking over" in out2
    finally:
        os.kill(first.pid, signal.SIGCONT)
    out1, err1 = first.communicate(timeout=300)
    assert first.returncode == 1, out1 + err1
    assert LOST in err1
    one_version_per_fingerprint(repo)
    assert len(repo.aliases()) == 6
    assert repo.run("status", "--check")[0] == 0


def test_a_dead_holder_on_this_host_is_taken_over_at_once(sqlite_repo: Repo) -> None:
    repo = sqlite_repo
    killed = spawn(repo, "apply", RECONCILER_KILL_AT="lock:after-acquire")
    killed.communicate(timeout=300)
    assert killed.returncode == -signal.SIGKILL
    assert lock_held(repo), "the killed run left its lock (a 60 s lease) behind"
    start = time.monotonic()
    code, out = repo.apply()
    assert code == 0, out
    assert "is no longer running on this host; taking over" in out
    assert time.monotonic() - start < 50, "did not wait out the 60 s lease"


def test_previews_applies_and_a_train_job_at_once_never_train_twice(repo: Repo) -> None:
    lossy = spawn(repo, "apply", RECONCILER_FAIL_AT="lock:renew", RECONCILER_LOCK_LEASE_SECONDS="1.5")
    wait_for(lambda: lock_held(repo) or lossy.poll() is not None, "the first apply to take the lock")
    others = [
        spawn(repo, "plan", "--preview"),
        spawn(repo, "plan", "--preview"),
        spawn(repo, "apply"),
        spawn(repo, "apply"),
        spawn(repo, "apply", "--only", "train:*"),
    ]
    out, err = lossy.communicate(timeout=600)
    assert lossy.returncode == 1 and LOST in err, out + err
    for process in others:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, out + err
    one_version_per_fingerprint(repo)
    assert len(repo.aliases()) == 6
    assert repo.run("status", "--check")[0] == 0
    assert repo.run("plan", "--detailed-exitcode")[0] == 0
