"""The report's charts, drawn by matplotlib and rendered to SVG text at build time.

Text stays text (`svg.fonttype = none`: no font files, small and selectable), and each chart
gets its own hash salt, so the same data give the same file and no two charts share an
element id. The SVG is cut to the bare `<svg>` element for inlining in HTML: no XML
prologue, no DTD or metadata (they name remote URLs), no namespace declarations.
"""

from __future__ import annotations

import io
import re
from bisect import bisect_left, bisect_right
from datetime import date, timedelta

from matplotlib import rc_context
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.dates import DateFormatter, MonthLocator
from matplotlib.figure import Figure

from vpslog.errors import printable

STYLE = {
    "svg.fonttype": "none", "font.family": "sans-serif", "font.size": 8, "axes.titlesize": 8,
    "axes.spines.top": False, "axes.spines.right": False, "axes.edgecolor": "#888", "axes.grid": True,
    "grid.color": "#ddd", "grid.linewidth": 0.5, "xtick.color": "#444", "ytick.color": "#444",
}
STATUS_COLOURS = {"pass": "#2e7d32", "warn": "#b26a00", "fail": "#c62828", "pending": "#607d8b"}
TYPE_MARKS = {"individual": ("o", "#1f5fa8"), "group": ("s", "#6a3d9a"), "collateral": ("^", "#2e7d32"),
              "no-show": ("x", "#c62828")}
"""Session types as marks; a type a program adds to the curriculum gets a plain dot."""
HEAT = LinearSegmentedColormap.from_list("rate", ["#c62828", "#f9a825", "#2e7d32"])
_CUT = re.compile(r"\A.*?(?=<svg)|<metadata>.*?</metadata>\s*|\s+xmlns(:\w+)?=\"[^\"]*\"", re.S)


def _text(text: str) -> str:
    """Stored or configured text (a specialist id, a band label) as matplotlib must draw it: every
    `$` literal (a pair would be read as math, and bad math stops the report), nothing invisible."""
    return printable(text).replace("$", r"\$")


