"""The status site's pure parts: the ledger as a timeline, page names, escaping, and reports it
cannot read. (The pages in a browser, after real applies: tests/e2e/test_status_site.py.)"""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from reconciler.render.site import (
    Cell,
    ModelPage,
    Site,
    monitor_view,
    moves,
    page_name,
    pages,
)
from reconciler.state.actual import LedgerEntry, RegisteredModelState


def entry(seq: int, env: str, before: str | None, after: str | None, event: str = "") -> LedgerEntry:
    return LedgerEntry(
        seq, env, before, after, f"c{seq:06d}", f"2026-11-30T10:{seq:02d}:00Z", "p", "", "", False, event
    )


def model(*ledger: LedgerEntry) -> RegisteredModelState:
    return RegisteredModelState("m", True, {}, {}, ledger)


def test_a_move_back_to_a_version_the_environment_held_is_a_rollback() -> None:
    rm = model(
        entry(1, "dev", None, "1"),
        entry(2, "prod", None, "1"),
        entry(3, "dev", "1", "2"),
        entry(4, "dev", "2", "1"),  # back: a rollback
        entry(5, "prod", "1", "2"),  # prod never held 2 before: a promote
        entry(6, "dev", "1", "3"),
        entry(7, "dev", "3", None),
        entry(8, "prod", "2", "2", event="started"),
    )
    timeline = moves(rm)
    assert [m.at[11:16] for m in timeline] == [f"10:{n:02d}" for n in range(8, 0, -1)]  # newest first
    kinds = {int(m.at[14:16]): m.kind for m in timeline}
    assert kinds == {
        1: "promote",
        2: "promote",
        3: "promote",
        4: "rollback",
        5: "promote",
        6: "promote",
        7: "remove",
        8: "rollout",
    }
    assert next(m for m in timeline if m.kind == "rollback").before == "v2"


def test_a_first_deployment_is_never_a_rollback_even_of_an_old_version() -> None:
    assert [
        m.kind for m in moves(model(entry(1, "dev", None, "1"), entry(2, "dev", "1", None), entry(3, "dev", None, "1")))
    ] == [
        "promote",
        "remove",
        "promote",
    ]


@given(st.text(min_size=1, max_size=120))
def test_every_model_name_gives_a_safe_and_distinct_file_name(name: str) -> None:
    rel = page_name(name)
    assert re.fullmatch(r"models/[A-Za-z0-9_-][A-Za-z0-9._-]*\.html", rel), rel
    if rel != f"models/{name}.html":
        assert page_name(name + "x") != rel


def test_names_that_differ_only_in_unsafe_characters_get_different_pages() -> None:
    assert page_name("a/b") != page_name("a_b") != page_name("a b")
    assert page_name("../../etc/passwd").startswith("models/") and "/" not in page_name("../x")[len("models/") :]


def site_with(description: str, reason: str) -> Site:
    cell = Cell("dev", "m<1>", "Degraded", "✗", "v1", "v2", "abcdef12", reason, "2026-11-30", "c000001")
    page = ModelPage("m<1>", page_name("m<1>"), description, "d", "e", (cell,), (), (), (), ())
    return Site("now", "abc1234", "sqlite:///x", ("dev",), (page,), (("Degraded", "✗", 1),))


def test_text_from_specs_and_the_registry_is_escaped_everywhere() -> None:
    hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    out = pages(site_with(hostile, hostile))
    assert len(out) == 2
    for html in out.values():
        assert "<script" not in html and "<img" not in html
        assert "&lt;script&gt;" in html
        # Nothing to fetch: no external reference, and a policy that forbids any.
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
        assert "default-src 'none'" in html
    assert "m&lt;1&gt;" in out["index.html"]


def test_a_report_that_cannot_be_read_shows_the_check_without_histograms() -> None:
    summary = {"verdict": "drifted", "at": "2026-11-30T10:00:00Z", "rows": 40, "drifted": ["a"]}
    missing = monitor_view("dev", "1", summary, None)
    assert missing.features == () and "could not be read" in missing.note and missing.drifted == ("a",)
    broken = monitor_view("dev", "1", summary, {"drift": {"features": [{"name": "a", "histogram": {"labels": [1]}}]}})
    assert broken.features == () and "KeyError" in broken.note
    uneven = {
        "drift": {
            "features": [
                {
                    "name": "a",
                    "drifted": True,
                    "psi": 1.0,
                    "histogram": {"labels": ["x"], "reference": [1.0], "live": []},
                }
            ]
        }
    }
    assert monitor_view("dev", "1", summary, uneven).features == ()


def test_a_monitoring_summary_is_read_from_its_tag_and_a_broken_one_is_none() -> None:
    from reconciler.state import tags as t
    from reconciler.state.actual import VersionState

    def version(raw: str) -> VersionState:
        return VersionState("m", "1", "f" * 64, None, "", "", {t.MONITOR_PREFIX + "dev": raw})

    assert version('{"verdict": "drifted", "run_id": "r"}').monitor("dev") == {"verdict": "drifted", "run_id": "r"}
    assert version('{"verdict": "drifted"}').monitor("staging") is None
    assert version("not json").monitor("dev") is None and version("[1]").monitor("dev") is None
