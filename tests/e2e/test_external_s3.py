"""A Dataset in S3-compatible storage, pinned by object version, against a real S3 server on
127.0.0.1 (moto's server mode) with versioning on: the version trains, overwriting the key
trains nothing, `reconciler pin` moves the pin, a revert rolls back without training, and the
credentials in the environment appear nowhere."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Repo
from tests.e2e.external_data import deploy, iris, revert_rolls_back_without_training, rows_trained
from tests.s3_server import ACCESS_KEY, SECRET_KEY, S3Server, serve

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

DATASET = """# Iris, kept in the lake, not in git.
kind: Dataset
name: lake-iris
source:
  uri: s3://lake/iris.csv   # the endpoint and credentials come from the environment
target: target
split: {test_size: 0.3, seed: 7, stratify: true}
checks: {min_rows: 100}
"""


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    yield from serve(tmp_path_factory.mktemp("s3"))


def iris_csv(rows: int) -> bytes:
    out = io.StringIO()
    iris(rows).to_csv(out, index=False)
    return out.getvalue().encode()


def put(s3: S3Server, bucket: str, rows: int) -> str:
    client: Any = s3.client()
    return str(client.put_object(Bucket=bucket, Key="iris.csv", Body=iris_csv(rows))["VersionId"])


def lake_repo(repo: Repo, s3: S3Server, monkeypatch: pytest.MonkeyPatch, bucket: str) -> None:
    for key, value in s3.env.items():
        monkeypatch.setenv(key, value)
    client: Any = s3.client()
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    repo.write("specs/datasets/lake-iris.yaml", DATASET.replace("s3://lake/", f"s3://{bucket}/"))
    deploy(repo, "lake-classifier", "lake-iris")


def inputs_of(repo: Repo, model: str, version: str) -> list[Any]:
    client = repo.client()
    run = client.get_run(client.get_model_version(model, version).run_id)
    return list(run.inputs.dataset_inputs)


def everything_recorded(repo: Repo) -> str:
    """Every tag, param and dataset input the registry holds, as text."""
    client = repo.client()
    parts = []
    for mv in client.search_model_versions(max_results=1000):
        parts.append(json.dumps(mv.tags))
        run = client.get_run(mv.run_id)
        parts += [json.dumps(run.data.tags), json.dumps(run.data.params)]
        parts += [d.dataset.source + (d.dataset.profile or "") for d in run.inputs.dataset_inputs]
    return "\n".join(parts)


def test_an_s3_version_trains_overwrites_do_not_and_a_revert_rolls_back(
    repo: Repo, s3: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake_repo(repo, s3, monkeypatch, "lake")
    v1 = put(s3, "lake", 150)
    seen: list[str] = []

    code, out, err = repo.run_plain("pin", "lake-iris", "--repo", str(repo.path))
    seen.append(out + err)
    assert code == 0, out + err
    assert f"(unpinned) -> version_id {v1} (150 rows, contract passed)" in out
    spec = (repo.path / "specs/datasets/lake-iris.yaml").read_text()
    assert spec.startswith("# Iris, kept in the lake, not in git.")  # comments and layout kept
    assert "# the endpoint and credentials come from the environment" in spec
    assert f'version_id: "{v1}"' in spec and "sha256: " in spec
    repo.commit("the lake's iris, pinned")

    code, out = repo.apply()
    seen.append(out)
    assert code == 0, out
    assert repo.aliases()[("dev", "lake-classifier")] == "1"
    version = repo.client().get_model_version("lake-classifier", "1")
    content_hash = version.tags["reconciler.dataset_hash"]
    assert version.tags["reconciler.dataset_source"] == f"s3://lake/iris.csv?versionId={v1}"
    train, test = sorted(inputs_of(repo, "lake-classifier", "1"), key=lambda d: d.dataset.name, reverse=True)
    assert [t.value for t in train.tags] == ["training"] and [t.value for t in test.tags] == ["evaluation"]
    for item in (train, test):
        assert item.dataset.digest == content_hash[:32]
        assert json.loads(item.dataset.source)["uri"] == f"s3://lake/iris.csv?versionId={v1}"
    rows = [json.loads(d.dataset.profile)["num_rows"] for d in (train, test)]
    assert sum(rows) == 150 and rows[1] == 45

    # Someone overwrites the key: a new object version, and nothing retrains.
    v2 = put(s3, "lake", 120)
    plan = repo.plan()
    assert {a["kind"] for a in plan["actions"]} == {"noop"}
    # A new model on the same pin, with the download cache gone, still reads the pinned bytes.
    shutil.rmtree(repo.path / ".reconciler" / "cache" / "data")
    deploy(repo, "lake-classifier-2", "lake-iris", c=0.5)
    repo.commit("a second model on the lake's iris")
    code, out = repo.apply()
    seen.append(out)
    assert code == 0 and "1 trained" in out, out
    assert rows_trained(repo, "lake-classifier-2", "1") == 150

    # Moving the pin retrains exactly the models on that dataset, and the plan says why.
    code, out, err = repo.run_plain("pin", "lake-iris", "--latest", "--repo", str(repo.path))
    seen.append(out + err)
    assert code == 0 and f"version_id {v1[:16]} -> version_id {v2}" in out, out + err
    bump = repo.commit("lake-iris: the newest version")
    plan = repo.plan()
    trains = sorted(a["model"] for a in plan["actions"] if a["kind"] == "train")
    assert trains == ["lake-classifier", "lake-classifier-2"], plan["actions"]
    code, out, err = repo.run("plan")
    seen.append(out + err)
    assert f"dataset content changed (version_id {v1[:16]} -> version_id {v2[:16]})" in out, out
    code, out = repo.apply()
    seen.append(out)
    assert code == 0 and "2 trained" in out, out
    assert rows_trained(repo, "lake-classifier", "2") == 120

    # Reverting the bump rolls back by alias alone.
    revert_rolls_back_without_training(repo, bump, "lake-classifier", to="1")

    code, out, err = repo.run("status")
    seen.append(out + err)
    seen.append(json.dumps(repo.plan()))
    recorded = everything_recorded(repo)
    for secret in (SECRET_KEY, ACCESS_KEY):
        assert secret not in "\n".join(seen) and secret not in recorded


def test_bad_pins_and_an_unreachable_store_change_nothing(
    repo: Repo, s3: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake_repo(repo, s3, monkeypatch, "hostile")
    v1 = put(s3, "hostile", 150)
    spec_file = repo.path / "specs/datasets/lake-iris.yaml"
    assert repo.run_plain("pin", "lake-iris", "--repo", str(repo.path))[0] == 0
    repo.commit("pinned")
    code, out = repo.apply()
    assert code == 0, out
    before = (repo.version_count(), repo.aliases())
    pinned = spec_file.read_text()

    # A version that does not exist, and one that breaks the contract: refused, spec untouched.
    code, out, err = repo.run_plain("pin", "lake-iris", "--version", "no-such-version", "--repo", str(repo.path))
    assert code == 1 and "has no such version" in err and "Traceback" not in err, out + err
    put(s3, "hostile", 50)
    code, out, err = repo.run_plain("pin", "lake-iris", "--latest", "--repo", str(repo.path))
    assert code == 1 and "fails the data contract" in err and "50 rows, fewer than min_rows 100" in err, err
    assert spec_file.read_text() == pinned

    # A pin committed by hand that the store does not have: blocked with the reason.
    repo.write("specs/datasets/lake-iris.yaml", pinned.replace(v1, "0123-not-a-version"))
    repo.commit("a pin that does not exist")
    code, out = repo.apply()
    assert code == 1 and "has no such version" in out, out
    assert (repo.version_count(), repo.aliases()) == before

    # The right version, but the store cannot be reached: a clear error in seconds.
    v3 = put(s3, "hostile", 140)
    repo.write("specs/datasets/lake-iris.yaml", pinned.replace(v1, v3).replace("sha256:", "# sha256:"))
    repo.commit("a newer pin")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    code, out = repo.apply()
    assert code == 1 and "cannot reach the S3 endpoint" in out, out
    assert (repo.version_count(), repo.aliases()) == before
    assert SECRET_KEY not in out and ACCESS_KEY not in out
    assert not any(Path(p).name.endswith(".part") for p in (repo.path / ".reconciler").rglob("*"))


def test_validate_and_the_offline_plan_need_no_store_and_no_credentials(repo: Repo) -> None:
    """No endpoint, no credentials, nothing listening: the pin alone plans."""
    pinned = DATASET.replace("  uri: s3://lake/iris.csv", '  uri: s3://lake/iris.csv\n  version_id: "v-one"')
    repo.write("specs/datasets/lake-iris.yaml", pinned)
    deploy(repo, "lake-classifier", "lake-iris")
    repo.commit("pinned at v-one")
    repo.write("specs/datasets/lake-iris.yaml", pinned.replace("v-one", "v-two"))
    code, out, err = repo.run("validate")
    assert code == 0, out + err
    code, out, err = repo.run("plan", "--offline", "--base", "HEAD")
    assert code == 0, out + err
    assert "dataset content changed (version_id v-one -> version_id v-two)" in out, out
    assert "~ lake-classifier" in out and "= iris-classifier" in out
    assert "Plan: 1 to train, 1 to promote, 0 blocked." in out, out
