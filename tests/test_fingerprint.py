"""Fingerprints: descriptive edits never change them; training inputs always do."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.canonical import canonical_json
from reconciler.desired.fingerprint import fingerprint, fingerprints
from reconciler.spec.kinds import Dataset, Model
from reconciler.spec.loader import load_repo
from reconciler.spec.resolve import ResolvedModel
from reconciler.spec.yaml_source import parse_text
from tests.conftest import ROOT

RESERVED = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "inf", "nan"}
words = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(lambda w: w not in RESERVED)
scalars = st.one_of(
    st.integers(-1000, 1000),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    words,
)
params_strategy = st.dictionaries(words, scalars, max_size=6)
texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=30)


class StaticHasher:
    def __init__(self, table: dict[str, str]) -> None:
        self.table = table

    def content_hash(self, dataset: Dataset) -> str:
        return self.table[dataset.name]


DATASET = Dataset.model_validate(
    {
        "kind": "Dataset",
        "name": "iris",
        "source": {"sklearn": "load_iris"},
        "target": "target",
        "split": {"test_size": 0.25, "seed": 7, "stratify": True},
    }
)


def model_dict(params: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "kind": "Model",
        "name": "m",
        "dataset": "iris",
        "estimator": {"class": "sklearn.linear_model.LogisticRegression", "params": params},
        "seed": 3,
        "metrics": ["accuracy"],
        **extra,
    }


def fp(model: dict[str, Any], dataset: Dataset = DATASET, content: str = "c0") -> str:
    resolved = ResolvedModel("dev", Model.model_validate(model), dataset, ())
    return fingerprint(resolved, content)


# --- a tiny YAML writer with random styling ----------------------------------------------


def emit_scalar(value: Any, rnd: random.Random) -> str:
    if value is None:
        return rnd.choice(["null", "~"])
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    style = rnd.randrange(3)
    if style == 0 and value and value.lower() not in RESERVED and value[0].isalpha() and value.isidentifier():
        return str(value)
    if style == 1:
        return "'" + str(value).replace("'", "''") + "'"
    return json.dumps(value, ensure_ascii=rnd.random() < 0.5)


def emit(value: Any, rnd: random.Random, indent: int = 0) -> str:
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return " {}"
        items = list(value.items())
        rnd.shuffle(items)
        if rnd.random() < 0.3 and all(not isinstance(v, (dict, list)) for _, v in items):
            return " {" + ", ".join(f"{emit_scalar(k, rnd)}: {emit_scalar(v, rnd)}" for k, v in items) + "}"
        lines = []
        for k, v in items:
            comment = f"  # {rnd.choice(['why', 'tuned', 'see PR'])}" if rnd.random() < 0.3 else ""
            if isinstance(v, (dict, list)) and v:
                body = emit(v, rnd, indent + 2)
                if body.startswith("\n"):
                    lines.append(f"{pad}{emit_scalar(k, rnd)}:{comment}{body}")
                else:  # flow style stays on the key's line, before any comment
                    lines.append(f"{pad}{emit_scalar(k, rnd)}:{body}{comment}")
            else:
                body = emit(v, rnd, indent + 2) if isinstance(v, (dict, list)) else " " + emit_scalar(v, rnd)
                lines.append(f"{pad}{emit_scalar(k, rnd)}:{body}{comment}")
        return "\n" + "\n".join(lines) if indent else "\n".join(lines)
    if isinstance(value, list):
        if not value:
            return " []"
        if rnd.random() < 0.5:
            return " [" + ", ".join(emit_scalar(v, rnd) for v in value) + "]"
        return "\n" + "\n".join(f"{pad}- {emit_scalar(v, rnd)}" for v in value)
    return " " + emit_scalar(value, rnd)


def reparse(model: dict[str, Any], seed: int) -> dict[str, Any]:
    rnd = random.Random(seed)
    text = ("# leading comment\n" if rnd.random() < 0.5 else "") + emit(model, rnd) + "\n"
    parsed = parse_text(text, "x.yaml")
    assert not parsed.diagnostics, (text, parsed.diagnostics)
    data = parsed.documents[0].data
    assert isinstance(data, dict)
    return data


@settings(max_examples=150, deadline=None)
@given(
    params=params_strategy,
    seed=st.integers(0, 2**32),
    description=texts,
    owner=texts,
    tags=st.dictionaries(words, texts, max_size=3),
)
def test_styling_and_descriptive_fields_never_change_the_fingerprint(
    params: dict[str, Any], seed: int, description: str, owner: str, tags: dict[str, str]
) -> None:
    plain = model_dict(params)
    styled = reparse(model_dict(params, description=description, owner=owner, tags=tags), seed)
    assert fp(styled) == fp(plain)


@settings(max_examples=150, deadline=None)
@given(params=params_strategy, name=words, old=scalars, new=scalars)
def test_any_param_change_changes_the_fingerprint(params: dict[str, Any], name: str, old: Any, new: Any) -> None:
    if canonical_json(old) == canonical_json(new):
        return
    before = {**params, name: old}
    after = {**params, name: new}
    assert fp(model_dict(before)) != fp(model_dict(after))


@settings(max_examples=50, deadline=None)
@given(
    params=params_strategy,
    seed=st.integers(0, 2**32 - 1),
    test_size=st.floats(0.05, 0.95),
    content=st.text("0123456789abcdef", min_size=8, max_size=8),
)
def test_training_inputs_change_the_fingerprint(
    params: dict[str, Any], seed: int, test_size: float, content: str
) -> None:
    base = fp(model_dict(params))
    if seed != 3:
        assert fp({**model_dict(params), "seed": seed}) != base
    if content != "c0":
        assert fp(model_dict(params), content=content) != base
    split = DATASET.split.model_copy(update={"test_size": test_size})
    if test_size != 0.25:
        assert fp(model_dict(params), DATASET.model_copy(update={"split": split})) != base
    other = model_dict(params)
    other["estimator"] = {**other["estimator"], "class": "sklearn.svm.SVC"}
    assert fp(other) != base


def test_integral_floats_equal_ints_but_bools_do_not() -> None:
    assert fp(model_dict({"C": 1})) == fp(model_dict({"C": 1.0}))
    assert fp(model_dict({"fit_intercept": True})) != fp(model_dict({"fit_intercept": 1}))


def test_dataset_location_is_not_an_input() -> None:
    moved = DATASET.model_copy(update={"description": "moved", "source": {"csv": "data/iris.csv"}})
    assert fp(model_dict({})) == fp(model_dict({}), moved)
    changed_target = DATASET.model_copy(update={"target": "species"})
    assert fp(model_dict({})) != fp(model_dict({}), changed_target)


EXAMPLE_PROBE = """
import json
from pathlib import Path
from reconciler.desired.fingerprint import fingerprints
from reconciler.spec.loader import load_repo
class H:
    def content_hash(self, dataset):
        return 'content-of-' + dataset.name
