"""A registry edited by hand never moves an alias wrongly: forged verdicts, garbage leases and
planted ledger entries each end with a clear message (never an internal error), and the
registry is compared before and after."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.state.mlflow_store import LOCK_MODEL
from tests.e2e.conftest import Repo, actions
from tests.e2e.test_hostile import snapshot

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

KEY = "a-secret-from-ci"


def forge_version(repo: Repo, fingerprint: str, verdict_from: str, fmt: str = "skops") -> str:
    """Register a dummy model (0.33 accuracy on iris) by hand, with the fingerprint the specs
    want and every verdict tag copied from a version that passed."""
    import mlflow
    from sklearn.datasets import load_iris
    from sklearn.dummy import DummyClassifier

    client = repo.client()
    mlflow.set_tracking_uri(repo.uri)
    x, y = load_iris(return_X_y=True)
    with mlflow.start_run() as run:
        dummy = DummyClassifier(strategy="most_frequent").fit(x, y)
        extra = {"skops_trusted_types": ["sklearn.dummy.DummyClassifier"]} if fmt == "skops" else {}
        info = mlflow.sklearn.log_model(dummy, name="model", serialization_format=fmt, **extra)
    passing = client.get_model_version("iris-classifier", verdict_from)
    mv = client.create_model_version("iris-classifier", info.model_uri, run_id=run.info.run_id)
    for key, value in passing.tags.items():
        if key.startswith("reconciler.") and not key.startswith("reconciler.ledger."):
            client.set_model_version_tag("iris-classifier", mv.version, key, value)
    client.set_model_version_tag("iris-classifier", mv.version, "reconciler.fingerprint", fingerprint)
    return str(mv.version)


def test_a_forged_verdict_never_promotes_when_verdicts_are_signed(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILER_VERDICT_KEY", KEY)
    assert repo.apply()[0] == 0
    repo.commit_edit("specs/models/iris-classifier.yaml", "C: 1.0", "C: 0.5")
    (train,) = actions(repo.plan(), "train")
    forged = forge_version(repo, train["fingerprint"], "1")
    # The forged version's copied verdicts are set aside: the plan evaluates it instead of
    # promoting it on its word, and `status --check` says why.
    plan = repo.plan()
    assert actions(plan, "train") == []
    assert {a["to_version"] for a in actions(plan, "evaluate")} == {forged}
    code, out, _ = repo.run("status", "--check")
    assert code == 1 and f"iris-classifier v{forged}: reconciler.gate.production is not signed" in out
    code, out, err = repo.run("apply")  # (not repo.apply(): the forged tags still break the invariants)
    assert code == 1 and "accuracy 0.3" in out + err, out + err
    assert repo.aliases()[("production", "iris-classifier")] == "1"
    assert repo.aliases()[("dev", "iris-classifier")] == "1"
    verdict = json.loads(repo.client().get_model_version("iris-classifier", forged).tags["reconciler.gate.dev"])
    assert verdict["passed"] is False and "sig" in verdict  # measured for real, and signed
    # Its other forged verdicts stay set aside (and reported) until someone removes the version.
    repo.client().delete_model_version("iris-classifier", forged)


@pytest.mark.parametrize("fmt", ["cloudpickle", "pickle"])
def test_a_version_registered_by_hand_is_never_unpickled(repo: Repo, monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    monkeypatch.setenv("RECONCILER_VERDICT_KEY", KEY)
    assert repo.apply()[0] == 0
    repo.commit_edit("specs/models/iris-classifier.yaml", "C: 1.0", "C: 0.5")
    (train,) = actions(repo.plan(), "train")
    forged = forge_version(repo, train["fingerprint"], "1", fmt)
    code, out, err = repo.run("apply")
    assert code == 1
    assert f"v{forged} of 'iris-classifier' is stored as {fmt}; the reconciler loads only skops models" in out + err
    assert "internal error" not in out + err
    assert repo.aliases()[("production", "iris-classifier")] == "1"
    repo.client().delete_model_version("iris-classifier", forged)


def test_a_signed_verdict_replayed_onto_another_version_is_not_trusted(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECONCILER_VERDICT_KEY", KEY)
    assert repo.apply()[0] == 0
    client = repo.client()
    good = client.get_model_version("wine-classifier", "1").tags["reconciler.gate.production"]
    client.set_model_version_tag("iris-classifier", "1", "reconciler.gate.production", good)
    code, out, _ = repo.run("status", "--check")
    assert code == 1 and "iris-classifier v1: reconciler.gate.production is not signed" in out
    # Signed verdicts written without the key are untrusted once a key is set, and
    # re-evaluated (not retrained) by the next apply.
    monkeypatch.setenv("RECONCILER_VERDICT_KEY", "another-key")
    plan = repo.plan()
    assert actions(plan, "train") == [] and len(actions(plan, "evaluate")) == 6  # 2 models x 3 environments
    assert repo.apply()[0] == 0
    assert actions(repo.plan(), "evaluate") == []


@pytest.mark.parametrize("expires", ["inf", "nan", "-inf", "garbage", "1e300", ""])
def test_a_garbage_lease_neither_locks_forever_nor_crashes(repo: Repo, expires: str) -> None:
    assert repo.apply()[0] == 0
    repo.client().create_registered_model(
        LOCK_MODEL, tags={"token": "t", "holder": "evil\n::error::x", "acquired": "1", "expires": expires}
    )
    code, out, err = repo.run("apply")
    assert code == 0, out + err
    assert "internal error" not in out + err and "Traceback" not in out + err
    repo.client().create_registered_model(
        LOCK_MODEL, tags={"token": "t", "holder": "h", "acquired": "nan", "expires": expires}
    )
    code, out, err = repo.run("unlock")
    assert code == 0 and "removed the lock" in out, out + err


PLANTED = {
    "reconciler.ledger.000900": "{not json",
    "reconciler.ledger.000901": json.dumps({"env": ["production"], "to": "1"}),
    "reconciler.ledger.000902": json.dumps({"env": "production", "to": 7}),
    "reconciler.ledger.000903": json.dumps([1, 2]),
    "reconciler.ledger.000904": json.dumps({"env": "nowhere", "to": "1", "reason": "x\n::error::pwned"}),
    "reconciler.ledger." + "9" * 40: json.dumps({"env": "production", "to": "1"}),
    "reconciler.ledger.-5": json.dumps({"env": "production", "to": "1"}),
    "reconciler.ledger.abc": json.dumps({"env": "production", "to": "1"}),
}


def test_planted_ledger_entries_are_skipped_and_every_command_still_answers(repo: Repo) -> None:
    assert repo.apply()[0] == 0
    client = repo.client()
    for key, value in PLANTED.items():
        client.set_registered_model_tag("iris-classifier", key, value)
    for argv in (("plan",), ("status",), ("history", "iris-classifier"), ("status", "--check")):
        code, out, err = repo.run(*argv)
        assert "internal error" not in out + err and "Traceback" not in out + err, argv
        assert code in (0, 1), (argv, out, err)
    repo.commit_edit("specs/models/iris-classifier.yaml", "C: 1.0", "C: 0.5")
    code, out = repo.apply()
    assert code == 0, out
    assert repo.aliases()[("production", "iris-classifier")] == "2"


def test_a_ledger_planted_at_the_end_of_numbers_is_a_clear_error(repo: Repo) -> None:
    assert repo.apply()[0] == 0
    repo.client().set_registered_model_tag(
        "iris-classifier", "reconciler.ledger.999999999", json.dumps({"env": "dev", "to": "1"})
    )
    repo.commit_edit("specs/models/iris-classifier.yaml", "C: 1.0", "C: 0.5")
    before_aliases = repo.aliases()
    code, out, err = repo.run("apply")
    assert code == 1
    assert "was set by hand; delete it, then apply again" in out + err
    assert "internal error" not in out + err
    assert repo.aliases()[("production", "iris-classifier")] == before_aliases[("production", "iris-classifier")]


def test_helpers_compare_whole_registries(repo: Repo) -> None:
    assert repo.apply()[0] == 0
    assert snapshot(repo.uri) == snapshot(repo.uri)
    assert Path(repo.path).is_dir()


def crafted_commit(repo: Repo, entries: list[tuple[str, str, bytes]]) -> str:
    """A commit whose root tree holds exactly `entries` (mode, name, object id), written with
    git's plumbing: git would never produce names like '..' itself."""
    import subprocess

    body = b"".join(
        mode.encode() + b" " + name.encode() + b"\0" + bytes.fromhex(oid.decode()) for mode, name, oid in entries
    )

    tree = (
        subprocess.run(
            ["git", "hash-object", "-t", "tree", "-w", "--literally", "--stdin"],
            input=body,
            cwd=repo.path,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .strip()
    )
    return subprocess.run(
        ["git", "commit-tree", tree, "-m", "crafted"], cwd=repo.path, capture_output=True, check=True, text=True
    ).stdout.strip()


@pytest.mark.parametrize("name", ["..", ".git"])
def test_a_pin_to_a_crafted_tree_is_a_clear_error_and_writes_nothing_outside(repo: Repo, name: str) -> None:
    import subprocess

    assert repo.apply()[0] == 0
    blob = subprocess.run(
        ["git", "hash-object", "-w", "--stdin"],
        input=b"kind: Dataset\n",
        cwd=repo.path,
        capture_output=True,
        check=True,
    ).stdout.strip()
    inner = subprocess.run(
        ["git", "hash-object", "-t", "tree", "-w", "--literally", "--stdin"],
        input=b"100644 escaped.yaml\0" + bytes.fromhex(blob.decode()),
        cwd=repo.path,
        capture_output=True,
        check=True,
    ).stdout.strip()
    sha = crafted_commit(repo, [("40000", name, inner)])
    repo.edit(
        "environments/production.yaml",
        "  iris-classifier: {gates: [quality]}",
        # Quoted: a sha prefix of digits alone (one in ~300) would be read by YAML as a number.
        f"  iris-classifier: {{gates: [quality], pin: '{sha[:12]}'}}",
    )
    repo.commit("production pinned to a crafted commit")
    before = snapshot(repo.uri)
    code, out, err = repo.run("plan")
    assert code == 1, out + err
    assert f"revision '{sha[:12]}'" in err and "cannot be exported" in err and f"'tree/{name}'" in err, err
    assert "internal error" not in out + err
    assert not list((repo.path / ".reconciler").rglob("escaped.yaml")), "nothing was written outside the export"
    assert snapshot(repo.uri) == before
