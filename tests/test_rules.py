"""Gate rule types through their registry (reconciler.rules), as pure functions on data; the
parity rule, added as one module, is exercised everywhere a rule type is read."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from reconciler.gates import measures
from reconciler.gates.evaluate import evaluate
from reconciler.policy.change import loosened
from reconciler.rules import RULE_TYPES, rule_type
from reconciler.rules.metric import metric_key
from reconciler.rules.parity import ParityRule
from reconciler.spec.catalog import load_catalog
from reconciler.spec.kinds import Gate, Slice
from reconciler.spec.semantics import check_gate

A = Slice.model_validate({"column": "sex", "eq": 0})
B = Slice.model_validate({"column": "sex", "eq": 1})


def gate(*rules: dict[str, object], name: str = "fair") -> Gate:
    return Gate.model_validate({"kind": "Gate", "name": name, "rules": list(rules)})


PARITY = {"parity": "accuracy", "groups": [{"column": "sex", "eq": 0}, {"column": "sex", "eq": 1}], "max_gap": 0.05}


def test_every_registered_type_has_its_own_subject_and_spec() -> None:
    assert len({t.subject for t in RULE_TYPES}) == len(RULE_TYPES)
    assert len({t.spec for t in RULE_TYPES}) == len(RULE_TYPES)
    for t in RULE_TYPES:
        assert t.subject in t.spec.model_fields, f"{t.spec.__name__} has no field named after its subject"


def test_a_parity_rule_parses_from_a_gate_and_finds_its_type() -> None:
    rule = gate(PARITY).rules[0]
    assert isinstance(rule, ParityRule)
    assert rule_type(rule).subject == "parity"
    assert measures.describe_rule(rule) == "accuracy gap across 2 groups <= 0.05"


def test_parity_measures_each_group_as_a_slice_shared_with_metric_rules() -> None:
    g = gate(PARITY, {"metric": "accuracy", "min": 0.7, "slice": {"column": "sex", "eq": 1}})
    assert measures.keys([g]) == {metric_key("accuracy", A), metric_key("accuracy", B)}
    assert measures.regression_keys([g]) == set()


def test_parity_passes_a_small_gap_and_fails_a_large_one() -> None:
    g = gate(PARITY)
    fair = evaluate("dev", [g], {metric_key("accuracy", A): 0.91, metric_key("accuracy", B): 0.88}, None)
    unfair = evaluate("dev", [g], {metric_key("accuracy", A): 0.95, metric_key("accuracy", B): 0.60}, None)
    assert fair.passed and not unfair.passed
    (result,) = unfair.rules
    assert result.value == pytest.approx(0.35) and result.threshold == 0.05
    assert result.describe() == "accuracy gap [sex == 0 | sex == 1] 0.35 > 0.05 (needs <= 0.05)"


def test_parity_fails_closed_when_a_group_was_not_measured() -> None:
    verdict = evaluate("dev", [gate(PARITY)], {metric_key("accuracy", A): 0.9}, None)
    assert not verdict.passed
    assert verdict.rules[0].describe().startswith("accuracy gap [sex == 0 | sex == 1] missing")


@given(st.lists(st.floats(0, 1), min_size=2, max_size=5), st.floats(0, 1))
def test_parity_passes_exactly_when_the_spread_is_within_the_gap(values: list[float], gap: float) -> None:
    groups = [{"column": "g", "eq": i} for i in range(len(values))]
    g = gate({"parity": "accuracy", "groups": groups, "max_gap": gap})
    measured = {metric_key("accuracy", Slice.model_validate(s)): v for s, v in zip(groups, values, strict=True)}
    assert evaluate("dev", [g], measured, None).passed == (max(values) - min(values) <= gap)


def test_parity_is_validated_with_the_other_rules() -> None:
    bad = gate({**PARITY, "parity": "acuracy", "groups": [PARITY["groups"][0], PARITY["groups"][0]]})  # type: ignore[index]
    problems = [(p.path, p.message) for p in check_gate(bad, load_catalog())]
    assert (("rules", 0, "parity"), "unknown scorer 'acuracy'; did you mean 'accuracy'?") in problems
    assert (("rules", 0, "groups", 1), "group 'sex == 0' is listed twice") in problems
    with pytest.raises(ValidationError, match="at least 2"):
        gate({**PARITY, "groups": [PARITY["groups"][0]]})  # type: ignore[index]


def test_a_raised_gap_is_a_loosened_gate_for_policies() -> None:
    before, after = gate(PARITY), gate({**PARITY, "max_gap": 0.2})
    assert loosened([before], [after]) == [
        {"gate": "fair", "rule": "accuracy gap across 2 groups <= 0.05", "field": "max_gap", "from": 0.05, "to": 0.2}
    ]
    assert loosened([after], [before]) == []
    regrouped = gate({**PARITY, "groups": [{"column": "sex", "eq": 0}, {"column": "age", "gt": 40}]})
    assert loosened([before], [regrouped])[0]["field"] == "rule", "other groups: the old rule is gone"


def test_a_mapping_with_two_subjects_is_read_as_the_rule_that_names_the_other() -> None:
    rule = gate({"baseline": "dummy", "metric": "accuracy"}).rules[0]
    assert rule_type(rule).subject == "baseline"
    with pytest.raises(ValidationError, match="a rule needs one of: metric, cost, baseline, parity"):
        gate({"threshold": 1})
