"""Charts drawn on the server as SVG: shapes computed here, drawn by templates/_charts.html.

Server-drawn SVG rather than a vendored JavaScript chart library: nothing to download or keep up
to date, works on an intranet and with scripts off, prints, and the page's strict CSP holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Plot", "Bars", "Lines", "Heat", "bars", "lines", "heat"]

W, H = 640, 220  # the drawing's own units; CSS scales it to the screen
LEFT, BOTTOM, TOP, RIGHT = 44, 24, 12, 8


Marks = list[dict[str, float | str]]  # positions and labels the template draws


@dataclass(kw_only=True)
class Plot:
    """A chart with a y axis: its title, the axis's ticks, its size; `empty` when there is no data."""

    title: str
    ticks: Marks
    width: int = W
    height: int = H
    empty: bool = False


@dataclass(kw_only=True)
class Bars(Plot):
    rects: Marks


@dataclass(kw_only=True)
class Lines(Plot):
    series: list[dict[str, object]]  # name, css class, points "x,y x,y", dots
    labels: Marks  # x axis


@dataclass
class Heat:
    title: str
    cells: list[dict[str, float | str]]
    rows: list[dict[str, float | str]]
    cols: list[dict[str, float | str]]
    width: int = W
    height: int = 200
    legend: list[str] = field(default_factory=list)


def _nice(top: float) -> float:
    """A round axis maximum at or above `top`."""
    if top <= 0:
        return 1.0
    step = 10 ** (len(str(int(top))) - 1)
    for m in (1, 2, 2.5, 5, 10):
        if top <= m * step:
            return m * step
    return 10.0 * step


def _ticks(top: float, fmt: str = "{:g}") -> list[dict[str, float | str]]:
    plot = H - BOTTOM - TOP
    return [{"y": TOP + plot * (1 - k / 4), "label": fmt.format(top * k / 4)} for k in range(5)]


def bars(title: str, labels: list[str], values: list[float], every: int = 1) -> Bars:
    """Vertical bars, one per label; every `every`th label is written under its bar."""
    top = _nice(max(values, default=0))
    plot_w, plot_h = W - LEFT - RIGHT, H - BOTTOM - TOP
    slot = plot_w / max(1, len(values))
    rects: list[dict[str, float | str]] = []
    for i, (label, v) in enumerate(zip(labels, values, strict=True)):
        h = plot_h * v / top
        rects.append(
            {
                "x": LEFT + i * slot + slot * 0.15,
                "y": TOP + plot_h - h,
                "w": slot * 0.7,
                "h": h,
                "label": label if i % every == 0 else "",
                "lx": LEFT + i * slot + slot / 2,
                "value": f"{label}: {v:g}",
            }
        )
    return Bars(title=title, rects=rects, ticks=_ticks(top), empty=not any(values))


def lines(title: str, labels: list[str], series: dict[str, list[float | None]], unit: str = "") -> Lines:
    """One line per series over the labels; a None is a gap (no data that day)."""
    top = _nice(max((v for vs in series.values() for v in vs if v is not None), default=0))
    plot_w, plot_h = W - LEFT - RIGHT, H - BOTTOM - TOP
    step = plot_w / max(1, len(labels))  # each label at the middle of its slot, as the bars are
    out = []
    for k, (name, values) in enumerate(series.items()):
        dots = [
            {
                "x": LEFT + (i + 0.5) * step,
                "y": TOP + plot_h * (1 - v / top),
                "value": f"{labels[i]} {name}: {v:g}{unit}",
            }
            for i, v in enumerate(values)
            if v is not None
        ]
        out.append(
            {"name": name, "css": f"s{k}", "points": " ".join(f"{d['x']:.1f},{d['y']:.1f}" for d in dots), "dots": dots}
        )
    every = max(1, len(labels) // 10)
    marks = [{"x": LEFT + (i + 0.5) * step, "label": lb} for i, lb in enumerate(labels) if i % every == 0]
    empty = not any(v is not None for vs in series.values() for v in vs)
    return Lines(title=title, series=out, ticks=_ticks(top, "{:g}" + unit), labels=marks, empty=empty)


def heat(title: str, grid: list[list[int]], row_labels: list[str]) -> Heat:
    """Rows (weekdays) by 24 hours; the darker, the more conversations."""
    left, top_pad = 40, 18
    cw, ch = (W - left - RIGHT) / 24, 24
    peak = max((v for row in grid for v in row), default=0)
    cells: list[dict[str, float | str]] = []
    for r, row in enumerate(grid):
        for c, v in enumerate(row):
            cells.append(
                {
                    "x": left + c * cw,
                    "y": top_pad + r * ch,
                    "w": cw - 1,
                    "h": ch - 1,
                    "opacity": 0.08 + 0.92 * v / peak if peak and v else 0.04,
                    "value": f"{row_labels[r]} {c}:00-{c + 1}:00: {v}",
                }
            )
    rows = [{"y": top_pad + r * ch + ch * 0.7, "label": lb} for r, lb in enumerate(row_labels)]
    cols = [{"x": left + c * cw + cw / 2, "label": str(c)} for c in range(0, 24, 3)]
    return Heat(title, cells, rows, cols, height=int(top_pad + len(grid) * ch + 4), legend=[f"最多 {peak}"])
