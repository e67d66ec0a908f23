"""What changed between the spec a version was trained from and the desired one, readably."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def spec_changes(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> tuple[str, ...]:
    if old is None:
        return ()
    from deepdiff import DeepDiff

    lines: list[str] = []
    if old.get("dataset_hash") != new.get("dataset_hash"):
        lines.append("dataset content changed")
    diff = DeepDiff(
        {k: v for k, v in old.items() if k != "dataset_hash"},
        {k: v for k, v in new.items() if k != "dataset_hash"},
        view="tree",
        ignore_numeric_type_changes=True,
    )
    for report in ("values_changed", "type_changes"):
        for item in diff.get(report, []):
            lines.append(f"{_path(item)}: {_show(item.t1)} -> {_show(item.t2)}")
    for report in ("dictionary_item_added", "iterable_item_added"):
        for item in diff.get(report, []):
            lines.append(f"{_path(item)}: (none) -> {_show(item.t2)}")
    for report in ("dictionary_item_removed", "iterable_item_removed"):
        for item in diff.get(report, []):
            lines.append(f"{_path(item)}: {_show(item.t1)} -> (none)")
    return tuple(sorted(set(lines), key=lambda s: (s != "dataset content changed", s)))


def _path(item: Any) -> str:
    steps = item.path(output_format="list")
    if steps and steps[0] == "model":
        steps = steps[1:]
    out = ""
    for step in steps:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
