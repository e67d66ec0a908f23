"""libyaml's parser under ruamel's composer and constructor reads every file exactly as ruamel
alone does: the same data (YAML 1.2 scalars, merge keys, duplicate keys), the same line and
column for every key and value, the same diagnostics. Checked on the public YAML test suite, the
hostile corpus, the examples and generated documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.spec import fast_yaml
from reconciler.spec.yaml_source import Document, ParsedFile, _loader, decode, parse_text
from tests.conftest import ROOT

SOURCES = [ROOT / "tests" / "corpus", ROOT / "specs", ROOT / "environments", ROOT / "policies"]
FILES = sorted(p for root in SOURCES for p in root.rglob("*.y*ml"))

pytestmark = pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML without libyaml: ruamel alone")


def _positions(doc: Document, data: Any, path: tuple[str | int, ...] = ()) -> dict[Any, Any]:
    out: dict[Any, Any] = {path: (doc.position(path), doc.position(path, key=True))}
    if isinstance(data, dict):
        for k, v in data.items():
            out.update(_positions(doc, v, (*path, k)))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out.update(_positions(doc, v, (*path, i)))
    return out


def _seen(parsed: ParsedFile) -> tuple[Any, ...]:
    return tuple((d.index, d.data, _positions(d, d.data)) for d in parsed.documents), parsed.diagnostics


def _same(text: str) -> None:
    assert _seen(parse_text(text, "f.yaml", fast=True)) == _seen(parse_text(text, "f.yaml", fast=False))


def test_the_corpus_is_there() -> None:
    assert len(FILES) > 500


@pytest.mark.parametrize("path", FILES, ids=[p.relative_to(ROOT).as_posix() for p in FILES])
def test_both_parsers_read_every_input_alike(path: Path) -> None:
    text, problem = decode(path.read_bytes())
    if text is None:
        pytest.skip(f"not text: {problem}")
    _same(text)


def test_the_examples_take_the_fast_path() -> None:
    """Not a vacuous comparison: every example file is read by libyaml, and ruamel's own
    parser is never used for them."""
    examples = [p for p in FILES if not p.is_relative_to(ROOT / "tests")]
    assert examples
    for path in examples:
        text = path.read_text()
        assert fast_yaml.available(text), path
        fast_yaml.load_all(_loader(), text)  # raises Unsupported if it fell back


@pytest.mark.parametrize(
    "text",
    [
        "a: 0o17\nb: 010\nc: 0x1F\nd: 1_000\ne: yes\nf: on\ng: ~\nh: 1e3\ni: .inf\nj: 2001-12-14\n",
        "base: &b {x: 1}\nmerged:\n  <<: *b\n  y: 2\n",
        "a: 1\nb: 2\na: 3\n",
        "a: 1\n---\nb: [1, 2, {c: d}]\n...\n",
        "k: |\n  line one\n   more\n\n  end\nf: >-\n  folded\n  text\n",
        "'quoted key': \"esc\\ttab \\u00e9\"\nplain: multi\n  line\n",
    ],
)
def test_scalars_merges_duplicates_and_documents_read_alike(text: str) -> None:
    _same(text)


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=st.sampled_from("ab:#- '\"\\\n{}[],.0189eExyz"), max_size=12),
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text("abkz:# -", min_size=1, max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(DOCUMENTS, st.booleans())
def test_generated_documents_read_alike(data: Any, flow: bool) -> None:
    _same(yaml.safe_dump({"kind": "Model", "body": data}, default_flow_style=flow, allow_unicode=True))