result = load_repo(Path({root!r}))
fps = fingerprints(result.desired.resolved, H())
print(json.dumps(sorted([list(k), v] for k, v in fps.items())))
"""


def test_example_fingerprints_are_stable_across_processes() -> None:
    outputs = set()
    for hash_seed in ("0", "1", "12345"):
        result = subprocess.run(
            [sys.executable, "-c", EXAMPLE_PROBE.format(root=str(ROOT))],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": hash_seed, "PATH": ""},
        )
        outputs.add(result.stdout)
    assert len(outputs) == 1
    fps = dict((tuple(k), v) for k, v in json.loads(outputs.pop()))
    # Same spec in every environment -> one version promoted through all of them.
    assert fps[("dev", "iris-classifier")] == fps[("production", "iris-classifier")]
    # Production's override trains a different forest.
    assert fps[("dev", "breast-cancer-classifier")] != fps[("production", "breast-cancer-classifier")]
    assert fps[("dev", "iris-classifier")] == GOLDEN_IRIS


# Pinned on purpose: if this changes, every deployed model retrains. Change it only together
# with TRAINING_CODE_VERSION, deliberately.
GOLDEN_IRIS = "d37bf8cb0fb1abb44bae70dd02f296afc23cfcdd196aaec9529119f97c411bb6"


def test_fingerprints_hash_each_dataset_once() -> None:
    calls: list[str] = []

    class Counting:
        def content_hash(self, dataset: Dataset) -> str:
            calls.append(dataset.name)
            return "x"

    fingerprints(load_repo(ROOT).desired.resolved, Counting())
    assert sorted(calls) == ["breast-cancer", "breast-cancer-mixed", "diabetes", "iris", "wine"]
