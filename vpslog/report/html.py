"""Renders a gathered View (and a fidelity review's report) as one self-contained HTML page: inline CSS and SVG, no script,
nothing fetched when it is viewed. The template and stylesheet are package data
(vpslog/templates/); Jinja2 escapes every value, and only the charts' SVG goes in as is."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from vpslog.errors import InputError
from vpslog.files import new_file_refusal, write_private
from vpslog.report.gather import View


def render(view: View) -> str:
    """The page. matplotlib is imported here, once the View is gathered: a big program's evaluation
    is freed by then, so the two never weigh on memory at the same time."""
    from vpslog.report import charts

    labels = [period["label"] for period in view.periods]
    rules = [row["rule"] for row in view.summary]
    pictures = {
        "rule-trends": charts.rule_trends(labels, {rule: [p["rates"].get(rule) for p in view.periods] for rule in rules},
                                          _top_band(view)),
        "scale-trend": charts.scale_trend(labels, [p["percent"] for p in view.periods], view.total_bands),
        "heat-map": charts.heat_map([row["subject"] for row in view.matrix_rows], view.matrix_rules,
                                    [[row["cells"][rule].rate for rule in view.matrix_rules] for row in view.matrix_rows]),
    }
    timelines = [(f"dose-{index}", charts.dose_timeline(f"dose-{index}", timeline), timeline)
                 for index, timeline in enumerate(view.timelines, 1)]
    cadences = [(f"specialist-{index}", charts.specialist_panels(f"specialist-{index}", cadence), cadence)
                for index, cadence in enumerate(view.cadences, 1)]
    return _environment().get_template("report.html.j2").render(
        view=view, charts=pictures, timelines=timelines, cadences=cadences)


def render_review(report: dict, *, deidentified: bool = False) -> str:
    """The review report (review.report.gather, de-identified or not) as one page, by the same
    template machinery and stylesheet as the fidelity report."""
    return _environment().get_template("review.html.j2").render(report=report, deidentified=deidentified)


def _environment() -> Environment:
    """The templates of vpslog/templates/, every value escaped, an unknown name an error."""
    environment = Environment(loader=PackageLoader("vpslog", "templates"), autoescape=True,
                              undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
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
