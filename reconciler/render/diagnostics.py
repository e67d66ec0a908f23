"""Diagnostics as text (terminals, editors), GitHub workflow commands, or JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence

from reconciler.diagnostics import Diagnostic

FORMATS = ("text", "github", "json")


def summary(diagnostics: Sequence[Diagnostic], objects: int, files: int) -> str:
    checked = f"{_n(objects, 'object')} in {_n(files, 'file')}"
    errors = [d for d in diagnostics if d.severity == "error"]
    warnings = len(diagnostics) - len(errors)
    warned = f" ({_n(warnings, 'warning')})" if warnings else ""
    if not errors:
        return f"{checked}: valid{warned}"
    bad_files = len({d.file for d in errors})
    return f"{_n(len(errors), 'error')}{warned} in {_n(bad_files, 'file')} ({checked} checked)"


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def render(diagnostics: Sequence[Diagnostic], objects: int, files: int, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(
            {
                "valid": not any(d.severity == "error" for d in diagnostics),
                "objects": objects,
                "files": files,
                "errors": [
                    {"file": d.file, "line": d.line, "col": d.col, "message": d.message, "severity": d.severity}
                    for d in diagnostics
                ],
            },
            indent=2,
        )
    if fmt == "github":
        lines = [github_annotation(d, "warning" if d.severity == "warning" else "error") for d in diagnostics]
    else:
        lines = [str(d) for d in diagnostics]
    return "\n".join([*lines, summary(diagnostics, objects, files)])


def github_annotation(d: Diagnostic, level: str = "error") -> str:
    # https://docs.github.com/actions/reference/workflow-commands-for-github-actions
    props = f"file={escape_property(d.file)},line={d.line},col={d.col}"
    return f"::{level} {props}::{escape_data(d.message)}"


def escape_data(text: str) -> str:
    """A command's message: GitHub's escapes, so a newline cannot start a second command."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")
