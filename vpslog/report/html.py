"""Renders a gathered View (and a fidelity review's report) as one self-contained HTML page: inline CSS and SVG, no script,
nothing fetched when it is viewed. The template and stylesheet are package data
(vpslog/templates/); Jinja2 escapes every value, and only the charts' SVG goes in as is."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from vpslog.errors import InputError, printable
from vpslog.files import new_file_refusal, write_private
from vpslog.report import gather
from vpslog.report.gather import View


def render(view: View, jobs: int | None = None) -> str:
    """The page. matplotlib is imported here, once the View is gathered: a big program's evaluation
    is freed by then, so the two never weigh on memory at the same time. `jobs`: processes drawing
    the charts at once (see `_drawn`)."""
    labels = [period["label"] for period in view.periods]
    rules = [row["rule"] for row in view.summary]
    charts = [
        ("rule_trends", labels, {rule: [p["rates"].get(rule) for p in view.periods] for rule in rules}, _top_band(view)),
        ("scale_trend", labels, [p["percent"] for p in view.periods], view.total_bands),
        ("heat_map", [row["subject"] for row in view.matrix_rows], view.matrix_rules,
         [[row["cells"][rule].rate for rule in view.matrix_rules] for row in view.matrix_rows]),
        *(("dose_timeline", f"dose-{index}", timeline) for index, timeline in enumerate(view.timelines, 1)),
        *(("specialist_panels", f"specialist-{index}", cadence) for index, cadence in enumerate(view.cadences, 1)),
    ]
    drawn = iter(_drawn(charts, jobs))
    pictures = {name: next(drawn) for name in ("rule-trends", "scale-trend", "heat-map")}
    timelines = [(f"dose-{index}", next(drawn), timeline) for index, timeline in enumerate(view.timelines, 1)]
    cadences = [(f"specialist-{index}", next(drawn), cadence) for index, cadence in enumerate(view.cadences, 1)]
    return _environment().get_template("report.html.j2").render(
        view=view, charts=pictures, timelines=timelines, cadences=cadences, contacts_listed=gather.CONTACTS_LISTED)


def _drawn(charts: list[tuple], jobs: int | None) -> list[str]:
    """Each chart's SVG, in order. The charts are independent and matplotlib draws on one core (a
    big program's 35 charts take 2.5 s), so `jobs` processes draw them at once, this one and forked
    workers (default: one per CPU, at most 4); 1 draws them here alone, in the least memory (each
    worker holds its own matplotlib drawing, about 28 MB). The output is the same either way."""
    import os
    from importlib import import_module

    from vpslog.report.forked import mapped

    import_module("vpslog.report.charts")  # before the fork: the workers share matplotlib, loaded once
    if jobs is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        jobs = min(cpus, len(charts) // 4, 4)  # a few charts are not worth a process
    return mapped(_draw, charts, jobs)


def _draw(chart: tuple) -> str:
    """One chart: (the name of its function in vpslog.report.charts, its arguments)."""
    from vpslog.report import charts

    name, *arguments = chart
    return getattr(charts, name)(*arguments)


def render_review(report: dict, *, deidentified: bool = False) -> str:
    """The review report (review.report.gather, de-identified or not) as one page, by the same
    template machinery and stylesheet as the fidelity report."""
    return _environment().get_template("review.html.j2").render(report=report, deidentified=deidentified)


def _environment() -> Environment:
    """The templates of vpslog/templates/, every value escaped, an unknown name an error. Text also
    has its invisible characters shown as escapes (`\\x1b`, `\\u202e`), as listings show them: HTML
    escaping leaves a right-to-left override to reverse the rest of its line (the charts, already
    markup, are left as they are)."""
    environment = Environment(loader=PackageLoader("vpslog", "templates"), autoescape=True,
                              undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                              finalize=lambda value: printable(value) if type(value) is str else value)
    environment.filters["rate"] = _rate
    environment.filters["change"] = _change
    return environment


def _top_band(view: View) -> float:
    """The pass rate that earns the highest item score: the dashed line of the trend charts."""
    return max(band["min_rate"] for band in view.item_bands)


def _rate(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _change(value: float | None) -> str:
    """A change in points: `+12 pts ▲`, `−3 pts ▼`, `no change`, or `–` when there is nothing to compare."""
    if value is None:
        return "–"
    points = round(100 * value)
    if points == 0:
        return "no change"
    return f"+{points} pts ▲" if points > 0 else f"−{-points} pts ▼"


def refuse_target(path: Path) -> None:
    """Refuse, before any work, a target that exists (even as a link) or has no folder."""
    if refusal := new_file_refusal(path):
        raise InputError(f"{refusal}; choose a new file for the report")
    if not path.parent.is_dir():
        raise InputError(f"{path.parent} is not a folder")


def write(path: Path, text: str) -> None:
    """The report as a new private (0600) file at `path`, or no file there at all: it holds
    participants' records, so it is written beside `path`, then linked to it, never over a file."""
    refuse_target(path)
    try:
        write_private(path, text, replace=False)
    except FileExistsError:
        raise InputError(f"{path} appeared while the report was built; choose a new file for the report") from None
