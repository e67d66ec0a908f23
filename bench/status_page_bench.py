"""The status page (`reconciler status --html`) at fleet size: rendering every page, and loading
the index of N models x 3 environments in headless Chromium, beside a plain HTML table of the
same cells and text (no style, no marks: what any browser needs at least for that much text).

    python bench/status_page_bench.py [--models 100] [--repeat 5]

The browser is the machine's Chromium, driven by Playwright (installed with the test extra).
"""

from __future__ import annotations

import argparse
import html
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from reconciler.render.site import MARKS, Cell, ModelPage, Move, Site, VersionView, page_name, pages

ENVIRONMENTS = ("dev", "staging", "production")
STATES = ("Synced", "Synced", "Synced", "OutOfSync", "Progressing", "Degraded", "Missing")


def fleet(models: int) -> Site:
    """A fleet whose cells cycle through every state, each with the reason a real one gives."""
    out = []
    for i in range(models):
        name = f"model-{i:03d}-classifier"
        cells = []
        for j, env in enumerate(ENVIRONMENTS):
            state = STATES[(i + j) % len(STATES)]
            reason = "" if state == "Synced" else f"v{i % 5 + 2} failed gates: quality: accuracy 0.71 < 0.8 ({env})"
            drift = "drift in petal length (cm) (2026-11-30)" if (i + j) % 11 == 0 else ""
            cells.append(
                Cell(
                    env,
                    name,
                    state,
                    MARKS[state],
                    f"v{i % 5 + 1}",
                    f"v{i % 5 + 2}",
                    f"{i:08x}",
                    reason,
                    "2026-11-30",
                    "abc1234",
                    drift,
                )
            )
        moves = tuple(
            Move("2026-11-30T10:00:00Z", env, "v1", "v2", "promote", "abc1234", "promote once the gates pass", False)
            for env in ENVIRONMENTS
        )
        versions = tuple(
            VersionView(f"v{k}", f"{k:08x}", "abc1234", "2026-11-30 10:00", (), (), ()) for k in range(1, 4)
        )
        out.append(
            ModelPage(
                name,
                page_name(name),
                "A model.",
                "iris",
                "sklearn.linear_model.LogisticRegression",
                tuple(cells),
                moves,
                versions,
                (),
                (),
            )
        )
    every = [c.state for p in out for c in p.cells]
    counts = tuple((s, MARKS[s], every.count(s)) for s in MARKS if every.count(s))
    return Site("2026-11-30 10:00 UTC", "abc1234", "http://mlflow.internal", ENVIRONMENTS, tuple(out), counts)


def plain_table(site: Site) -> str:
    """The same cells and words as a bare table: the browser's floor for that much content."""
    rows = []
    for page in site.models:
        tds = "".join(
            f"<td>{c.state} {c.actual} {c.fingerprint} {html.escape(c.reason)} {html.escape(c.drift)}</td>"
            for c in page.cells
        )
        rows.append(f"<tr><th>{html.escape(page.name)}</th>{tds}</tr>")
    head = "".join(f"<th>{e}</th>" for e in site.environments)
    top = "<!DOCTYPE html><html><head><meta charset='utf-8'><title>t</title></head><body>"
    return f"{top}<table><tr><th>Model</th>{head}</tr>{''.join(rows)}</table></body></html>"


def load_ms(browser: object, path: Path, repeat: int) -> tuple[float, float]:
    """Median time to the load event (navigation timing) and to the first paint after it."""
    loads, painted = [], []
    for _ in range(repeat):
        page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
        start = time.perf_counter()
        page.goto(path.as_uri(), wait_until="load")
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        painted.append((time.perf_counter() - start) * 1000)
        loads.append(float(page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")))
        page.close()
    return statistics.median(loads), statistics.median(painted)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    site = fleet(args.models)
    renders = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        written = pages(site)
        renders.append(time.perf_counter() - start)
    render = statistics.median(renders)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    print(f"# status page benchmark ({args.models} models x {len(ENVIRONMENTS)} environments, median of {args.repeat})")
    print(f"{'work':<58} {'value':>12}")
    print(f"{'render every page (' + str(len(written)) + ' pages)':<58} {render * 1000:>9.1f} ms")
    print(f"{'index.html size':<58} {len(written['index.html'].encode()) / 1024:>9.1f} KB")
    if chromium is None:
        print("no Chromium here: the load in a browser is not measured")
        return 0
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "index.html").write_text(written["index.html"], encoding="utf-8")
        (root / "plain.html").write_text(plain_table(site), encoding="utf-8")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
            load_ms(browser, root / "plain.html", 1)  # warm the browser up
            ours, ours_painted = load_ms(browser, root / "index.html", args.repeat)
            floor, floor_painted = load_ms(browser, root / "plain.html", args.repeat)
            browser.close()
    print(f"{'index.html: load event':<58} {ours:>9.1f} ms")
    print(f"{'index.html: open to painted (wall)':<58} {ours_painted:>9.1f} ms")
    print(f"{'baseline: bare table, same text: load event':<58} {floor:>9.1f} ms")
    print(f"{'baseline: bare table, same text: open to painted (wall)':<58} {floor_painted:>9.1f} ms")
    print(f"index painted / bare table painted: {ours_painted / floor_painted:.2f}x")
    met = "met" if ours_painted < 1000 else "NOT MET"
    print(f"target: index of {args.models} x {len(ENVIRONMENTS)} painted in < 1000 ms: {ours_painted:.0f} ms ({met})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
