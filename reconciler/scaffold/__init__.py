"""A new configuration repository, as `reconciler init` writes it: one dataset, model and gate,
dev -> staging -> production, the shipped policies, the four workflows using the reconciler's
GitHub Action, JSON Schemas for editors, a `.gitignore` for the local state and a README.

Nothing that exists is overwritten: a file already there is kept (a `.gitignore` gains the
state directory's line), and a directory that already holds specs is refused."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from reconciler.diagnostics import ReconcilerError
from reconciler.spec.loader import SPEC_DIRS
from reconciler.spec.schema import schema_files

FILES = Path(__file__).parent / "files"
PLACEHOLDER_ACTION = "OWNER/REPO@v0"
STATE_LINE = ".reconciler/"
# owner/repo[/path]@ref, as a workflow's `uses:` names an action in another repository.
ACTION_REF = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}(/[A-Za-z0-9._-]+)*@[A-Za-z0-9._/-]{1,100}"
)


class ScaffoldError(ReconcilerError):
    exit_code = 2


@dataclass(frozen=True)
class Written:
    path: str  # relative to the new repository's root
    how: str  # created | kept (it was there) | appended


def contents(action: str, version: str) -> dict[str, str]:
    """Every file of the scaffold by its path in the new repository."""
    if not ACTION_REF.fullmatch(action):
        raise ScaffoldError(f"--action {action!r}: expected OWNER/REPO@REF, e.g. {PLACEHOLDER_ACTION}")
    out: dict[str, str] = {}
    for path in sorted(p for p in FILES.rglob("*") if p.is_file()):
        rel = path.relative_to(FILES).as_posix()
        text = path.read_text(encoding="utf-8")
        if rel.startswith("workflows/"):
            rel = ".github/" + rel
        elif rel == "gitignore":  # a dotfile in package data is easy to lose in a build
            rel = ".gitignore"
        out[rel] = text.replace("__ACTION__", action).replace("__VERSION__", version)
    out |= {f"schemas/{name}": text for name, text in schema_files().items()}
    return out


def scaffold(dest: Path, action: str, version: str) -> list[Written]:
    files = contents(action, version)
    taken = [name for name in SPEC_DIRS if (dest / name).exists()]
    if taken:
        raise ScaffoldError(
            f"{dest} already has {', '.join(f'{name}/' for name in taken)}: init starts a new repository and "
            "never mixes its examples into existing specs"
        )
    written = []
    for rel, text in files.items():
        path = dest / rel
        if rel == ".gitignore" and path.is_file():
            lines = path.read_text(encoding="utf-8").splitlines()
            if STATE_LINE in (line.strip() for line in lines) or ".reconciler" in lines:
                written.append(Written(rel, "kept"))
                continue
            with path.open("a", encoding="utf-8") as fh:
                fh.write(("\n" if lines and path.read_text(encoding="utf-8")[-1:] != "\n" else "") + text)
            written.append(Written(rel, "appended"))
            continue
        if path.exists():
            written.append(Written(rel, "kept"))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(Written(rel, "created"))
    return written
