"""Each gate rule type passes a good model and stops a bad one, on a real MLflow store."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tests.e2e.conftest import Repo, make_repo


def groups_csv(n: int = 400) -> str:
    """y follows x for the majority group and the opposite for a 15% minority: a model that
    ignores `group` scores about 0.85 on average and close to 0 on the minority."""
    rnd = random.Random(3)
    rows = ["x,group,y"]
    for _ in range(n):
        x = round(rnd.random(), 4)
        group = 1 if rnd.random() < 0.15 else 0
        y = int(x > 0.5) if group == 0 else int(x <= 0.5)
        rows.append(f"{x},{group},{y}")
    return "\n".join(rows) + "\n"


def noise_csv(n: int = 400) -> str:
    """A target with no relation to the features (a shuffled target), 70/30 imbalanced."""
    rnd = random.Random(5)
    rows = ["a,b,y"] + [f"{rnd.random():.4f},{rnd.random():.4f},{int(rnd.random() < 0.3)}" for _ in range(n)]
    return "\n".join(rows) + "\n"


def tree(name: str, dataset: str, depth: int) -> str:
    return (
        f"kind: Model\nname: {name}\ndataset: {dataset}\nestimator:\n  class: sklearn.tree.DecisionTreeClassifier\n"
        f"  params: {{max_depth: {depth}}}\nseed: 1\nmetrics: [accuracy]\n"
    )


def toy_repo(path: Path, capsys: pytest.CaptureFixture[str], gate: str, models: dict[str, str]) -> Repo:
    files = {
        ".gitignore": ".reconciler/\n",
        "data/groups.csv": groups_csv(),
        "data/noise.csv": noise_csv(),
        "specs/datasets.yaml": (
            "kind: Dataset\nname: groups\nsource: {csv: data/groups.csv}\ntarget: y\nsplit: {test_size: 0.4, seed: 2}\n"
            "---\nkind: Dataset\nname: noise\nsource: {csv: data/noise.csv}\ntarget: y\n"
            "split: {test_size: 0.4, seed: 2}\n"
        ),
        "specs/gate.yaml": "kind: Gate\nname: g\n" + gate,
        "environments/dev.yaml": "kind: Environment\nname: dev\nmodels:\n"
        + "".join(f"  {m}: {{gates: [g]}}\n" for m in models),
    }
    files.update({f"specs/models/{m}.yaml": spec for m, spec in models.items()})
    return make_repo(path, files, capsys)


def verdict(repo: Repo, model: str, version: str = "1", env: str = "dev") -> dict[str, object]:
    mv = repo.client().get_model_version(model, version)
    return dict(json.loads(mv.tags[f"reconciler.gate.{env}"]))


def rules(v: dict[str, object]) -> list[tuple[object, ...]]:
    return [tuple(r) for r in v["rules"]]  # type: ignore[attr-defined]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def test_slice_rule_catches_a_model_that_fails_a_minority(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gate = (
        "rules:\n  - {metric: accuracy, min: 0.75}\n  - {metric: accuracy, min: 0.75, slice: {column: group, eq: 1}}\n"
    )
    repo = toy_repo(
        env / "r", capsys, gate, {"shallow": tree("shallow", "groups", 1), "deep": tree("deep", "groups", 4)}
    )
    code, out = repo.apply()
    assert code == 1
    aliases = repo.aliases()
    assert ("dev", "deep") in aliases and ("dev", "shallow") not in aliases
    average, minority = rules(verdict(repo, "shallow"))
    assert average[2] == "min" and average[6] is True, "the average alone would let it through"
    assert minority[1] == "accuracy [group == 1]" and minority[6] is False and float(minority[4]) < 0.5  # type: ignore[arg-type]
    assert "accuracy [group == 1]" in out


def test_baseline_rule_catches_a_model_trained_on_a_shuffled_target(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gate = "rules:\n  - {metric: accuracy, min: 0.55}\n  - {baseline: dummy, metric: accuracy, margin: 0.05}\n"
    repo = toy_repo(env / "r", capsys, gate, {"noise": tree("noise", "noise", 3), "good": tree("good", "groups", 4)})
    assert repo.apply()[0] == 1
    assert set(repo.aliases()) == {("dev", "good")}
    floor, baseline = rules(verdict(repo, "noise"))
    assert floor[6] is True, "an accuracy floor alone lets the noise model through"
    assert baseline[2] == "baseline_margin" and baseline[6] is False
    assert float(baseline[4]) < float(baseline[5]) + 0.05  # type: ignore[arg-type]
    good = rules(verdict(repo, "good"))[1]
    assert good[6] is True and float(good[4]) > float(good[5]) + 0.05  # type: ignore[arg-type]


def test_cost_rules_are_measured_recorded_and_enforced(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gate = (
        "rules:\n  - {cost: latency_p95_ms, max: 60000, batch: 200, repeats: 5}\n"
        "  - {cost: training_seconds, max: 600}\n  - {cost: model_size_kb, max: 100000}\n"
    )
    repo = toy_repo(env / "r", capsys, gate, {"deep": tree("deep", "groups", 4)})
    assert repo.apply()[0] == 0
    tags = repo.client().get_model_version("deep", "1").tags
    for key in ("cost.latency_p95_ms.b200.r5", "cost.training_seconds", "cost.model_size_kb"):
        assert float(tags[f"reconciler.metric.{key}"]) > 0
    latency, training, size = rules(verdict(repo, "deep"))
    assert latency[:3] == ("g", "latency_p95_ms", "cost_max") and latency[6] is True
    assert training[1] == "training_seconds" and training[6] is True
    assert size[1] == "model_size_kb" and size[6] is True

    repo.edit("specs/gate.yaml", "{cost: model_size_kb, max: 100000}", "{cost: model_size_kb, max: 0.001}")
    repo.edit("specs/gate.yaml", "max: 60000, batch: 200", "max: 0.000001, batch: 200")
    repo.commit("tiny size and latency budgets")
    plan = repo.plan()
    (evaluate,) = [a for a in plan["actions"] if a["kind"] == "evaluate"]
    assert evaluate["reason"] == "gates changed"
    code, out = repo.apply()
    assert code == 1 and "model_size_kb" in out and "<= 0.001" in out and "latency_p95_ms" in out
    code, md, _ = repo.run("plan", "--format", "markdown")
    assert code == 1 and "model_size_kb" in md, "the measured size is reported in the plan"


def test_max_and_relative_regression(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gate = "rules:\n  - {metric: accuracy, max_regression: 0.05, relative: true}\n"
    repo = toy_repo(env / "r", capsys, gate, {"m": tree("m", "groups", 4)})
    assert repo.apply()[0] == 0
    repo.edit("specs/models/m.yaml", "max_depth: 4", "max_depth: 1")
    repo.commit("shallower")
    code, out = repo.apply()
    assert code == 1 and "drop" in out and "> 5.00% (needs <= 5.00%)" in out
    assert repo.aliases()[("dev", "m")] == "1"
    repo.edit("specs/gate.yaml", "max_regression: 0.05, relative: true", "max_regression: 0.5, relative: true")
    repo.commit("looser")
    assert repo.apply()[0] == 0
    assert repo.aliases()[("dev", "m")] == "2"

    repo.edit(
        "specs/gate.yaml", "{metric: accuracy, max_regression: 0.5, relative: true}", "{metric: accuracy, max: 0.5}"
    )
    repo.commit("a ceiling the model exceeds")
    code, out = repo.apply()
    assert code == 1 and "(needs <= 0.5)" in out
    repo.edit("specs/gate.yaml", "max: 0.5", "max: 1.0")
    repo.commit("a ceiling it stays under")
    assert repo.apply()[0] == 0


def test_advisory_gate_reports_but_never_blocks(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gate = "enforcement: advisory\nrules:\n  - {metric: accuracy, min: 0.99}\n"
    repo = toy_repo(env / "r", capsys, gate, {"m": tree("m", "groups", 1)})
    code, out = repo.apply()
    assert code == 0
    assert "advisory failures: g: accuracy" in out and "(advisory)" in out
    assert repo.aliases()[("dev", "m")] == "1"
    v = verdict(repo, "m")
    assert v["passed"] is True and rules(v)[0][6] is False and rules(v)[0][8] is True


def test_gates_are_measured_on_the_estimator_just_trained_and_agree_with_the_registered_one(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh apply measures slices and the dummy baseline in the process that trained, without
    loading the model back; a later judgement loads it from the registry and gets the same values."""
    from reconciler.state.mlflow_store import MlflowStore

    loads: list[tuple[str, str]] = []
    real_load = MlflowStore.load_model

    def counting_load(self: MlflowStore, model: str, version: str) -> object:
        loads.append((model, version))
        return real_load(self, model, version)

    monkeypatch.setattr(MlflowStore, "load_model", counting_load)
    gate = (
        "rules:\n  - {metric: accuracy, min: 0.5, slice: {column: group, eq: 1}}\n"
        "  - {baseline: dummy, metric: accuracy, margin: 0.05}\n"
    )
    repo = toy_repo(env / "r", capsys, gate, {"deep": tree("deep", "groups", 4)})
    assert repo.apply()[0] == 0
    assert loads == []
    first = rules(verdict(repo, "deep"))

    repo.edit("specs/gate.yaml", "margin: 0.05", "margin: 0.06")  # new gates: judged again, in a new run
    client = repo.client()
    measured = [k for k in client.get_model_version("deep", "1").tags if k.startswith("reconciler.metric.slice.")]
    assert len(measured) == 1
    client.delete_model_version_tag("deep", "1", measured[0])  # so the new run has to measure it again
    repo.commit("margin 0.06")
    assert repo.apply()[0] == 0
    assert loads == [("deep", "1")]
    again = rules(verdict(repo, "deep"))
    assert again[0][4] == first[0][4], "the slice measured on the loaded model equals the in-process one"


