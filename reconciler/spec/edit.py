"""Edits to spec files that keep them as people wrote them: ruamel.yaml's round trip keeps
comments, key order and flow style; only what the edit touches changes."""

from __future__ import annotations

import io
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
    target = next(
        (d for d in docs if isinstance(d, CommentedMap) and d.get("kind") == "Dataset" and d.get("name") == dataset),
        None,
    )
    if target is None:
        raise ReconcilerError(f"{path}: no Dataset named '{dataset}'")
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
    out = io.StringIO()
    header = _header(text)
    yaml.explicit_start = text[len(header) :].lstrip().startswith("---") or len(docs) > 1
    yaml.dump_all(docs, out)
    dumped = out.getvalue()
    # ruamel drops comments before a file's first `---`; they are put back as they were.
    _write(path, dumped if dumped.startswith(header) else header + dumped)
    return True


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
