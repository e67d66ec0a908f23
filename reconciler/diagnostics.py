"""Diagnostics: what is wrong, and exactly where, in the form terminals, editors and GitHub read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem in one file. Line and column are 1-based, as editors count them."""

    file: str
    line: int
    col: int
    message: str
    severity: str = "error"  # error | warning (warnings never fail a command)

    def __str__(self) -> str:
        level = "warning: " if self.severity == "warning" else ""
        return f"{self.file}:{self.line}:{self.col}: {level}{self.message}"


class ReconcilerError(Exception):
    """An expected failure with a message for the user (never shown with a traceback)."""


class InvalidSpecs(ReconcilerError):
    """The specs do not validate; commands that need them stop before touching the registry."""

    def __init__(self, diagnostics: tuple[Diagnostic, ...]) -> None:
        super().__init__(f"{len(diagnostics)} error(s) in the specs; run `reconciler validate`")
        self.diagnostics = diagnostics
