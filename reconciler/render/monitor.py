"""Monitoring reports for people: a terminal table, Markdown for a job summary, a self-contained
HTML page with a histogram per feature (inline SVG), and a PNG of one histogram."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler.monitor.check import MonitorReport
from reconciler.monitor.drift import ColumnDrift, Histogram
from reconciler.render.views import environment, render

REFERENCE_COLOUR = (120, 144, 156)
LIVE_COLOUR = (230, 97, 0)


def text(reports: Sequence[MonitorReport]) -> str:
    return render("monitor.txt.j2", reports=reports)


def markdown(reports: Sequence[MonitorReport], images: dict[str, str] | None = None) -> str:
    return render("monitor.md.j2", reports=reports, images=images or {})


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    share: float


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    reference: tuple[Bar, ...]
    live: tuple[Bar, ...]
    labels: tuple[tuple[float, str], ...]


def chart(h: Histogram, width: int = 520, height: int = 180) -> Chart:
    """Bar geometry, reference and live side by side in each bin; the largest share fills the
    plot's height."""
    bins = max(1, len(h.labels))
    top = max([*h.reference, *h.live, 1e-9])
    slot = width / bins
    bar = slot * 0.4
    plot = height - 30

    def bars(shares: Sequence[float], offset: float) -> tuple[Bar, ...]:
        out = []
        for i, share in enumerate(shares):
            tall = plot * share / top
            out.append(Bar(i * slot + offset, plot - tall, bar, tall, h.labels[i], share))
        return tuple(out)

    labels = tuple((i * slot + slot / 2, label) for i, label in enumerate(h.labels))
    return Chart(width, height, bars(h.reference, slot * 0.1), bars(h.live, slot * 0.5), labels)


def html(report: MonitorReport) -> str:
    columns = [*report.drift.features]
    if report.drift.prediction is not None:
        columns.append(report.drift.prediction)
    charts = {c.name: chart(c.histogram) for c in columns}
    page = environment(html=True).get_template("monitor.html.j2")
    return str(page.render(report=report, columns=columns, charts=charts))


def most_drifted(report: MonitorReport) -> ColumnDrift | None:
    candidates = [*report.drift.features]
    return max(candidates, key=lambda c: (c.drifted, c.psi), default=None)


def histogram_png(column: ColumnDrift, path: Path, width: int = 640, height: int = 260) -> Path:
    """The same chart as in the HTML report, as a PNG (for places that show images, not SVG)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    title = f"{column.name}: {column.describe()}{'  DRIFTED' if column.drifted else ''}"
    draw.text((10, 6), title, fill=(0, 0, 0))
    draw.rectangle((width - 190, 6, width - 180, 16), fill=REFERENCE_COLOUR)
    draw.text((width - 175, 6), "training", fill=(0, 0, 0))
    draw.rectangle((width - 110, 6, width - 100, 16), fill=LIVE_COLOUR)
    draw.text((width - 95, 6), "live batch", fill=(0, 0, 0))
    c = chart(column.histogram, width - 20, height - 40)
    for bars, colour in ((c.reference, REFERENCE_COLOUR), (c.live, LIVE_COLOUR)):
        for b in bars:
            if b.height > 0:
                draw.rectangle((10 + b.x, 30 + b.y, 10 + b.x + b.width, 30 + b.y + b.height), fill=colour)
    base = 30 + c.height - 30
    draw.line((10, base, width - 10, base), fill=(0, 0, 0))
    step = max(1, len(c.labels) // 6)
    for x, label in c.labels[::step]:
        # Pillow's built-in font has no en dash.
        draw.text((10 + x - 20, base + 6), label.replace("–", "-")[:14], fill=(60, 60, 60))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")
    return path
