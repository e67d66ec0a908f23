"""Compiled templates are kept between runs in the user's cache; a broken or unwritable cache
only costs the compile."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.render import views


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    views.environment.cache_clear()
    yield
    views.environment.cache_clear()


def test_templates_are_compiled_once_then_read_back() -> None:
    views.environment().get_template("plan.txt.j2")
    cached = sorted(views.template_cache_dir().iterdir())
    assert cached, "the compiled template is written to the cache"
    before = {p: p.read_bytes() for p in cached}
    views.environment.cache_clear()
    views.environment().get_template("plan.txt.j2")
    assert {p: p.read_bytes() for p in sorted(views.template_cache_dir().iterdir())} == before


def test_a_corrupt_cache_entry_is_compiled_again() -> None:
    views.environment().get_template("plan.txt.j2")
    for entry in views.template_cache_dir().iterdir():
        entry.write_bytes(b"not bytecode")
    views.environment.cache_clear()
    assert views.environment().get_template("plan.txt.j2") is not None
    assert all(p.read_bytes() != b"not bytecode" for p in views.template_cache_dir().iterdir())


def test_an_unusable_cache_location_only_costs_the_compile(tmp_path: Path) -> None:
    blocker = views.template_cache_dir().parent
    blocker.parent.mkdir(parents=True)
    blocker.write_text("a file where the cache directory would go")
    assert views.environment().get_template("plan.txt.j2") is not None