def svg(figure: Figure, key: str) -> str:
    """The figure as an inline `<svg>` element; `key` salts its element ids."""
    buffer = io.StringIO()
    with rc_context({**STYLE, "svg.hashsalt": f"vpslog-{key}"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return _CUT.sub("", buffer.getvalue()).strip()


def _figure(width: float, height: float, margins: dict, **grid) -> tuple[Figure, object]:
    """A figure with fixed margins (in inches): laid out once, drawn once."""
    with rc_context(STYLE):
        figure = Figure(figsize=(width, height))
        figure.subplots_adjust(left=margins.get("left", 0.5) / width, right=1 - margins.get("right", 0.1) / width,
                               bottom=margins.get("bottom", 0.3) / height, top=1 - margins.get("top", 0.2) / height,
                               wspace=margins.get("wspace", 0.2), hspace=margins.get("hspace", 0.2))
        return figure, figure.subplots(**grid) if grid else figure.add_subplot()


def _dates(axes, start: date, end: date) -> None:
    """Month ticks, at most about six, labelled `Mar 26`."""
    months = max(1, ((end.year - start.year) * 12 + end.month - start.month) // 6 + 1)
    axes.xaxis.set_major_locator(MonthLocator(interval=months))
    axes.xaxis.set_major_formatter(DateFormatter("%b %y"))


def rule_trends(labels: list[str], rates: dict[str, list[float | None]], floor: float) -> str:
    """Small multiples: each rule's pass rate by period, with the lowest band of a top item score."""
    rules = list(rates)
    columns = 3
    rows = -(-len(rules) // columns)
    with rc_context(STYLE):
        figure, grid = _figure(7.2, 0.3 + 1.1 * rows, {"left": 0.4, "top": 0.25, "bottom": 0.3, "hspace": 0.6, "wspace": 0.12},
                               nrows=rows, ncols=columns, sharex=True, sharey=True, squeeze=False)
        positions = range(len(labels))
        for index, axes in enumerate(grid.flat):
            if index >= len(rules):
                axes.set_visible(False)
                continue
            values = [None if v is None else 100 * v for v in rates[rules[index]]]
            axes.plot(positions, [float("nan") if v is None else v for v in values], marker=".", color="#1f5fa8")
            axes.axhline(100 * floor, color="#2e7d32", linewidth=0.6, linestyle="--")
            axes.set_title(rules[index], loc="left")
            axes.set_ylim(-5, 105)
            axes.set_yticks([0, 50, 100])
            axes.set_xticks(list(positions)[::max(1, len(labels) // 4)])
            axes.set_xticklabels([label[2:] for label in labels[::max(1, len(labels) // 4)]])  # 26-03
        return svg(figure, "rule-trends")


def scale_trend(labels: list[str], percents: list[float], bands: list[dict]) -> str:
    """The scale score (share of its maximum) by period, over the total bands."""
    figure, axes = _figure(7.2, 2.2, {"left": 0.6})
    edges = sorted(100 * band["min_share"] for band in bands) + [100]
    shades = ["#fdecea", "#fff4e0", "#eef6ee", "#e3f1e3", "#d5ebd5"]
    for (low, high), shade in zip(zip(edges, edges[1:]), shades):
        axes.axhspan(low, high, color=shade, linewidth=0)
    for band in bands:
        axes.text(len(labels) - 0.5, 100 * band["min_share"] + 1, _text(band["label"]), ha="right", fontsize=7, color="#555")
    axes.plot(range(len(labels)), percents, marker="o", color="#1f5fa8")
    axes.set_xticks(range(len(labels)), labels)
    axes.set_xlim(-0.5, len(labels) - 0.5)
    axes.set_ylim(0, 100)
    axes.set_ylabel("% of the maximum")
    return svg(figure, "scale-trend")


def heat_map(rows: list[str], rules: list[str], rates: list[list[float | None]]) -> str:
    """Specialists x rules, each cell coloured by its pass rate and labelled with it; blank: nothing judged."""
    figure, axes = _figure(7.2, 1.2 + 0.28 * len(rows), {"left": 1.0, "bottom": 1.1, "top": 0.05})
    values = [[float("nan") if v is None else v for v in row] for row in rates]
    axes.imshow(values, cmap=HEAT, vmin=0, vmax=1, aspect="auto")
    for y, row in enumerate(rates):
        for x, value in enumerate(row):
            axes.text(x, y, "–" if value is None else f"{value:.0%}", ha="center", va="center", fontsize=7,
                      color="white" if value is not None and value < 0.7 else "black")
    axes.set_xticks(range(len(rules)), rules, rotation=35, ha="right")
    axes.set_yticks(range(len(rows)), [_text(row) for row in rows])
    axes.axhline(len(rows) - 1.5, color="black", linewidth=1.2)  # the program row, apart
    axes.grid(False)
    return svg(figure, "heat-map")


def dose_timeline(key: str, timeline) -> str:
    """Contacts by type on a strip, the trailing window's individual sessions as a line against the
    dose, the best window shaded, the last day the dose can still be met, gaps over the limit in red."""
    figure, axes = _figure(7.2, 1.9, {"left": 0.5, "top": 0.3})
    for start, end, _ in timeline.gaps:
        axes.axvspan(start, end, ymin=0.93, ymax=1, color="#c62828", alpha=0.6, linewidth=0)
    if timeline.window:
        axes.axvspan(timeline.window[0], timeline.window[1], color="#1f5fa8", alpha=0.10, linewidth=0)
    if timeline.need:
        axes.axhline(timeline.need, color="#2e7d32", linestyle="--", linewidth=0.8)
        counted = [day for day, kind in timeline.sessions if kind == "individual"]
        days = sorted({timeline.start, timeline.end, *counted, *(d + timedelta(days=timeline.window_days) for d in counted)})
        days = [d for d in days if d <= timeline.end]
        axes.step(days, [_trailing(counted, d, timeline.window_days) for d in days], where="post", color="#1f5fa8",
                  linewidth=1)
    marks = sorted(set(timeline.sessions))  # one mark per day and type: more would only overlap it
    kinds = {kind for _, kind in marks}
    for kind in [k for k in TYPE_MARKS if k in kinds] + sorted(kinds - TYPE_MARKS.keys()):
        mark, colour = TYPE_MARKS.get(kind, (".", "#444"))
        days = [d for d, k in marks if k == kind]
        axes.scatter(days, [-1] * len(days), marker=mark, color=colour, s=14, label=kind, linewidths=0.8)
    if timeline.deadline:
        axes.axvline(timeline.deadline, color="#b26a00", linestyle=":", linewidth=1.2)
    last = max(timeline.end, timeline.deadline or timeline.end)
    axes.set_xlim(_moved(timeline.start, -3), _moved(last, 3))
    axes.set_ylim(-2, max(timeline.need or 0, timeline.best) + 2)
    axes.set_ylabel("sessions in window")
    _dates(axes, timeline.start, last)
    if timeline.sessions:
        axes.legend(loc="lower left", bbox_to_anchor=(0, 1), fontsize=6, frameon=False, ncols=4, borderaxespad=0)
    return svg(figure, key)


def _moved(day: date, days: int) -> date:
    """`day` moved by `days`, stopping at the first or last date there is (an as-of date in 9999)."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.max if days > 0 else date.min


def _trailing(days: list[date], day: date, width: int) -> int:
    """Sessions in the `width` days ending on `day`, both ends included (`days` in order)."""
    return bisect_right(days, day) - bisect_left(days, day - timedelta(days=width - 1))


def specialist_panels(key: str, cadence) -> str:
    """Supervisions (gaps over the limit in red), caseload by month against its limit, components delivered."""
    figure, grid = _figure(7.2, 3.6, {"left": 0.7, "right": 0.1, "top": 0.25, "wspace": 0.55, "hspace": 0.5},
                           nrows=2, ncols=2, height_ratios=[1, 2])
    cadence_axes, caseload_axes, mix_axes = grid[0, 0], grid[1, 0], grid[1, 1]
    cadence_axes.set_subplotspec(grid[0, 0].get_gridspec()[0, :])
    grid[0, 1].remove()
    for start, end, _ in cadence.gaps:
        cadence_axes.axvspan(start, end, color="#c62828", alpha=0.2, linewidth=0)
    if cadence.delivering:
        cadence_axes.axvline(cadence.delivering[0], color="#888", linewidth=0.6)
        cadence_axes.axvline(cadence.delivering[1], color="#888", linewidth=0.6)
    for group, mark in ((False, "o"), (True, "s")):
        days = [d for d, g in cadence.supervisions if g is group]
        if days:
            cadence_axes.scatter(days, [1 if group else 0] * len(days), marker=mark, s=14, color="#1f5fa8",
                                 label="group" if group else "individual")
    cadence_axes.set_yticks([0, 1], ["individual", "group"])
    cadence_axes.set_ylim(-0.6, 1.6)
    cadence_axes.set_title("supervision", loc="left")
    if cadence.supervisions or cadence.delivering:
        days = [d for d, _ in cadence.supervisions] + list(cadence.delivering or ())
        _dates(cadence_axes, min(days), max(days))
    labels = [label[2:] for label, _ in cadence.caseload]  # 2026-03 as 26-03
    caseload_axes.bar(range(len(labels)), [n for _, n in cadence.caseload], color="#1f5fa8")
    if cadence.caseload_limit is not None:
        caseload_axes.axhline(cadence.caseload_limit, color="#c62828", linestyle="--", linewidth=0.8)
    caseload_axes.set_xticks(list(range(len(labels)))[::3], labels[::3])
    caseload_axes.set_title("caseload at month end", loc="left")
    codes = [code for code, _ in cadence.components][::-1]
    mix_axes.barh(range(len(codes)), [n for _, n in cadence.components][::-1], color="#6a3d9a")
    mix_axes.set_yticks(range(len(codes)), codes, fontsize=6)
    mix_axes.grid(axis="y", visible=False)
    mix_axes.set_title("sessions per component", loc="left")
    return svg(figure, key)
