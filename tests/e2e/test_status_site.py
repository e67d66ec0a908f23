"""`reconciler status --html`: the fleet's status page, rendered after real applies (a rollback
by revert, a gate failure, a drifted batch) and opened in headless Chromium through Playwright.
The assertions are on the DOM the browser built; a screenshot of every page at 1280 and 390
pixels wide is kept in the session's temp directory (`screenshots/`) for a person to look at."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import copy_examples
from tests.e2e.conftest import Repo
from tests.e2e.test_monitor import iris_split

WIDTHS = (1280, 390)
HOSTILE = "Species <script>window.pwned = 1</script> & <img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "screenshots"


class Opened:
    """One page as the browser loaded it, with every request it made."""

    def __init__(self, browser: Any, path: Path, width: int) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": 900})
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(path.as_uri())
        self.url = path.as_uri()

    def left_the_page(self) -> list[str]:
        return [url for url in self.requests if url != self.url]

    def overflow(self) -> int:
        return int(self.page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))

    def close(self) -> None:
        self.context.close()


def check_every_page(browser: Any, site: Path, shots: Path, label: str) -> dict[str, Any]:
    """Opens every page at both widths: no request leaves it, nothing runs, nothing is wider
    than the window; saves the screenshots. Returns the 1280-wide pages, open, by path."""
    opened = {}
    shots.mkdir(parents=True, exist_ok=True)
    for path in sorted(site.rglob("*.html")):
        rel = path.relative_to(site).as_posix()
        for width in WIDTHS:
            o = Opened(browser, path, width)
            assert o.left_the_page() == [], f"{rel} made requests"
            assert o.page.evaluate("document.scripts.length") == 0
            assert o.page.evaluate("typeof window.pwned") == "undefined"
            assert o.overflow() <= 0, f"{rel} is wider than {width} px"
            o.page.screenshot(path=str(shots / f"{label}-{rel.replace('/', '-')}-{width}.png"), full_page=True)
            if width == 1280:
                opened[rel] = o
            else:
                o.close()
    return opened


def cells(o: Opened) -> dict[tuple[str, str], dict[str, str]]:
    found = o.page.eval_on_selector_all(
        "#matrix td.cell",
        "tds => tds.map(td => [td.dataset.env, td.dataset.model, td.dataset.state, td.innerText])",
    )
    return {(env, model): {"state": state, "text": text} for env, model, state, text in found}


def test_the_page_follows_a_rollback_a_gate_failure_and_a_drift(
    repo: Repo, browser: Any, shots: Path, tmp_path: Path
) -> None:
    repo.edit("specs/models/iris-classifier.yaml", "Species from measurements.", f"'{HOSTILE}'")
    repo.commit("a description a browser must not run")
    assert repo.apply()[0] == 0
    change = repo.commit_edit("specs/models/iris-classifier.yaml", "C: 1.0", "C: 0.5")
    assert repo.apply()[0] == 0
    repo.revert(change)
    assert repo.apply()[0] == 0  # the rollback: every alias back on v1, nothing trained
    # A gate staging's version cannot pass.
    repo.write("specs/gates/strict.yaml", "kind: Gate\nname: strict\nrules:\n  - {metric: accuracy, min: 0.9999}\n")
    repo.edit("environments/staging.yaml", "wine-classifier: {gates: [quality]}", "wine-classifier: {gates: [strict]}")
    repo.commit("strict staging for wine")
    assert repo.apply()[0] == 1
    # A drifted batch against what dev runs.
    batch = iris_split(0).drop(columns="target")
    batch["petal length (cm)"] += 1.8
    batch.to_csv(tmp_path / "batch.csv", index=False)
    code, out, err = repo.run(
        "monitor", "--env", "dev", "--model", "iris-classifier", "--data", str(tmp_path / "batch.csv")
    )
    assert code == 1 and "drifted" in out, out + err

    site = tmp_path / "site"
    code, out, err = repo.run("status", "--html", str(site))
    assert code == 1 and "wrote 3 page(s)" in err, out + err
    assert "Traceback" not in out + err
    pages = check_every_page(browser, site, shots, "server" if repo.server else "sqlite")
    assert set(pages) == {"index.html", "models/iris-classifier.html", "models/wine-classifier.html"}

    index = pages["index.html"]
    matrix = cells(index)
    assert set(matrix) == {
        (e, m) for e in ("dev", "staging", "production") for m in ("iris-classifier", "wine-classifier")
    }
    for (env, model), cell in matrix.items():
        expected = "Degraded" if (env, model) == ("staging", "wine-classifier") else "Synced"
        if (env, model) == ("production", "wine-classifier"):
            expected = "Degraded"  # it waits on staging
        assert cell["state"] == expected, (env, model, cell)
        assert expected in cell["text"] and "v1" in cell["text"]
    assert "accuracy" in matrix[("staging", "wine-classifier")]["text"]
    # What dev runs drifted: the cell says so in words, beside its (registry) state.
    assert "drift in petal length (cm)" in matrix[("dev", "iris-classifier")]["text"]
    assert "drift" not in matrix[("staging", "iris-classifier")]["text"]
    # Every cell names its fingerprint, and the link reaches the model's page.
    assert index.page.locator("#matrix code.fp").count() == 6
    index.page.click("text=iris-classifier")
    assert index.page.url.endswith("/models/iris-classifier.html")

    iris = pages["models/iris-classifier.html"]
    assert iris.page.inner_text("#description") == HOSTILE  # the text itself, never markup
    moves = iris.page.eval_on_selector_all(
        "#timeline li", "lis => lis.map(li => [li.dataset.env, li.dataset.kind, li.innerText])"
    )
    rollbacks = [(env, text) for env, kind, text in moves if kind == "rollback"]
    assert sorted(env for env, _ in rollbacks) == ["dev", "production", "staging"]
    assert all("v2 → v1" in text and "ROLLBACK" in text.upper() for _, text in rollbacks)
    assert [kind for _, kind, _ in moves].count("promote") == 6
    monitor = iris.page.locator("section.monitor[data-env='dev']")
    assert monitor.get_attribute("data-verdict") == "drifted"
    assert monitor.locator("svg.histogram").count() == 5  # four features and the predictions
    assert "petal length (cm)" in monitor.inner_text()

    wine = pages["models/wine-classifier.html"]
    failed = wine.page.eval_on_selector_all(
        "section[data-version='v1'] tr.rule.failed",
        "trs => trs.map(tr => [tr.dataset.env, tr.dataset.metric, tr.innerText])",
    )
    assert [(env, metric) for env, metric, _ in failed] == [("staging", "accuracy")]
    assert "0.9999" in failed[0][2] and "failed" in failed[0][2]
    for o in pages.values():
        o.close()


def test_the_examples_after_apply(
    tmp_path: Path, browser: Any, shots: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconciler.cli import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    repo = copy_examples(tmp_path / "examples")
    assert main(["apply", str(repo)]) == 0
    site = tmp_path / "site"
    capsys.readouterr()
    assert main(["status", str(repo), "--html", str(site)]) == 0
    pages = check_every_page(browser, site, shots, "examples")
    matrix = cells(pages["index.html"])
    models = {
        line.split(":", 1)[1].strip()
        for p in (repo / "specs" / "models").glob("*.yaml")
        for line in p.read_text().splitlines()
        if line.startswith("name:")
    }
    assert {m for _, m in matrix} == models and len(matrix) == 3 * len(models)
    assert {c["state"] for c in matrix.values()} == {"Synced"}
    for o in pages.values():
        o.close()


def test_a_site_directory_that_cannot_be_written_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.e2e.conftest import SMALL_SPECS, make_repo

    repo = make_repo(tmp_path / "repo", SMALL_SPECS, capsys)
    blocker = tmp_path / "taken"
    blocker.write_text("a file where the site's directory should be")
    code, out, err = repo.run("status", "--html", str(blocker))
    assert code == 1 and "Traceback" not in out + err
    assert f"reconciler: cannot write the status site to {blocker}" in err, err
    assert blocker.read_text().startswith("a file")
    # Nothing deployed yet: every cell is Missing, and the page says so.
    code, out, err = repo.run("status", "--html", str(tmp_path / "site"))
    assert code == 1 and "wrote 3 page(s)" in err
    index = (tmp_path / "site" / "index.html").read_text()
    assert index.count('data-state="Missing"') == 6
