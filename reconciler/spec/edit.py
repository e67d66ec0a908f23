"""Edits to spec files that keep them as people wrote them: ruamel.yaml's round trip keeps
comments, key order and flow style; only what the edit touches changes."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from reconciler.diagnostics import ReconcilerError


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)  # `  - item`, as the examples and `reconciler init` write
    return yaml


def add_snapshot(path: Path, dataset: str, parquet: str, sha256: str) -> bool:
    """Append `{parquet, sha256}` to the Dataset's `snapshots` in `path`; False when it is there."""
    text = path.read_text(encoding="utf-8")
    yaml = _yaml()
    docs = list(yaml.load_all(text))
    target = _dataset(docs, path, dataset)
    snapshots = target.get("snapshots")
    if snapshots is None:
        snapshots = CommentedSeq()
        target["snapshots"] = snapshots
    if not isinstance(snapshots, list):
        raise ReconcilerError(f"{path}: the snapshots of '{dataset}' are not a list")
    if any(isinstance(s, dict) and s.get("sha256") == sha256 for s in snapshots):
        return False
    # Quoted: a hash of digits (and one `e`) would otherwise read back as a number.
    entry = CommentedMap([("parquet", parquet), ("sha256", DoubleQuotedScalarString(sha256))])
    entry.fa.set_flow_style()
    snapshots.append(entry)
    _dump(path, text, docs, yaml)
    return True


def set_source_fields(path: Path, dataset: str, fields: Mapping[tuple[str, ...], Any]) -> bool:
    """Set fields inside the Dataset's `source` (each by its path within the source, e.g.
    `("delta", "version")`), keeping everything else as written; False when nothing changed."""
    text = path.read_text(encoding="utf-8")
    yaml = _yaml()
    docs = list(yaml.load_all(text))
    target = _dataset(docs, path, dataset)
    source = target.get("source")
    if not isinstance(source, dict):
        raise ReconcilerError(f"{path}: the source of '{dataset}' is not a mapping")
    changed = False
    for steps, value in fields.items():
        node: Any = source
        for step in steps[:-1]:
            if not isinstance(node.get(step), dict):
                raise ReconcilerError(f"{path}: the source of '{dataset}' has no '{step}' mapping")
            node = node[step]
        # Strings quoted: a version id or a hash of digits would otherwise read back as a number.
        new = DoubleQuotedScalarString(value) if isinstance(value, str) else value
        if node.get(steps[-1]) != value:
            node[steps[-1]] = new
            changed = True
    if changed:
        _dump(path, text, docs, yaml)
    return changed


def _dataset(docs: list[Any], path: Path, dataset: str) -> CommentedMap:
    found = next(
        (d for d in docs if isinstance(d, CommentedMap) and d.get("kind") == "Dataset" and d.get("name") == dataset),
        None,
    )
    if found is None:
        raise ReconcilerError(f"{path}: no Dataset named '{dataset}'")
    return found


def _dump(path: Path, text: str, docs: list[Any], yaml: YAML) -> None:
    out = io.StringIO()
    header = _header(text)
    yaml.explicit_start = text[len(header) :].lstrip().startswith("---") or len(docs) > 1
    yaml.dump_all(docs, out)
    dumped = out.getvalue()
    # ruamel drops comments before a file's first `---`; they are put back as they were.
    _write(path, dumped if dumped.startswith(header) else header + dumped)


def _header(text: str) -> str:
    """The comment and blank lines before the first `---`, when the file has one."""
    lines = text.splitlines(keepends=True)
    taken: list[str] = []
    for line in lines:
        if line.startswith("---"):
            return "".join(taken)
        if line.strip() and not line.lstrip().startswith("#"):
            return ""
        taken.append(line)
    return ""


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def snapshots_of(path: Path, dataset: str) -> list[dict[str, Any]]:
    docs = list(_yaml().load_all(path.read_text(encoding="utf-8")))
    for d in docs:
        if isinstance(d, dict) and d.get("kind") == "Dataset" and d.get("name") == dataset:
            return [dict(s) for s in d.get("snapshots") or []]
    return []
