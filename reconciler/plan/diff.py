"""What changed between the spec a version was trained from and the desired one, as records
(reconciler.plan.model.Change), with the one-line form plans, comments and policies show."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.plan.model import Change

CONTENT = Change("content", ("dataset",))
CONTENT_KEYS = ("dataset_hash", "dataset_pin")  # said once, as the content line


def spec_changes(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> tuple[Change, ...]:
    if old is None:
        return ()
    from deepdiff import DeepDiff

    out: list[Change] = []
    if old.get("dataset_hash") != new.get("dataset_hash"):
        out.append(Change("content", ("dataset",), old.get("dataset_pin"), new.get("dataset_pin")))
    diff = DeepDiff(
        {k: v for k, v in old.items() if k not in CONTENT_KEYS},
        {k: v for k, v in new.items() if k not in CONTENT_KEYS},
        view="tree",
        ignore_numeric_type_changes=True,
    )
    for report in ("values_changed", "type_changes"):
        for item in diff.get(report, []):
            out.append(Change("update", _path(item), item.t1, item.t2))
    for report in ("dictionary_item_added", "iterable_item_added"):
        for item in diff.get(report, []):
            out.append(Change("add", _path(item), None, item.t2))
    for report in ("dictionary_item_removed", "iterable_item_removed"):
        for item in diff.get(report, []):
            out.append(Change("remove", _path(item), item.t1, None))
    unique = {change_line(c): c for c in out}  # one record per line a reader would see
    return tuple(unique[line] for line in sorted(unique, key=lambda s: (not s.startswith(change_line(CONTENT)), s)))


def change_line(change: Change) -> str:
    """`estimator.params.C: 1.0 -> 0.5`, `dataset content changed (md5 e5ebd4c0 -> 1a2b3c4d)`."""
    if change.op == "content":
        if change.old is not None and change.new is not None and change.old != change.new:
            return f"dataset content changed ({change.old} -> {change.new})"
        return "dataset content changed"
    old = "(none)" if change.op == "add" else _show(change.old)
    new = "(none)" if change.op == "remove" else _show(change.new)
    return f"{path_text(change.path)}: {old} -> {new}"


def path_text(path: tuple[str | int, ...]) -> str:
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out


def _path(item: Any) -> tuple[str | int, ...]:
    steps = item.path(output_format="list")
    if steps and steps[0] == "model":
        steps = steps[1:]
    return tuple(steps)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
