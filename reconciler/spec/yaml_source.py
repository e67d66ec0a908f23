"""Read a YAML spec file into plain data, keeping the position of every key and value.

Hostile input is expected (specs come from pull requests): size, encoding, nesting depth and
alias expansion are bounded *before* anything walks the data as a tree, and every failure of
the YAML library becomes a positioned diagnostic rather than a traceback.
"""

from __future__ import annotations

import contextlib
import datetime
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from reconciler.diagnostics import Diagnostic
from reconciler.spec import fast_yaml

MAX_FILE_BYTES = 1024 * 1024
MAX_NODES = 100_000  # after alias expansion, per file
MAX_DEPTH = 64

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Document:
    """One YAML document: plain data plus the round-trip tree that knows where things are."""

    file: str
    index: int
    data: Any
    tree: Any

    def position(self, path: Path_, *, key: bool = False) -> tuple[int, int]:
        """1-based (line, col) of the value at `path`, or of its key when `key` is true.

        Walks as far as the path exists; a missing tail (a required field that is absent)
        points at the deepest node that does exist.
        """
        node = self.tree
        line, col = _start(node)
        for i, step in enumerate(path):
            last = i == len(path) - 1
            if isinstance(node, CommentedMap) and isinstance(step, str) and step in node:
                pos = _map_pos(node, step, key=key and last)
                if pos is not None:
                    line, col = pos
                node = node[step]
            elif isinstance(node, CommentedSeq) and isinstance(step, int) and 0 <= step < len(node):
                with contextlib.suppress(KeyError, TypeError, AttributeError):
                    line, col = node.lc.item(step)
                node = node[step]
            else:
                break
        return line + 1, col + 1


def _start(node: Any) -> tuple[int, int]:
    lc = getattr(node, "lc", None)
    if lc is not None and lc.line is not None:
        return lc.line, lc.col
    return 0, 0


def _map_pos(node: CommentedMap, step: str, *, key: bool) -> tuple[int, int] | None:
    data = (node.lc.data or {}).get(step)  # (an !!omap keeps no positions)
    if data is None:  # a key brought in by a `<<` merge has no position of its own
        return None
    if key:
        return data[0], data[1]
    child = node[step]
    if isinstance(child, (CommentedMap, CommentedSeq)) and not _is_flow(child):
        # A block mapping's "value position" is the line after the key; point at the key.
        return data[0], data[1]
    return data[2], data[3]


def _is_flow(node: Any) -> bool:
    fa = getattr(node, "fa", None)
    return bool(fa is not None and fa.flow_style())


@dataclass(frozen=True)
class ParsedFile:
    documents: tuple[Document, ...]
    diagnostics: tuple[Diagnostic, ...]


def parse_file(path: Path, display: str) -> ParsedFile:
    """Parse every document of one file; never raises for bad content."""

    def fail(line: int, col: int, message: str) -> ParsedFile:
        return ParsedFile((), (Diagnostic(display, line, col, message),))

    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return fail(1, 1, f"file is too large ({size} bytes; the limit is {MAX_FILE_BYTES})")
        raw = path.read_bytes()
    except OSError as exc:
        return fail(1, 1, f"cannot read file: {exc.strerror or exc}")
    text, problem = decode(raw)
    if problem is not None:
        return ParsedFile((), (Diagnostic(display, *problem),))
    assert text is not None
    if not text.strip():
        return fail(1, 1, "empty file: expected at least one spec document")
    return parse_text(text, display)


def decode(raw: bytes) -> tuple[str | None, tuple[int, int, str] | None]:
    if b"\x00" in raw:
        line, col = _line_col(raw, raw.index(b"\x00"))
        return None, (line, col, "binary file (NUL byte): specs must be UTF-8 text")
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line, col = _line_col(raw, exc.start)
        return None, (line, col, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})")


def _line_col(raw: bytes, offset: int) -> tuple[int, int]:
    before = raw[:offset]
    line = before.count(b"\n") + 1
    col = offset - (before.rfind(b"\n") + 1) + 1
    return line, col


def _loader() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


def load_trees(text: str, *, fast: bool = True) -> list[Any]:
    """ruamel's round-trip trees of every document; libyaml parses where that is exact (see
    fast_yaml), and anything it refuses or that fails after it is read again by ruamel alone,
    so errors are always ruamel's."""
    if fast and fast_yaml.available(text):
        try:
            return fast_yaml.load_all(_loader(), text)
        except Exception:  # the pure parser below reports whatever is wrong
            pass
    return list(_loader().load_all(text))


def parse_text(text: str, display: str, *, fast: bool = True) -> ParsedFile:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trees = load_trees(text, fast=fast)
    except MarkedYAMLError as exc:
        return ParsedFile((), (_yaml_error(exc, display),))
    except RecursionError:
        return ParsedFile((), (Diagnostic(display, 1, 1, "YAML is nested too deeply"),))
    except Exception as exc:
        # ruamel raises plain Python errors (even AssertionError, for `%YAML 1.3`) on some
        # malformed input; whatever the parser raises, the user gets a message, never a crash.
        return ParsedFile((), (Diagnostic(display, 1, 1, f"invalid YAML: {exc or type(exc).__name__}"),))

    documents: list[Document] = []
    diagnostics: list[Diagnostic] = []
    starts: list[tuple[int, int]] | None = None
    for index, tree in enumerate(trees):
        line, col = _start(tree)
        if tree is None:  # an empty document has no node to carry a position
            starts = starts if starts is not None else _document_starts(text)
            line, col = starts[index] if index < len(starts) else (0, 0)
        problem = _check_shape(tree)
        if problem is not None:
            diagnostics.append(Diagnostic(display, line + 1, col + 1, problem))
            continue
        try:
            data = to_plain(tree)
        except _KeyProblem as exc:
            line, col = exc.position
            diagnostics.append(Diagnostic(display, line + 1, col + 1, str(exc)))
            continue
        documents.append(Document(display, index, data, tree))
    if not trees:
        diagnostics.append(Diagnostic(display, 1, 1, "empty file: expected at least one spec document"))
    return ParsedFile(tuple(documents), tuple(diagnostics))


