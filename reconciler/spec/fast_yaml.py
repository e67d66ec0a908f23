"""libyaml's C parser under ruamel's resolver and constructor.

ruamel.yaml's round-trip loader is pure Python, and its scanner, parser and composer are most
of a spec parse (about 8x libyaml's on 1,000 files). Those are swapped: libyaml turns the text
into events, the nodes are built from them here, each implicit tag decided by ruamel's own
resolver, and ruamel's round-trip constructor builds the tree as always, so YAML 1.2 scalar
rules, merge keys, duplicate-key errors and every line/column are ruamel's own. What the two
parsers were seen to read differently (tabs, and the constructs `_Checks` lists) is left to
ruamel alone, and so is any text libyaml refuses, whose error ruamel words and positions.
`tests/test_fast_yaml.py` holds both paths equal on the public YAML test suite, the hostile
corpus, the examples and generated documents.
"""

from __future__ import annotations

import re
from typing import Any, cast

from ruamel.yaml import YAML
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

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


class _Checks:
    """Event by event, the constructs where the two parsers were seen to disagree (on the YAML
    test suite): directives (`%YAML 1.1` changes the scalar rules), tags (ruamel keeps a tag's
    handle), anchors and aliases (ruamel allows other anchor characters), empty plain scalars
    (placed at different marks), block scalars with leading blank lines or an unusual header
    (ruamel refuses some), implicit pairs in a flow sequence, and a comment line between a key
    and its value (ruamel fails on some)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._lines: list[str] | None = None  # split only if some value sits lines below its key
        self.stack: list[list[Any]] = []  # per open collection: [is_block_mapping, expecting_key, key_end_line]

    def node(self, event: Any, name: str) -> None:
        if name == "AliasEvent" or event.anchor is not None or event.tag is not None:
            raise Unsupported("an anchor, an alias or a tag")
        if self.stack and self.stack[-1][0]:
            frame = self.stack[-1]
            if not frame[1] and event.start_mark.line > frame[2] + 1:
                if self._lines is None:
                    self._lines = self.text.splitlines()
                between = "\n".join(self._lines[frame[2] + 1 : event.start_mark.line])
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
            out.append(event)
    except _pyyaml.YAMLError as exc:
        raise Unsupported(str(exc)) from exc
    finally:
        parser.dispose()
    return out


class _Parser:
    """Stands in for ruamel's parser, which the composer below makes unnecessary."""

    def __init__(self, loader: Any = None) -> None:
        pass

    def dispose(self) -> None:
        pass


class _Composer:
    """ruamel's composer interface, building ruamel's nodes straight from libyaml's events,
    with ruamel's resolver deciding each implicit tag (YAML 1.2, as ruamel alone would). The
    events hold no anchors, aliases or tags (the checks sent those to ruamel alone)."""

    def __init__(self, queue: list[Any], resolver: Any) -> None:
        self._queue = queue
        self._at = 0
        self._resolver = resolver
        self._resolved: dict[tuple[str, tuple[bool, bool]], Any] = {}

    def _peek(self) -> str:
        return type(self._queue[self._at]).__name__

    def check_node(self) -> bool:
        if self._peek() == "StreamStartEvent":
            self._at += 1
        return self._peek() != "StreamEndEvent"

    def get_node(self) -> Any:
        if self._peek() == "StreamEndEvent":
            return None
        self._at += 1  # DocumentStartEvent
        node = self._node()
        self._at += 1  # DocumentEndEvent
        return node

    def _node(self) -> Any:
        event = self._queue[self._at]
        self._at += 1
        name = type(event).__name__
        if name == "ScalarEvent":
            key = (event.value, event.implicit)
            tag = self._resolved.get(key)
            if tag is None:
                tag = self._resolved[key] = self._resolver.resolve(ScalarNode, event.value, event.implicit)
            # libyaml calls the plain style '', ruamel None
            return ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style or None)
        if name == "SequenceStartEvent":
            tag = self._resolver.resolve(SequenceNode, None, event.implicit)
            seq = SequenceNode(tag, [], event.start_mark, None, flow_style=event.flow_style)
            while self._peek() != "SequenceEndEvent":
                seq.value.append(self._node())
            seq.end_mark = self._queue[self._at].end_mark
            self._at += 1
            return seq
        if name == "MappingStartEvent":
            tag = self._resolver.resolve(MappingNode, None, event.implicit)
            mapping = MappingNode(tag, [], event.start_mark, None, flow_style=event.flow_style)
            while self._peek() != "MappingEndEvent":
                key_node = self._node()
                mapping.value.append((key_node, self._node()))
            mapping.end_mark = self._queue[self._at].end_mark
            self._at += 1
            return mapping
        raise Unsupported(name)


def load_all(yaml: YAML, text: str) -> list[Any]:
    """What `yaml.load_all(text)` returns, parsed by libyaml (raises Unsupported to fall back)."""
    queue = events(text)
    if getattr(yaml.resolver, "yaml_path_resolvers", None):
        raise Unsupported("path resolvers")  # ruamel's composer consults them; this one does not
    composer = _Composer(queue, yaml.resolver)
    yaml.Parser = _Parser
    # ruamel makes its composer from the loader on first use: hand it this one
    yaml.Composer = cast(Any, lambda loader: composer)
    return list(yaml.load_all(text))
