"""libyaml's C parser under ruamel's composer, resolver and constructor.

ruamel.yaml's round-trip loader is pure Python, and its scanner and parser are most of a
no-op plan's parse (about 8x libyaml's on 1,000 files). Only those two are swapped: libyaml
turns the text into events, and ruamel builds the same round-trip tree from them as always, so
YAML 1.2 scalar rules, merge keys, anchors, duplicate-key errors and every line/column are
ruamel's own. What the two parsers were seen to read differently (tabs, and the constructs
`_Checks` lists) is left to ruamel alone, and so is any text libyaml refuses, whose error ruamel
words and positions. `tests/test_fast_yaml.py` holds both paths equal on the public YAML test
suite, the hostile corpus, the examples and generated documents.
"""

from __future__ import annotations

import re
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml import events as ev
from ruamel.yaml.tag import Tag

try:
    import yaml as _pyyaml  # type: ignore[import-untyped]
    from yaml import _yaml as _libyaml
except ImportError:  # PyYAML without libyaml: ruamel alone
    _pyyaml = None
    _libyaml = None

# Tabs: ruamel refuses some that libyaml allows. Such text never takes the fast path.
NOT_FAST = re.compile(r"\t")
BLOCK_HEADER = re.compile(r"[|>][+-]?(?: +#[^\n]*)? *(?:\n|$)")
COMMENT_LINE = re.compile(r"^ *#", re.MULTILINE)


class Unsupported(Exception):
    """libyaml cannot be trusted with this text: parse it with ruamel alone."""


def available(text: str) -> bool:
    return _libyaml is not None and NOT_FAST.search(text) is None


def _tag(tag: str | None) -> Tag | None:
    return None if tag is None else Tag(suffix=tag)


def _convert(event: Any) -> Any:
    name = type(event).__name__
    start, end = event.start_mark, event.end_mark
    if name == "ScalarEvent":
        # libyaml calls the plain style '', ruamel None
        return ev.ScalarEvent(
            event.anchor, _tag(event.tag), event.implicit, event.value, start, end, style=event.style or None
        )
    if name == "MappingStartEvent":
        return ev.MappingStartEvent(
            event.anchor, _tag(event.tag), event.implicit, start, end, flow_style=event.flow_style
        )
    if name == "SequenceStartEvent":
        return ev.SequenceStartEvent(
            event.anchor, _tag(event.tag), event.implicit, start, end, flow_style=event.flow_style
        )
    if name == "AliasEvent":
        return ev.AliasEvent(event.anchor, start, end)
    if name == "MappingEndEvent":
        return ev.MappingEndEvent(start, end)
    if name == "SequenceEndEvent":
        return ev.SequenceEndEvent(start, end)
    if name == "DocumentStartEvent":
        return ev.DocumentStartEvent(start, end, explicit=event.explicit)
    if name == "DocumentEndEvent":
        return ev.DocumentEndEvent(start, end, explicit=event.explicit)
    if name == "StreamStartEvent":
        return ev.StreamStartEvent(start, end)
    if name == "StreamEndEvent":
        return ev.StreamEndEvent(start, end)
    raise Unsupported(name)


class _Checks:
    """Event by event, the constructs where the two parsers were seen to disagree (on the YAML
    test suite): directives (`%YAML 1.1` changes the scalar rules), tags (ruamel keeps a tag's
    handle), anchors and aliases (ruamel allows other anchor characters), empty plain scalars
    (placed at different marks), block scalars with leading blank lines or an unusual header
    (ruamel refuses some), implicit pairs in a flow sequence, and a comment line between a key
    and its value (ruamel fails on some)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.stack: list[list[Any]] = []  # per open collection: [is_block_mapping, expecting_key, key_end_line]

    def node(self, event: Any, name: str) -> None:
        if name == "AliasEvent" or event.anchor is not None or event.tag is not None:
            raise Unsupported("an anchor, an alias or a tag")
        if self.stack and self.stack[-1][0]:
            frame = self.stack[-1]
            if not frame[1] and event.start_mark.line > frame[2] + 1:
                between = "\n".join(self.text.splitlines()[frame[2] + 1 : event.start_mark.line])
                if COMMENT_LINE.search(between):
                    raise Unsupported("a comment between a key and its value")
            frame[2] = event.end_mark.line
            frame[1] = not frame[1]
        if name == "ScalarEvent":
            self.scalar(event)
        elif name in ("MappingStartEvent", "SequenceStartEvent"):
            if name == "MappingStartEvent" and event.flow_style and self.text[event.start_mark.index] != "{":
                raise Unsupported("an implicit pair in a flow sequence")
            self.stack.append([name == "MappingStartEvent" and not event.flow_style, True, 0])

    def scalar(self, event: Any) -> None:
        if not event.style and event.value == "":
            raise Unsupported("an empty plain scalar")
        if event.style in ("|", ">"):
            at = event.start_mark.index
            header = BLOCK_HEADER.match(self.text, at)
            if header is None:
                raise Unsupported("a block scalar header")
            following = self.text[header.end() :].split("\n", 1)[0]
            if not following.strip():
                raise Unsupported("a block scalar starting with a blank line")

    def end(self) -> None:
        self.stack.pop()


def events(text: str) -> list[Any]:
    """Every event of the text, or Unsupported when libyaml refuses it or it holds a construct
    the two parsers read differently."""
    assert _libyaml is not None and _pyyaml is not None
    parser = _libyaml.CParser(text)
    checks = _Checks(text)
    out = []
    try:
        while True:
            event = parser.get_event()
            if event is None:
                break
            name = type(event).__name__
            if name in ("ScalarEvent", "MappingStartEvent", "SequenceStartEvent", "AliasEvent"):
                checks.node(event, name)
            elif name == "DocumentStartEvent" and (event.version is not None or event.tags):
                raise Unsupported("a directive")
            elif name in ("MappingEndEvent", "SequenceEndEvent"):
                checks.end()
            out.append(_convert(event))
    except _pyyaml.YAMLError as exc:
        raise Unsupported(str(exc)) from exc
    finally:
        parser.dispose()
    return out


class _EventParser:
    """ruamel's parser interface over a list of events made beforehand."""

    def __init__(self, queue: list[Any]) -> None:
        self._queue = queue
        self._at = 0

    def check_event(self, *choices: Any) -> bool:
        if self._at >= len(self._queue):
            return False
        return not choices or isinstance(self._queue[self._at], choices)

    def peek_event(self) -> Any:
        return self._queue[self._at]

    def get_event(self) -> Any:
        event = self._queue[self._at]
        self._at += 1
        return event

    def dispose(self) -> None:
        self._queue = []


def load_all(yaml: YAML, text: str) -> list[Any]:
    """What `yaml.load_all(text)` returns, parsed by libyaml (raises Unsupported to fall back)."""
    queue = events(text)
    parser = _EventParser(queue)
    yaml.Parser = lambda loader: parser  # ruamel makes its parser from the loader: hand it ours
    return list(yaml.load_all(text))
