from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.spec.schema import schemas
from tests.conftest import ROOT


def test_committed_schemas_match_the_models() -> None:
    for name, doc in schemas().items():
        committed = json.loads((ROOT / "schemas" / f"{name}.schema.json").read_text())
        assert committed == doc, f"schemas/{name}.schema.json is stale: run `reconciler schema --out schemas`"


def test_schema_command_writes_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "--out", str(tmp_path)]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f"{k}.schema.json" for k in ("dataset", "environment", "gate", "model", "policy", "spec")]
    model = json.loads((tmp_path / "model.schema.json").read_text())
    assert model["additionalProperties"] is False
    assert set(model["required"]) >= {"kind", "name", "dataset", "estimator", "metrics"}
    capsys.readouterr()
    assert main(["schema"]) == 0
    combined = json.loads(capsys.readouterr().out)
    assert combined["$id"].endswith("spec.schema.json")


def test_every_example_spec_names_its_schema() -> None:
    for path in sorted(
        [*ROOT.glob("specs/**/*.yaml"), *ROOT.glob("environments/*.yaml"), *ROOT.glob("policies/*.yaml")]
    ):
        first = path.read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), path
        target = (path.parent / first.split("=", 1)[1]).resolve()
        assert target.is_file(), f"{path}: schema {target} does not exist"
        kind = next(line.split(":", 1)[1].strip() for line in path.read_text().splitlines() if line.startswith("kind:"))
        assert target.name == f"{kind.lower()}.schema.json", path
