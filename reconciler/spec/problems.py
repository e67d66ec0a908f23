"""Turn validation problems (pydantic errors and our own checks) into positioned diagnostics.

A problem carries a path into the document's data (`('estimator', 'params', 'C')`); the
document's round-trip tree turns that path into the line and column the user typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel, ValidationError

from reconciler.diagnostics import Diagnostic
from reconciler.sources import SOURCE_TYPES
from reconciler.spec.kinds import DNS_LABEL
from reconciler.spec.yaml_source import Document, Path_
from reconciler.suggest import did_you_mean

_IDENT = re.compile(r"^[A-Za-z_][\w-]*$")


@dataclass(frozen=True)
class Problem:
    """A message about the value (or, with `key`, the key) at `path` in one document."""

    path: Path_
    message: str
    key: bool = False


def format_path(path: Path_) -> str:
    out = ""
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
        elif _IDENT.match(step):
            out += f".{step}" if out else step
        else:
            out += f'["{step}"]'
    return out


def diagnose(doc: Document, problem: Problem) -> Diagnostic:
    line, col = doc.position(problem.path, key=problem.key)
    where = format_path(problem.path)
    message = f"{where}: {problem.message}" if where else problem.message
    return Diagnostic(doc.file, line, col, message)


def from_validation_error(exc: ValidationError, data: Any, model: type[BaseModel], prefix: Path_ = ()) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        problems.append(_from_error(err, data, model, prefix))
    return problems


def _from_error(err: Any, data: Any, model: type[BaseModel], prefix: Path_) -> Problem:
    loc = tuple(err["loc"])
    kind = err["type"]
    path, rest = _split_loc(data, loc)
    if kind == "extra_forbidden" and path:
        name = str(path[-1])
        allowed = _allowed_fields(model, path[:-1])
        hint = did_you_mean(name, allowed)
        if not hint and allowed:
            hint = f" (allowed: {', '.join(allowed)})"
        return Problem(prefix + path, f"unknown field '{name}'{hint}", key=True)
    if kind == "missing" and rest:
        return Problem(prefix + path + (rest[0],), "missing required field")
    if rest and rest[0] == "[key]":
        return Problem(prefix + path, _message(err, key=True), key=True)
    return Problem(prefix + path, _message(err))


def _split_loc(data: Any, loc: tuple[Any, ...]) -> tuple[Path_, tuple[Any, ...]]:
    """The part of a pydantic location that exists in the data, and the rest.

    Locations of tagged unions (a dataset's `source`, a gate's `rules[i]`) carry the union
    member's tag as an extra step right after the union; it is dropped.
    """
    loc = _without_tags(loc)
    path: list[str | int] = []
    node = data
    i = 0
    while i < len(loc):
        step = loc[i]
        if not has_step(node, step):
            break
        node = node[step]
        path.append(step)
        i += 1
    return tuple(path), tuple(loc[i:])


UNION_TAGS = {"source": tuple(t.key for t in SOURCE_TYPES), "rules": ("metric", "cost", "baseline")}


def _without_tags(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    out: list[Any] = []
    for i, step in enumerate(loc):
        # Only the step right after `source` is a tag: `source.delta.delta` names the field too.
        if i >= 1 and loc[i - 1] == "source" and out and out[-1] == "source" and step in UNION_TAGS["source"]:
            continue
        if len(out) >= 2 and out[-2] == "rules" and isinstance(out[-1], int) and step in UNION_TAGS["rules"]:
            continue
        out.append(step)
    return tuple(out)


def has_step(node: Any, step: Any) -> bool:
    """Whether `node[step]` exists in plain data (a key of a mapping or an index of a list)."""
    if isinstance(node, dict):
        return isinstance(step, str) and step in node
    return isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node)


def _message(err: Any, *, key: bool = False) -> str:
    kind = err["type"]
    value = err.get("input")
    if kind == "string_pattern_mismatch" and err.get("ctx", {}).get("pattern") == DNS_LABEL:
        return (
            f"{value!r} is not a valid name: use lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    if kind == "string_pattern_mismatch" and err.get("loc", ())[-1:] == ("pin",):
        return f"{value!r} is not a git revision (a commit, tag or branch name such as v1.2 or 3f2a9c1)"
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if kind in ("model_type", "dict_type") and not isinstance(value, dict):
        return f"expected a mapping, got {_describe(value)}"
    if kind == "list_type":
        return f"expected a list, got {_describe(value)}"
    if (
        (
            kind.endswith("_type")
            or kind.endswith("_parsing")
            or kind
            in (
                "greater_than",
                "greater_than_equal",
                "less_than",
                "less_than_equal",
                "finite_number",
                "literal_error",
                "too_short",
                "too_long",
                "string_too_long",
                "string_pattern_mismatch",
            )
        )
        and not key
        and not isinstance(value, (dict, list))
    ):
        msg += f" (got {_describe(value)})"
    if kind == "string_type" and isinstance(value, (int, float)) and not isinstance(value, bool):
        # `pin: 0123456` or `name: 1e5`: YAML made a number of it (leading zeros already gone).
        msg += "; YAML read it as a number: put it in quotes"
    return msg


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return repr(value) if len(value) <= 60 else repr(value[:57] + "...")
    return repr(value)


def _allowed_fields(model: type[BaseModel], path: Path_) -> list[str]:
    schema = _schema(model)
    node = _resolve(schema, schema)
    for step in path:
        found = _child(schema, node, step)
        if found is None:
            return []
        node = found
    names: list[str] = []
    for branch in _branches(schema, node):
        for name in branch.get("properties", {}):
            if name not in names:
                names.append(name)
    return names


@cache
def _schema_cached(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema(by_alias=True)


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return _schema_cached(model)


def _resolve(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = root["$defs"][node["$ref"].split("/")[-1]]
    return node


def _branches(root: dict[str, Any], node: dict[str, Any]) -> list[dict[str, Any]]:
    node = _resolve(root, node)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in node:
            out: list[dict[str, Any]] = []
            for sub in node[key]:
                out.extend(_branches(root, sub))
            return out
    return [node]


def _child(root: dict[str, Any], node: dict[str, Any], step: str | int) -> dict[str, Any] | None:
    for branch in _branches(root, node):
        if isinstance(step, int) and "items" in branch:
            return _resolve(root, branch["items"])
        if isinstance(step, str):
            props = branch.get("properties", {})
            if step in props:
                return _resolve(root, props[step])
            extra = branch.get("additionalProperties")
            if isinstance(extra, dict):
                return _resolve(root, extra)
    return None
