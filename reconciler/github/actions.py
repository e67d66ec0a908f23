"""GitHub Actions conventions. Every function does nothing unless GITHUB_ACTIONS is "true",
so local runs never write workflow commands or files. Output is guarded in Actions (see
`guard`): the commands written here go around the guard, their data escaped."""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Mapping
from typing import TextIO

from reconciler.diagnostics import Diagnostic
from reconciler.github.guard import raw
from reconciler.render.diagnostics import escape_data, escape_property, github_annotation

# GitHub rejects comments over 65,536 characters; leave room for the truncation note.
COMMENT_LIMIT = 60_000


def active() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def print_commands(text: str) -> None:
    """Workflow commands this code wrote (escaped), where the runner reads them."""
    _command(text, None)


def _command(text: str, stream: TextIO | None) -> None:
    out = raw(stream or sys.stdout)
    out.write(text + "\n")
    out.flush()


def write_summary(markdown: str) -> None:
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if active() and path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(markdown if markdown.endswith("\n") else markdown + "\n")


def set_outputs(values: Mapping[str, object]) -> None:
    path = os.environ.get("GITHUB_OUTPUT")
    if not (active() and path):
        return
    with open(path, "a", encoding="utf-8") as fh:
        for key, value in values.items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            if "\n" in text:
                delimiter = f"EOF_{secrets.token_hex(8)}"
                fh.write(f"{key}<<{delimiter}\n{text}\n{delimiter}\n")
            else:
                fh.write(f"{key}={text}\n")


def annotate(level: str, title: str, message: str, stream: TextIO | None = None) -> None:
    """An annotation without a file (blocked models, drift); spec errors carry file:line:col."""
    if not active():
        return
    line = f"::{level} title={escape_property(title)}::{escape_data(message)}"
    _command(line, stream)


def annotate_diagnostic(d: Diagnostic, stream: TextIO | None = None) -> None:
    if not active():
        return
    _command(github_annotation(d), stream)


def run_url() -> str:
    server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
    repo = os.environ.get("GITHUB_REPOSITORY", "")
    run = os.environ.get("GITHUB_RUN_ID", "")
    return f"{server}/{repo}/actions/runs/{run}" if repo and run else ""


def cap(markdown: str, limit: int = COMMENT_LIMIT) -> str:
    """Fit a comment within GitHub's limit; the full text stays in the run's artifact."""
    if len(markdown) <= limit:
        return markdown
    cut = markdown[:limit].rsplit("\n", 1)[0]
    if cut.count("```") % 2:
        cut += "\n```"
    if cut.count("<details>") > cut.count("</details>"):
        cut += "\n</details>"
    link = run_url()
    where = f"[the workflow run's artifact]({link})" if link else "the workflow run's artifact"
    return f"{cut}\n\n**Truncated to fit GitHub's comment limit; the full plan is in {where}.**\n"
