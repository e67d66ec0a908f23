"""Load a repository's specs: every file, every document, every error at once.

Parsing, schema validation, catalog checks, references and override resolution each add
diagnostics; an object that fails one step is left out of the later ones so that one mistake
is reported once, where it was made.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from reconciler.diagnostics import Diagnostic
from reconciler.spec.catalog import Catalog, load_catalog
from reconciler.spec.kinds import KINDS, Dataset, Environment, Gate, Model, Object, Policy
from reconciler.spec.problems import Problem, diagnose, from_validation_error, has_step
from reconciler.spec.references import (
    Located,
    check_gate_metrics,
    check_references,
    environment_order,
)
from reconciler.spec.resolve import ResolvedModel, apply_overrides
from reconciler.spec.semantics import check_dataset, check_gate, check_model, check_policy
from reconciler.spec.yaml_source import Document, parse_file
from reconciler.suggest import did_you_mean

SPEC_DIRS = ("specs", "environments", "policies")
SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class SpecSet:
    datasets: Mapping[str, Dataset]
    models: Mapping[str, Model]
    gates: Mapping[str, Gate]
    environments: Mapping[str, Environment]
    documents: Mapping[tuple[str, str], Document] = field(repr=False)
    policies: Mapping[str, Policy] = field(default_factory=dict)

    def count(self) -> int:
        return len(self.datasets) + len(self.models) + len(self.gates) + len(self.environments) + len(self.policies)


@dataclass(frozen=True)
class DesiredState:
    """Every (environment, model) as it should run, environments in promotion order."""

    specs: SpecSet
    environment_order: tuple[str, ...]
    resolved: Mapping[tuple[str, str], ResolvedModel]


@dataclass(frozen=True)
class LoadResult:
    desired: DesiredState
    diagnostics: tuple[Diagnostic, ...]
    files: tuple[str, ...]
    flawed: frozenset[tuple[str, str]] = frozenset()  # (kind, name) of objects with errors

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "error")


def discover(repo: Path) -> list[Path]:
    found: list[Path] = []
    for top in SPEC_DIRS:
        base = repo / top
        if not base.is_dir():
            continue
        for path in base.rglob("*"):
            rel = path.relative_to(repo)
            if any(part.startswith(".") for part in rel.parts):
                continue
            if path.suffix in SUFFIXES and (path.is_file() or path.is_symlink()):
                found.append(path)
    return sorted(found, key=lambda p: p.relative_to(repo).as_posix())


def load_repo(repo: Path, catalog: Catalog | None = None) -> LoadResult:
    catalog = catalog or load_catalog()
    repo = repo.absolute()
    diagnostics: list[Diagnostic] = []
    docs: list[Document] = []
    files: list[str] = []
    root = repo.resolve()
    for path in discover(repo):
        display = path.relative_to(repo).as_posix()
        files.append(display)
        if not path.resolve().is_relative_to(root):
            diagnostics.append(Diagnostic(display, 1, 1, "symlink points outside the repository"))
            continue
        parsed = parse_file(path, display)
        diagnostics.extend(parsed.diagnostics)
        docs.extend(parsed.documents)
    return build(docs, diagnostics, tuple(files), repo, catalog)


def build(
    docs: Iterable[Document],
    diagnostics: list[Diagnostic],
    files: tuple[str, ...],
    repo: Path,
    catalog: Catalog,
) -> LoadResult:
    objects: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS}
    documents: dict[tuple[str, str], Document] = {}
    flawed: set[tuple[str, str]] = set()
    for doc in docs:
        outcome = _validate_document(doc, diagnostics, repo, catalog)
        if outcome is None:
            continue
        obj, is_flawed = outcome
        kind = type(obj).__name__
        key = (kind, obj.name)
        if key in documents:
            first = documents[key]
            line, col = first.position(("name",))
            diagnostics.append(
                diagnose(
                    doc,
                    Problem(("name",), f"duplicate {kind} '{obj.name}' (first defined at {first.file}:{line}:{col})"),
                )
            )
            continue
        documents[key] = doc
        objects[kind][obj.name] = obj
        if is_flawed:
            flawed.add(key)
    specs = SpecSet(
        datasets=objects["Dataset"],
        models=objects["Model"],
        gates=objects["Gate"],
        environments=objects["Environment"],
        documents=documents,
        policies=objects["Policy"],
    )

    def report(located: Located) -> None:
        diagnostic = diagnose(documents[(located.kind, located.name)], located.problem)
        diagnostics.append(replace(diagnostic, severity=located.severity))

    for located in check_references(specs.datasets, specs.models, specs.gates, specs.environments):
        report(located)
    resolved = _resolve(specs, flawed, report, catalog, repo)
    desired = DesiredState(specs, tuple(environment_order(specs.environments)), resolved)
    return LoadResult(desired, tuple(sorted(set(diagnostics))), files, frozenset(flawed))


def _validate_document(
    doc: Document, diagnostics: list[Diagnostic], repo: Path, catalog: Catalog
) -> tuple[Object, bool] | None:
    """The object and whether it is flawed, or None when it cannot be built at all."""
    data = doc.data
    kind = data.get("kind")
    if "kind" not in data:
        diagnostics.append(diagnose(doc, Problem((), f"missing 'kind' (one of: {', '.join(KINDS)})")))
        return None
    if not isinstance(kind, str) or kind not in KINDS:
        hint = did_you_mean(kind, KINDS) if isinstance(kind, str) else ""
        diagnostics.append(
            diagnose(doc, Problem(("kind",), f"unknown kind {kind!r}{hint} (one of: {', '.join(KINDS)})"))
        )
        return None
    cls = KINDS[kind]
    flawed = False
    try:
        obj = cls.model_validate(data)
    except ValidationError as exc:
        flawed = True
        diagnostics.extend(diagnose(doc, p) for p in from_validation_error(exc, data, cls))
        # Unknown keys alone do not stop the deeper checks: all mistakes are reported at once.
        errors = exc.errors()
        if any(e["type"] != "extra_forbidden" for e in errors):
            return None
        obj = cls.model_validate(_strip(data, [tuple(e["loc"]) for e in errors]))
    problems: list[Problem] = []
    if isinstance(obj, Model):
        problems = list(check_model(obj, catalog, repo))
    elif isinstance(obj, Dataset):
        problems = list(check_dataset(obj, repo, catalog))
    elif isinstance(obj, Gate):
        problems = list(check_gate(obj, catalog))
    elif isinstance(obj, Policy):
        problems = list(check_policy(obj))
    diagnostics.extend(diagnose(doc, p) for p in problems)
    return obj, flawed or bool(problems)


def _strip(data: Any, locs: list[tuple[Any, ...]]) -> Any:
    out = copy.deepcopy(data)
    for loc in locs:
        node = out
        for step in loc[:-1]:
            node = node[step]
        node.pop(loc[-1], None)
    return out


def _resolve(
    specs: SpecSet, flawed: set[tuple[str, str]], report: Any, catalog: Catalog, repo: Path
) -> dict[tuple[str, str], ResolvedModel]:
    resolved: dict[tuple[str, str], ResolvedModel] = {}
    for env in specs.environments.values():
        for model_name, deployment in env.models.items():
            base = specs.models.get(model_name)
            if base is None:
                continue
            model = base
            if deployment.overrides:
                merged = apply_overrides(base, deployment.overrides)
                known = set(check_model(base, catalog, repo))
                model_or_none = _validate_override(
                    env, model_name, merged, deployment.overrides, known, report, catalog, repo
                )
                if model_or_none is None:
                    continue
                model = model_or_none
            sound_gates = {n: g for n, g in specs.gates.items() if ("Gate", n) not in flawed}
            for located in check_gate_metrics(env.name, model, sound_gates, deployment.gates):
                report(located)
            dataset = specs.datasets.get(model.dataset)
            gates = tuple(specs.gates[g] for g in deployment.gates if g in specs.gates)
            if dataset is None:
                if model.dataset != base.dataset:
                    report(
                        Located(
                            "Environment",
                            env.name,
                            Problem(
                                ("models", model_name, "overrides", "dataset"),
                                f"no Dataset named '{model.dataset}'{did_you_mean(model.dataset, specs.datasets)}",
                            ),
                        )
                    )
                continue
            resolved[(env.name, model_name)] = ResolvedModel(env.name, model, dataset, gates, deployment.pin)
    return resolved


def _validate_override(
    env: Environment,
    model_name: str,
    merged: dict[str, Any],
    overrides: Mapping[str, Any],
    known: set[Problem],
    report: Any,
    catalog: Catalog,
    repo: Path,
) -> Model | None:
    """Validate a model with an environment's overrides; report only what the overrides broke."""
    prefix = ("models", model_name, "overrides")
    try:
        model = Model.model_validate(merged)
    except ValidationError as exc:
        problems = from_validation_error(exc, merged, Model)
    else:
        # The repository too: an override's paths (a monitoring batch) stay inside it like the model's own.
        problems = [p for p in check_model(model, catalog, repo) if p not in known]
        if not problems:
            return model
    for problem in problems:
        path = _within(overrides, problem.path)
        if path == problem.path:
            report(Located("Environment", env.name, Problem(prefix + path, problem.message, problem.key)))
        else:
            shown = ".".join(str(p) for p in problem.path)
            report(
                Located(
                    "Environment",
                    env.name,
                    Problem(
                        prefix + path,
                        f"with these overrides, model '{model_name}' {shown}: {problem.message}",
                        key=not path,
                    ),
                )
            )
    return None


def _within(data: Any, path: tuple[Any, ...]) -> tuple[Any, ...]:
    """The longest prefix of `path` that exists in `data`."""
    out: list[Any] = []
    node = data
    for step in path:
        if not has_step(node, step):
            break
        node = node[step]
        out.append(step)
    return tuple(out)
