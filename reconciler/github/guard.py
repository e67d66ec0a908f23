"""Keep untrusted text from becoming a workflow command.

The runner reads every output line that starts with `::` (after leading whitespace) as a
command, on stdout and on stderr, and the output of a run carries text from specs, data files
and registry tags. GitHub's own remedy, `::stop-commands::<token>`, orders only against the
stream it is written to, while the runner reads stdout and stderr through separate pipes; and
stdout is often data (`plan --format json > plan.json`). So in Actions both streams are wrapped:
a line that would start a command is written with a visible prefix instead, and the commands
this program writes go to the underlying stream directly (`raw`), their data escaped.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

PREFIX = "(text) "


def neutral(line: str) -> str:
    """The line as it should appear, never as a command."""
    return PREFIX + line if line.lstrip().startswith("::") else line


class GuardedStream(io.TextIOBase):
    """A text stream whose every line is neutralized. A line's start is held back until it can
    no longer become a command (a command can arrive split across writes: `print` writes the
    text, then the newline)."""

    def __init__(self, raw: TextIO) -> None:
        self.raw = raw
        self._held = ""  # the start of a line that might still become `::`
        self._mid_line = False  # the current line's start was written: the rest is plain text

    def write(self, text: str) -> int:
        *lines, rest = (self._held + text).split("\n")
        self._held = ""
        for line in lines:
            self.raw.write((line if self._mid_line else neutral(line)) + "\n")
            self._mid_line = False
        if self._mid_line:
            self.raw.write(rest)
        elif rest.lstrip() in ("", ":"):
            self._held = rest
        else:
            self.raw.write(neutral(rest))
            self._mid_line = True
        return len(text)

    def flush(self) -> None:
        self.raw.flush()

    def close_line(self) -> None:
        """End a line in progress (before a command of our own, which must start a line, and at
        exit), so that nothing written later continues it."""
        if self._held or self._mid_line:
            self.raw.write(self._held + "\n")
        self._held = ""
        self._mid_line = False
        self.raw.flush()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self.raw, "encoding", "utf-8"))

    def isatty(self) -> bool:
        return self.raw.isatty()

    def writable(self) -> bool:
        return True


@contextmanager
def guarded() -> Iterator[None]:
    """Wrap stdout and stderr for the duration."""
    out, err = sys.stdout, sys.stderr
    if isinstance(out, GuardedStream):
        yield
        return
    gout, gerr = GuardedStream(out), GuardedStream(err)
    sys.stdout, sys.stderr = gout, gerr
    try:
        yield
    finally:
        gout.close_line()
        gerr.close_line()
        sys.stdout, sys.stderr = out, err


def raw(stream: TextIO) -> TextIO:
    """The stream under a guard, for the commands this program writes itself."""
    if isinstance(stream, GuardedStream):
        stream.close_line()
        return stream.raw
    return stream
