"""Untrusted text in Markdown: spec values, commit subjects, error messages and registry tags
reach the PR comment and the job summary, and must stay text there.

A stray `|` splits a table cell, a backtick run closes a code span or fence, `<!--` hides the
rest of the comment, raw HTML (`<details>`, `<img>`) restructures it. GitHub's Markdown is
CommonMark plus tables, so escaping every `<` that could open HTML, backslash-escaping the inline markers and
choosing code fences longer than any backtick run in their content keeps every value inert.
"""

from __future__ import annotations

import re

# What can restructure a comment from inside one line: a backslash (escapes what follows), a
# backtick (opens code), a pipe (ends a table cell), brackets (links). Emphasis markers only
# restyle text, and `_` inside names (f1_macro) must read as written.
_INLINE = re.compile(r"([\\`|\[\]])")
_BACKTICKS = re.compile(r"`+")
# What can open raw HTML in CommonMark: a tag, a closing tag, a comment, a declaration, a
# processing instruction. `<=` and `a < b` stay as written; `<!--`, `<img`, `</details>` do not.
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")


def md_text(value: object) -> str:
    """Plain text for a Markdown paragraph or table cell: one line, no markup."""
    text = " ".join(str(value).split("\n"))
    text = _TAG_START.sub("&lt;", text.replace("\r", " "))
    return _INLINE.sub(r"\\\1", text)


def fence_for(content: str, char: str = "`") -> str:
    """A code fence no line of `content` can close (CommonMark: a closing fence is at least as
    long as the opening one)."""
    longest = max((len(m.group(0)) for m in _BACKTICKS.finditer(content)), default=0)
    return char * max(3, longest + 1)


def md_code(value: object) -> str:
    """An inline code span that its content cannot close, usable inside a table cell."""
    text = " ".join(str(value).split("\n")).replace("\r", " ")
    ticks = "`" * (max((len(m.group(0)) for m in _BACKTICKS.finditer(text)), default=0) + 1)
    text = text.replace("|", "\\|")
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"
