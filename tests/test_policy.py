"""Policies: the sandbox holds, each shipped policy blocks its violation and passes the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.cli import main
from reconciler.plan.model import Action, Kind
from reconciler.policy.change import loosened
from reconciler.policy.check import check
from reconciler.policy.context import spec_context
from reconciler.policy.plan_context import plan_context
from reconciler.policy.sandbox import PolicySyntaxError, compile_expression
from reconciler.spec.kinds import Gate, Policy
from reconciler.spec.loader import load_repo
from tests.conftest import ROOT

DESIRED = load_repo(ROOT).desired
SHIPPED = dict(DESIRED.specs.policies)


def context(env_name: str = "production", model_name: str = "iris-classifier", **changes: Any) -> dict[str, Any]:
    resolved = DESIRED.resolved[(env_name, model_name)]
    ctx = spec_context(resolved, DESIRED.specs.environments[env_name])
    for key, value in changes.items():
        if key in ("model", "environment") and isinstance(value, dict):
            ctx[key] = {**ctx[key], **value}
        else:
            ctx[key] = value
    return ctx


def violations(name: str, ctx: dict[str, Any], env: str = "production", stage: str = "plan") -> list[str]:
    return [v.message for v in check([SHIPPED[name]], env, "iris-classifier", ctx, stage=stage)]


def policy(require: str, **extra: Any) -> Policy:
    return Policy.model_validate({"kind": "Policy", "name": "p", "require": require, **extra})


def test_shipped_policies_pass_on_the_examples() -> None:
    assert set(SHIPPED) == {
        "owner-required",
        "gates-where-promoted",
        "production-requires-staging",
        "no-lowered-gates-with-model-change",
        "production-estimators",
    }
    for (env, model), resolved in DESIRED.resolved.items():
        ctx = spec_context(resolved, DESIRED.specs.environments[env])
        assert check(list(SHIPPED.values()), env, model, ctx, stage="plan") == [], (env, model)


def test_owner_required() -> None:
    assert violations("owner-required", context(model={"owner": ""})) == [
        "model 'iris-classifier' has no owner: add `owner:` to its spec"
    ]


def test_gates_where_promoted() -> None:
    ungated = context(environment={"gates": [], "promotes_from": "staging"})
    assert len(violations("gates-where-promoted", ungated)) == 1
    assert violations("gates-where-promoted", context(env_name="dev", environment={"gates": []}), env="dev") == []


def promote_ctx(staging_passed: bool | None, kind: Kind = Kind.PROMOTE) -> dict[str, Any]:
    action = Action(kind, "production", "iris-classifier", "fp", "1", "2", "r")
    ctx = context()
    candidate = None
    if staging_passed is not None:
        candidate = {"version": "2", "metrics": {}, "verdicts": {"staging": staging_passed}}
    return {**plan_context(ctx, action, None, None, None), "candidate": candidate}


def test_production_requires_staging() -> None:
    assert violations("production-requires-staging", promote_ctx(True)) == []
    assert violations("production-requires-staging", promote_ctx(None)) == [], "unknown until apply re-checks"
    (message,) = violations("production-requires-staging", promote_ctx(False))
    assert "needs a passing staging verdict" in message and "v2" in message
    assert len(violations("production-requires-staging", context(environment={"promotes_from": "dev"}))) == 1


def test_a_policy_on_promotions_judges_rollouts_too() -> None:
    rolling = promote_ctx(False, Kind.ROLLOUT)
    assert rolling["action"]["kind"] == "promote" and rolling["action"]["rollout"] is True
    assert len(violations("production-requires-staging", rolling)) == 1
    assert violations("production-requires-staging", promote_ctx(True, Kind.ROLLOUT)) == []
    only_immediate = policy('action is none or not action.rollout or environment.name != "production"')
    assert check([only_immediate], "production", "iris-classifier", rolling, stage="plan")


def test_no_lowered_gates_with_model_change() -> None:
    lowered = [{"gate": "q", "rule": "accuracy >= 0.85", "field": "min", "from": 0.85, "to": 0.7}]
    both = context(change={"model_changed": True, "gates_lowered": lowered})
    (message,) = violations("no-lowered-gates-with-model-change", both)
    assert "q accuracy >= 0.85 min: 0.85 -> 0.7" in message
    assert (
        violations(
            "no-lowered-gates-with-model-change", context(change={"model_changed": False, "gates_lowered": lowered})
        )
        == []
    )
    assert (
        violations("no-lowered-gates-with-model-change", context(change={"model_changed": True, "gates_lowered": []}))
        == []
    )


def test_production_estimators() -> None:
    svc = context(model={"estimator": {"class": "sklearn.svm.SVC", "params": {}, "steps": None}})
    (message,) = violations("production-estimators", svc)
    assert "sklearn.svm.SVC" in message
    pipeline = context(model_name="wine-classifier")
    assert violations("production-estimators", pipeline) == [], "a pipeline is judged by its last step"


def gate(rules: list[dict[str, Any]], **extra: Any) -> Gate:
    return Gate.model_validate({"kind": "Gate", "name": "q", "rules": rules, **extra})


def test_loosened_gates_are_detected() -> None:
    base = [gate([{"metric": "accuracy", "min": 0.9, "max_regression": 0.01}, {"cost": "model_size_kb", "max": 100}])]
    assert loosened(base, base) == []
    tighter = [
        gate([{"metric": "accuracy", "min": 0.95, "max_regression": 0.005}, {"cost": "model_size_kb", "max": 50}])
    ]
    assert loosened(base, tighter) == []
    looser = [gate([{"metric": "accuracy", "min": 0.8, "max_regression": 0.01}, {"cost": "model_size_kb", "max": 200}])]
    assert [(c["field"], c["from"], c["to"]) for c in loosened(base, looser)] == [("min", 0.9, 0.8), ("max", 100, 200)]
    assert [c["field"] for c in loosened(base, [gate([{"metric": "accuracy", "min": 0.9}])])] == [
        "max_regression",
        "rule",
    ]
    assert [c["field"] for c in loosened(base, [])] == ["gate"]
    assert [c["field"] for c in loosened(base, [gate(base[0].model_dump()["rules"], enforcement="advisory")])] == [
        "enforcement"
    ]


@pytest.mark.parametrize(
    "expression",
    [
        "().__class__.__mro__",
        "cycler.__init__.__globals__",
        "model.__class__",
        "model['__class__']",
        "model._private",
        "lipsum",
    ],
)
def test_sandbox_escapes_are_refused_before_running(expression: str) -> None:
    with pytest.raises(PolicySyntaxError):
        compile_expression(expression)


@pytest.mark.parametrize(
    ("expression", "error"),
    [
        ("range(10**10) | list", "Range too big"),
        ("('a' * 10**9) | length > 0", "too large"),
        ("(10 ** 1000) > 0", "too large"),
        ("model['__cl' ~ 'ass__'] is none", "not allowed"),
        ("model.no_such_field > 1", "no_such_field"),
    ],
)
def test_runtime_refusals_and_errors_block_with_the_message(expression: str, error: str) -> None:
    (violation,) = check([policy(expression)], "dev", "m", context(), stage="plan")
    assert violation.severity == "error"
    assert "could not be evaluated" in violation.message and error in violation.message


def test_warning_severity_reports_without_blocking(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import copy_examples

    repo = copy_examples(tmp_path / "r")
    (repo / "policies" / "desc.yaml").write_text(
        "kind: Policy\nname: short-descriptions\nseverity: warning\nscope: {environments: [dev]}\n"
        "require: model.description | length < 30\nmessage: '{{ model.name }} has a long description'\n"
    )
    code = main(["validate", str(repo)])
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == (
        "environments/dev.yaml:6:3: warning: models.iris-classifier: policy 'short-descriptions': "
        "iris-classifier has a long description"
    )
    assert lines[-1] == "21 objects in 21 files: valid (5 warnings)"


def test_syntax_error_is_positioned_by_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import copy_examples

    repo = copy_examples(tmp_path / "r")
    (repo / "policies" / "broken.yaml").write_text("kind: Policy\nname: broken\nrequire: model.owner !=\n")
    (repo / "policies" / "escape.yaml").write_text("kind: Policy\nname: escape\nrequire: ().__class__.__mro__\n")
    assert main(["validate", str(repo)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "policies/broken.yaml:3:10: require: invalid expression: unexpected ')'"
    assert out[1] == "policies/escape.yaml:3:10: require: access to '__mro__' is not allowed in a policy expression"


def test_rules_on_the_same_metric_pair_up_in_order() -> None:
    base = [gate([{"metric": "accuracy", "min": 0.8}, {"metric": "accuracy", "max_regression": 0.05}])]
    head = [gate([{"metric": "accuracy", "min": 0.7}, {"metric": "accuracy", "max_regression": 0.05}])]
    assert [(c["field"], c["from"], c["to"]) for c in loosened(base, head)] == [("min", 0.8, 0.7)]


# Each of these built a string or list of a gigabyte or more (or ran for days) before the
# sandbox bounded every way to build one; now each blocks with its reason in well under a second.
BOMBS = [
    ("'x'.ljust(1000000000) | length > 0", "too large"),
    ("'x'.rjust(1000000000) | length > 0", "too large"),
    ("'x'.center(1000000000) | length > 0", "too large"),
    ("'1'.zfill(1000000000) | length > 0", "too large"),
    ("'\\t'.expandtabs(1000000000) | length > 0", "too large"),
    ("('%1000000000d' % 1) | length > 0", "too wide"),
    ("('%*d' % (1000000000, 1)) | length > 0", "too wide"),
    ("('%.1000000000f' % 1.0) | length > 0", "too wide"),
    ("'{:>1000000000}'.format(1) | length > 0", "too large"),
    ("'{:{}}'.format(1, 1000000000) | length > 0", "too large"),
    ("'{0:>{1}}'.format_map({'0': 1, '1': 10**9}) | length > 0", ""),
    ("(('{0}' * 2500).format('x' * 10000)) | length > 0", "too large"),
    ("(range(10000) | join('x' * 10000)) | length > 0", "too large"),
    ("(('x' * 10000).join(range(10000) | map('string'))) | length > 0", "too large"),
    ("(('x' * 10000).replace('x', 'y' * 10000)) | length > 0", "too large"),
    ("(('x' * 10000) | replace('x', 'y' * 10000)) | length > 0", "too large"),
    ("(([[1] * 10000] * 10) | sum(start=[])) | length > 0", "numbers only"),
    (
        "(('x' * 10000) + ('x' * 10000) + ('x' * 10000) + ('x' * 10000) + ('x' * 10000) + ('x' * 10000)"
        " + ('x' * 10000) + ('x' * 10000) + ('x' * 10000) + ('x' * 10000) + ('x' * 10000)) | length > 0",
        "too large",
    ),
    (
        "(('x' * 10000) ~ ('x' * 10000) ~ ('x' * 10000) ~ ('x' * 10000) ~ ('x' * 10000) ~ ('x' * 10000)"
        " ~ ('x' * 10000) ~ ('x' * 10000) ~ ('x' * 10000) ~ ('x' * 10000) ~ ('x' * 10000)) | length > 0",
        "too large",
    ),
    ("range(10**10) | list", "Range too big"),
    ("range(20000) | list | length > 0", "Range too big"),
]


@pytest.mark.parametrize(("expression", "error"), BOMBS)
def test_every_way_to_build_something_big_is_bounded(expression: str, error: str) -> None:
    (violation,) = check([policy(expression)], "dev", "m", context(), stage="plan")
    assert violation.severity == "error"
    assert "could not be evaluated" in violation.message and error in violation.message, violation.message


SMALL_USES = [
    "'x'.center(10) | length == 10",
    "['a', 'b'] | join(', ') == 'a, b'",
    "'{:>5}'.format(1) == '    1'",
    "('%3d' % 7) == '  7'",
    "[1, 2.5] | sum == 3.5",
    "('a' ~ 'b') == 'ab'",
    "'ab'.replace('a', 'c') == 'cb'",
]


@pytest.mark.parametrize("expression", SMALL_USES)
def test_small_uses_of_the_same_tools_still_work(expression: str) -> None:
    assert check([policy(expression)], "dev", "m", context(), stage="plan") == []


@pytest.mark.parametrize("filter_name", ["center(10)", "indent(10)", "format(1)", "wordwrap(5)", "random", "batch(2)"])
def test_filters_outside_the_allowlist_are_refused_at_validate(filter_name: str) -> None:
    with pytest.raises(PolicySyntaxError, match="No filter named"):
        compile_expression(f"model.name | {filter_name}")


def test_a_message_that_loops_forever_is_stopped_and_the_violation_stands() -> None:
    loops = "{% for a in range(10000) %}{% for b in range(10000) %}{% for c in range(10000) %}"
    loops += "{% if a < 0 %}{{ a }}{% endif %}"
    endfors = "{% endfor %}{% endfor %}{% endfor %}"
    import time

    started = time.monotonic()
    (violation,) = check([policy("false", message=loops + endfors)], "dev", "m", context(), stage="plan")
    assert time.monotonic() - started < 30  # without the budget: 10^12 iterations
    assert violation.severity == "error"
    assert "could not be rendered" in violation.message and "budget" in violation.message


def test_a_message_that_prints_a_gigabyte_is_cut() -> None:
    flood = "{% for a in range(10000) %}{% for b in range(10000) %}{{ 'x' * 10000 }}{% endfor %}{% endfor %}"
    (violation,) = check([policy("false", message=flood)], "dev", "m", context(), stage="plan")
    assert len(violation.message) < 5000 and "message cut at" in violation.message


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("require", "(" * 5000 + "1" + ")" * 5000),
        ("message", "{%if 1%}" * 230 + "x" + "{%endif%}" * 230),
        ("message", "{%for a in range(1)%}" * 100 + "x" + "{%endfor%}" * 100),
        ("require", "not " * 990 + "true"),
    ],
)
def test_deeply_nested_policies_are_a_positioned_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, text: str
) -> None:
    from tests.conftest import copy_examples

    repo = copy_examples(tmp_path / "r")
    other = {"require": "true", "message": "m"}
    other[field] = text
    body = "kind: Policy\nname: deep\nrequire: '" + other["require"] + "'\nmessage: '" + other["message"] + "'\n"
    (repo / "policies" / "deep.yaml").write_text(body)
    assert main(["validate", str(repo)]) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    line = 3 if field == "require" else 4
    assert f"policies/deep.yaml:{line}:" in out and field in out, out[:500]


def test_a_policy_can_read_the_change_as_records() -> None:
    from reconciler.plan.diff import spec_changes
    from reconciler.policy.change import change_dict
    from reconciler.policy.sandbox import evaluate

    old = {"model": {"estimator": {"params": {"C": 1.0, "max_iter": 100}}}, "dataset_hash": "a"}
    new = {"model": {"estimator": {"params": {"C": 0.5}}}, "dataset_hash": "b"}
    changes = spec_changes(old, new)
    assert [(c.op, c.path) for c in changes] == [
        ("content", ("dataset",)),
        ("update", ("estimator", "params", "C")),
        ("remove", ("estimator", "params", "max_iter")),
    ]
    change = change_dict("base", "head", "f1", "f2", None, [], changes)
    assert change["spec_diff"] == [
        "dataset content changed",
        "estimator.params.C: 1.0 -> 0.5",
        "estimator.params.max_iter: 100 -> (none)",
    ]
    only_c = (
        "change.diff | rejectattr('op', 'eq', 'content') | map(attribute='path') | map('last') | list"
        " == ['C', 'max_iter']"
    )
    assert evaluate(only_c, {"change": change}) is True