def _document_starts(text: str) -> list[tuple[int, int]]:
    yaml = YAML(typ="rt")
    return [
        (event.start_mark.line, event.start_mark.column)
        for event in yaml.parse(text)
        if type(event).__name__ == "DocumentStartEvent"
    ]


def _yaml_error(exc: MarkedYAMLError, display: str) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = (exc.problem or "").strip()
    if "\\t" in problem or "\t" in problem:
        message = "tab character where YAML expects spaces (indent with spaces)"
    elif "duplicate key" in problem:
        key = problem.split('"')[1] if '"' in problem else "?"
        message = f"duplicate key '{key}'"
        if exc.context_mark is not None:
            message += f" (first at line {exc.context_mark.line + 1})"
    else:
        context = (exc.context or "").strip()
        message = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
    return Diagnostic(display, line, col, message)


def _check_shape(tree: Any) -> str | None:
    """Refuse empty and non-mapping documents, deep nesting and alias bombs before any walk."""
    if tree is None:
        return "empty document: expected a mapping with 'kind' and 'name'"
    if not isinstance(tree, CommentedMap):
        return f"a spec document must be a mapping, not a {_type_word(tree)}"
    sizes: dict[int, int] = {}
    try:
        total = _expanded_size(tree, sizes, set(), 0)
    except _ShapeProblem as exc:
        return str(exc)
    if total > MAX_NODES:
        return f"document expands to {total} nodes through YAML aliases (the limit is {MAX_NODES})"
    return None


class _ShapeProblem(Exception):
    pass


def _expanded_size(node: Any, sizes: dict[int, int], active: set[int], depth: int) -> int:
    # Memoised by identity: an alias shares its target object, so this costs one visit per
    # distinct node while counting what a tree walk would visit.
    if not isinstance(node, (dict, list)):
        return 1
    if depth > MAX_DEPTH:
        raise _ShapeProblem(f"YAML is nested more than {MAX_DEPTH} levels deep")
    ident = id(node)
    if ident in sizes:
        return sizes[ident]
    if ident in active:
        raise _ShapeProblem("recursive YAML alias: a node contains itself")
    active.add(ident)
    children: Iterator[Any] = iter(node.values()) if isinstance(node, dict) else iter(node)
    total = 1
    for child in children:
        total += _expanded_size(child, sizes, active, depth + 1)
        if total > MAX_NODES:
            break
    active.discard(ident)
    sizes[ident] = total
    return total


class _KeyProblem(Exception):
    def __init__(self, message: str, position: tuple[int, int]) -> None:
        super().__init__(message)
        self.position = position


# Standard YAML types are data; any other tag (`!!python/object/apply:os.system`, `!custom`) asks a
# loader to build something, and ruamel's round-trip loader would keep the value and drop the tag
# without a word. Specs are data: such a tag is refused where it is written.
_STANDARD = "tag:yaml.org,2002:"
PLAIN_TAGS = frozenset(_STANDARD + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp"))


def _tag_problem(node: Any) -> str | None:
    # Two standard tags the loader turns into Python types without keeping the tag.
    if isinstance(node, (bytes, bytearray)):
        return _not_allowed("!!binary")
    if isinstance(node, (set, frozenset)) or type(node).__name__ == "CommentedSet":
        return _not_allowed("!!set")
    tag = getattr(node, "tag", None)
    value = getattr(tag, "value", None)
    if not isinstance(value, str) or value in PLAIN_TAGS:
        return None
    return _not_allowed("!!" + value[len(_STANDARD) :] if value.startswith(_STANDARD) else value)


def _not_allowed(tag: str) -> str:
    return f"YAML tag '{tag}' is not allowed: specs are plain data (mappings, lists, strings, numbers, booleans)"


def to_plain(node: Any, position: tuple[int, int] | None = None) -> Any:
    """Convert ruamel's round-trip types to plain JSON-like Python values."""
    problem = _tag_problem(node)
    if problem is not None:
        raise _KeyProblem(problem, position or _start(node))
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        where = getattr(getattr(node, "lc", None), "data", None) or {}  # (an !!omap keeps none)
        for k, v in node.items():
            found = where.get(k)
            if not isinstance(k, str):
                pos = (found[0], found[1]) if found is not None else _start(node)
                raise _KeyProblem(f"mapping keys must be strings, not {_type_word(k)}", pos)
            out[str(k)] = to_plain(v, (found[2], found[3]) if found is not None else None)
        return out
    if isinstance(node, list):
        spots = getattr(getattr(node, "lc", None), "data", None) or {}
        return [to_plain(v, tuple(spots[i][:2]) if i in spots else None) for i, v in enumerate(node)]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, (datetime.date, datetime.datetime)):
        return node.isoformat()
    return str(node)


def _type_word(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, int):
        return "number"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return type(value).__name__
