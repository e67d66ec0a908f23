"""Checks across objects: references resolve, `promotes_from` has no cycles, gates fit models."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from reconciler.rules import rule_type
from reconciler.spec.kinds import Dataset, Environment, Gate, Model
from reconciler.spec.problems import Problem
from reconciler.suggest import did_you_mean


@dataclass(frozen=True)
class Located:
    """A problem in a named object (its document is looked up by (kind, name))."""

    kind: str
    name: str
    problem: Problem
    severity: str = "error"


def check_references(
    datasets: Mapping[str, Dataset],
    models: Mapping[str, Model],
    gates: Mapping[str, Gate],
    environments: Mapping[str, Environment],
) -> Iterator[Located]:
    for model in models.values():
        if model.dataset not in datasets:
            yield Located(
                "Model",
                model.name,
                Problem(("dataset",), f"no Dataset named '{model.dataset}'{did_you_mean(model.dataset, datasets)}"),
            )
    for env in environments.values():
        yield from _check_environment(env, models, gates, environments)
    yield from _check_cycles(environments)


def _check_environment(
    env: Environment,
    models: Mapping[str, Model],
    gates: Mapping[str, Gate],
    environments: Mapping[str, Environment],
) -> Iterator[Located]:
    def located(problem: Problem) -> Located:
        return Located("Environment", env.name, problem)

    upstream = environments.get(env.promotes_from) if env.promotes_from else None
    if env.promotes_from and upstream is None:
        yield located(
            Problem(
                ("promotes_from",),
                f"no Environment named '{env.promotes_from}'{did_you_mean(env.promotes_from, environments)}",
            )
        )
    if env.promotes_from == env.name:
        return  # reported as a cycle
    for model_name, deployment in env.models.items():
        here = ("models", model_name)
        if model_name not in models:
            yield located(Problem(here, f"no Model named '{model_name}'{did_you_mean(model_name, models)}", key=True))
        if upstream is not None and model_name not in upstream.models:
            yield located(
                Problem(
                    here,
                    f"'{model_name}' is not deployed in '{upstream.name}', which '{env.name}' promotes from",
                    key=True,
                )
            )
        for i, gate_name in enumerate(deployment.gates):
            if gate_name not in gates:
                yield located(
                    Problem((*here, "gates", i), f"no Gate named '{gate_name}'{did_you_mean(gate_name, gates)}")
                )
        dup = {g for g in deployment.gates if deployment.gates.count(g) > 1}
        for g in sorted(dup):
            yield located(
                Problem(
                    (*here, "gates", len(deployment.gates) - 1 - deployment.gates[::-1].index(g)),
                    f"gate '{g}' is listed twice",
                )
            )


def _check_cycles(environments: Mapping[str, Environment]) -> Iterator[Located]:
    for env in environments.values():
        chain = [env.name]
        current = env
        while current.promotes_from and current.promotes_from in environments:
            nxt = current.promotes_from
            if nxt == env.name:
                cycle = " -> ".join([*chain, nxt])
                yield Located(
                    "Environment", env.name, Problem(("promotes_from",), f"promotes_from forms a cycle: {cycle}")
                )
                break
            if nxt in chain:
                break  # a cycle further up; reported on its own members
            chain.append(nxt)
            current = environments[nxt]


def check_gate_metrics(env: str, model: Model, gates: Mapping[str, Gate], gate_names: list[str]) -> Iterator[Located]:
    """A gate can only judge metrics the model computes."""
    for i, gate_name in enumerate(gate_names):
        gate = gates.get(gate_name)
        if gate is None:
            continue
        plain = {m for r in gate.rules for m in rule_type(r).model_metrics(r)}
        missing = sorted(plain - set(model.metrics))
        if missing:
            yield Located(
                "Environment",
                env,
                Problem(
                    ("models", model.name, "gates", i),
                    f"gate '{gate_name}' needs metric {', '.join(repr(m) for m in missing)}, "
                    f"which model '{model.name}' does not compute (its metrics: {', '.join(model.metrics)})",
                ),
            )


def environment_order(environments: Mapping[str, Environment]) -> list[str]:
    """Upstream before downstream (dev, staging, production), then by name: a total order."""
    depth: dict[str, int] = {}

    def level(name: str, seen: frozenset[str]) -> int:
        if name in depth:
            return depth[name]
        env = environments[name]
        up = env.promotes_from
        result = 0
        if up and up in environments and up not in seen:
            result = level(up, seen | {name}) + 1
        depth[name] = result
        return result

    return sorted(environments, key=lambda n: (level(n, frozenset()), n))
