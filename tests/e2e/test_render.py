"""`reconciler render --target kserve`: manifests of what the aliases hold, checked against
KServe's InferenceService schema and by `kubectl kustomize`, byte-identical on a second run,
following promotions and rollbacks, compared with golden files."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from reconciler.cli import main
from tests.conftest import git_commit_all
from tests.e2e.conftest import SMALL_SPECS

HERE = Path(__file__).resolve().parent
CRD = HERE.parent / "kserve" / "serving.kserve.io_inferenceservices.yaml"
GOLDEN = HERE / "golden" / "kserve"


@pytest.fixture(scope="module")
def isvc_schema() -> dict[str, Any]:
    import yaml  # PyYAML's C loader: 1 s for the 2 MB CRD, where a pure-Python parse takes 20 s

    crd = yaml.load(CRD.read_text(), Loader=yaml.CSafeLoader)
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1beta1")
    return dict(version["schema"]["openAPIV3Schema"])


def snapshot(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): p.read_text() for p in sorted(out.rglob("*.yaml"))}


def render(repo: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[dict[str, str], str]:
    capsys.readouterr()
    assert main(["render", "--repo", str(repo), "--target", "kserve", *extra]) == 0
    return snapshot(repo / "deploy"), capsys.readouterr().out


def normalize(text: str, repo: Path) -> str:
    text = text.replace(str(repo), "<repo>")
    text = re.sub(r"\b[0-9a-f]{64}\b", "<fingerprint>", text)
    text = re.sub(r"\b[0-9a-f]{40}\b", "<commit>", text)
    text = re.sub(r"\b[0-9a-f]{16}\b", "<fingerprint16>", text)
    return re.sub(r"m-[0-9a-f]{32}", "m-<id>", text)


def test_render_follows_the_aliases_and_validates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], isvc_schema: dict[str, Any]
) -> None:
    import jsonschema

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    repo = tmp_path / "repo"
    for rel, text in SMALL_SPECS.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    git_commit_all(repo, "specs")
    subprocess.run(["git", "-C", str(repo), "remote", "add", "origin", "https://git.example.com/ml/models.git"])
    assert main(["apply", str(repo), "--jobs", "1"]) == 0
    first, out = render(repo, capsys, "--revision", "main")
    assert out == f"render: 12 files in {repo / 'deploy'} (12 written, 0 removed)\n"
    assert sorted(first) == [
        "argocd/dev.yaml",
        "argocd/production.yaml",
        "argocd/staging.yaml",
        *[
            f"{env}/{f}"
            for env in ("dev", "production", "staging")
            for f in ("iris-classifier.yaml", "kustomization.yaml", "wine-classifier.yaml")
        ],
    ]
    yaml = YAML(typ="safe")
    for text in first.values():
        doc = yaml.load(text)
        if doc["kind"] == "InferenceService":
            jsonschema.validate(doc, isvc_schema)
            assert doc["spec"]["predictor"]["model"]["storageUri"].startswith(f"file://{repo}/.reconciler/artifacts/")
            assert "canaryTrafficPercent" not in doc["spec"]["predictor"], "no rollout runs"
    for env in ("dev", "staging", "production"):
        built = subprocess.run(["kubectl", "kustomize", str(repo / "deploy" / env)], capture_output=True, text=True)
        assert built.returncode == 0, built.stderr
        docs = list(yaml.load_all(built.stdout))
        assert sorted(d["metadata"]["name"] for d in docs) == ["iris-classifier", "wine-classifier"]
        assert {d["metadata"]["namespace"] for d in docs} == {env}
    for rel in ("production/iris-classifier.yaml", "production/kustomization.yaml", "argocd/production.yaml"):
        golden = GOLDEN / rel.replace("/", "--")
        if os.environ.get("UPDATE_GOLDEN"):
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(normalize(first[rel], repo))
        assert normalize(first[rel], repo) == golden.read_text(), f"{golden} differs (UPDATE_GOLDEN=1 after review)"

    again, out = render(repo, capsys, "--revision", "main")
    assert again == first and out.endswith("(0 written, 0 removed)\n"), "byte-identical on a second run"
    git_commit_all(repo, "render: the manifests, committed for Argo CD")

    spec = repo / "specs" / "models" / "iris-classifier.yaml"
    spec.write_text(spec.read_text().replace("C: 1.0", "C: 0.5"))
    git_commit_all(repo, "iris: C 0.5")
    change = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    assert main(["apply", str(repo), "--jobs", "1"]) == 0
    promoted, out = render(repo, capsys, "--revision", "main")
    assert out.endswith("(3 written, 0 removed)\n"), "one InferenceService per environment changed"
    changed = sorted(rel for rel in first if promoted[rel] != first[rel])
    assert changed == [f"{env}/iris-classifier.yaml" for env in ("dev", "production", "staging")]
    assert "version: '2'" in promoted["production/iris-classifier.yaml"]
    git_commit_all(repo, "render: v2")

    subprocess.run(["git", "-C", str(repo), "revert", "--no-edit", change.strip()], check=True, capture_output=True)
    assert main(["apply", str(repo), "--jobs", "1"]) == 0
    reverted, _ = render(repo, capsys, "--revision", "main")
    assert reverted == first, "a revert restores the previous storageUri, byte for byte"

    production = repo / "environments" / "production.yaml"
    production.write_text(production.read_text().replace("  wine-classifier: {gates: [quality]}\n", ""))
    git_commit_all(repo, "production: no wine")
    assert main(["apply", str(repo), "--jobs", "1"]) in (0, 1)
    dropped, out = render(repo, capsys, "--env", "production", "--revision", "main")
    assert "production/wine-classifier.yaml" not in dropped and out.endswith("(1 written, 1 removed)\n")
    assert {rel: text for rel, text in dropped.items() if "production" not in rel} == {
        rel: text for rel, text in first.items() if "production" not in rel
    }, "other environments' files are left alone"


def test_render_outside_a_remote_says_what_to_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    repo = tmp_path / "repo"
    for rel, text in SMALL_SPECS.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    git_commit_all(repo, "specs")
    capsys.readouterr()
    assert main(["render", "--repo", str(repo), "--target", "kserve"]) == 0
    out, err = capsys.readouterr()
    assert "render: 0 files" in out, "nothing is deployed before the first apply"
    assert err.count("holds no version yet; not rendered") == 6
    assert main(["render", "--repo", str(repo), "--target", "kserve", "--env", "qa"]) == 1
    assert "no environment 'qa' in the specs" in capsys.readouterr().err
    shutil.rmtree(repo / ".reconciler", ignore_errors=True)