def test_parity_rule_stops_a_model_whose_groups_score_apart(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The rule added as one module (reconciler/rules/parity.py) works end to end: measured as
    slices in the process that trained, recorded in the verdict, enforced on the alias."""
    gate = (
        "rules:\n  - {metric: accuracy, min: 0.75}\n"
        "  - parity: accuracy\n    groups: [{column: group, eq: 0}, {column: group, eq: 1}]\n    max_gap: 0.2\n"
    )
    repo = toy_repo(
        env / "r", capsys, gate, {"shallow": tree("shallow", "groups", 1), "deep": tree("deep", "groups", 4)}
    )
    code, out = repo.apply()
    assert code == 1
    assert set(repo.aliases()) == {("dev", "deep")}
    floor, parity = rules(verdict(repo, "shallow"))
    assert floor[6] is True, "the average alone would let it through"
    assert parity[1] == "accuracy gap [group == 0 | group == 1]" and parity[6] is False
    assert float(parity[4]) > 0.2  # type: ignore[arg-type]
    fair = rules(verdict(repo, "deep"))[1]
    assert fair[6] is True and float(fair[4]) <= 0.2  # type: ignore[arg-type]
    assert "accuracy gap [group == 0 | group == 1]" in out
    code, text, _ = repo.run("plan")
    assert code == 1
    assert "gates: g (accuracy >= 0.75, accuracy gap across 2 groups <= 0.2)" in text
    assert "failed gates: g: accuracy gap [group == 0 | group == 1] 1 > 0.2 (needs <= 0.2)" in text
