"""Two applies at once, with real processes: one waits, nothing is trained twice."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ROOT
from tests.e2e.conftest import Repo


def spawn(repo: Repo, *extra: str, path: Path | None = None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    if repo.server_uri:
        env["MLFLOW_TRACKING_URI"] = repo.server_uri
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", str(path or repo.path), *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_concurrent_applies_train_each_fingerprint_once(repo: Repo, tmp_path: Path) -> None:
    other = repo.path
    if repo.server:
        # Two runners on two machines: separate checkouts that share only the server's URI.
        other = tmp_path / "second-runner"
        subprocess.run(["git", "clone", "-q", str(repo.path), str(other)], check=True)
    first, second = spawn(repo), spawn(repo, path=other)  # a brand-new store, created by both at once
    outs = [p.communicate(timeout=300) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outs
    text = "".join(o + e for o, e in outs)
    assert "lock: waiting for" in text
    assert "Nothing to do" in text, "the second apply found the work done"
    versions = repo.client().search_model_versions(max_results=100)
    fingerprints = [v.tags["reconciler.fingerprint"] for v in versions]
    assert len(fingerprints) == 2 and len(set(fingerprints)) == 2
    assert "reconciler.lock" not in {rm.name for rm in repo.client().search_registered_models()}


def take_lock(repo: Repo, expires_in: float) -> None:
    from reconciler.state.mlflow_store import Lease, MlflowStore

    (repo.path / ".reconciler").mkdir(exist_ok=True)
    store = MlflowStore(repo.uri)
    now = time.time()
    assert store.try_lock(Lease("other-token", "ci@runner-7 pid 42", now - 100, now + expires_in)) is None


def test_a_held_lock_makes_apply_wait_then_give_up_naming_the_holder(repo: Repo) -> None:
    take_lock(repo, expires_in=3600)
    code, out, err = repo.run("apply", "--lock-timeout", "1")
    assert code == 1
    assert "the registry is locked by ci@runner-7 pid 42" in err and "reconciler unlock" in err
    assert repo.client().search_model_versions(max_results=10) == []

    code, out, _ = repo.run_plain("unlock", str(repo.path))
    assert code == 0 and "removed the lock of ci@runner-7 pid 42" in out
    assert repo.apply()[0] == 0


def test_an_expired_lease_does_not_lock_the_registry_forever(repo: Repo) -> None:
    take_lock(repo, expires_in=-1)  # its holder died (a cancelled CI run) and stopped renewing
    code, out = repo.apply()
    assert code == 0
    assert "lease of ci@runner-7 pid 42 expired" in out
    assert len(repo.aliases()) == 6
