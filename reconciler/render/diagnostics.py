"""Diagnostics as text (terminals, editors), GitHub workflow commands, or JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence

from reconciler.diagnostics import Diagnostic

FORMATS = ("text", "github", "json")


def summary(diagnostics: Sequence[Diagnostic], objects: int, files: int) -> str:
    checked = f"{_n(objects, 'object')} in {_n(files, 'file')}"
    if not diagnostics:
        return f"{checked}: valid"
    bad_files = len({d.file for d in diagnostics})
    return f"{_n(len(diagnostics), 'error')} in {_n(bad_files, 'file')} ({checked} checked)"


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def render(diagnostics: Sequence[Diagnostic], objects: int, files: int, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(
            {
                "valid": not diagnostics,
                "objects": objects,
                "files": files,
                "errors": [{"file": d.file, "line": d.line, "col": d.col, "message": d.message} for d in diagnostics],
            },
            indent=2,
        )
    lines = [github_annotation(d) for d in diagnostics] if fmt == "github" else [str(d) for d in diagnostics]
    return "\n".join([*lines, summary(diagnostics, objects, files)])


def github_annotation(d: Diagnostic, level: str = "error") -> str:
    # https://docs.github.com/actions/reference/workflow-commands-for-github-actions
    props = f"file={_prop(d.file)},line={d.line},col={d.col}"
    return f"::{level} {props}::{_data(d.message)}"


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")
