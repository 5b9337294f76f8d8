"""Renders a fidelity Report (`Writer` while it is judged), a Trend and a Matrix; no computing.

json shape (stable, for other tools):
  {"as_of", "rules_version", "filters", "summary": [per rule: rule, title, scope,
   severity, pass, warn, fail, pending, pass_rate, item_score], "sites": [per site
   and rule: site, rule, pass, warn, fail, pending], "scale": {total, max, share,
   band, item_bands, total_bands}, "attention": {"open": [...], "past": [...]},
   "results": [rule, scope, subject, site, status, evidence, numbers]}
"results" holds every participant and specialist result, and the session
results that need attention (session passes are only counted). "attention"
splits what needs it into what a supervisor can still act on (open now) and
history (past), as the table, markdown and csv do.

`--by month|quarter` (a Trend) and `--matrix` (a Matrix) have renderers here too.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile

from vpslog.fidelity.engine import Report
from vpslog.render import Format, csv_writer, emit, json_text, visible_json

SUMMARY = ("rule", "scope", "severity", "pass", "warn", "fail", "pending", "pass_rate", "item_score")
RESULT = ("rule", "scope", "subject", "site", "status", "evidence")
CSV = (*RESULT, "attention")
ATTENTION = ("subject", "site", "rule", "status", "evidence")
ORDER = {"fail": 0, "warn": 1, "pending": 2, "pass": 3}


def as_json(report: Report) -> dict:
    """The json document but its results, which follow it (Writer)."""
    return {
        "as_of": report.as_of.isoformat(),
        "rules_version": report.book.version,
        "filters": report.filters,
        "summary": report.summary(),
        "sites": [{"site": site, "rule": rule.id, **report.tally(rule.id, site)}
                  for site in report.sites for rule in report.book.rules],
        "scale": report.scale(),
        "attention": {part: [{key: row[key] for key in ATTENTION} for row in rows]
                      for part, rows in _split(attention(report)).items()},
    }


class Writer:
    """`vpslog fidelity` written while the engine judges (its `sink`), so that memory does not grow
    with what the report flags: csv rows go out as they come; json results go to a private spool
    file (0600, unlinked at once) that follows the head, which needs the totals; table and markdown
    show the summary and what needs attention, which the Report keeps (Report.flagged)."""

    def __init__(self, fmt: Format):
        self.fmt = fmt
        self._spool = self._csv = None
        self._lines: list[str] = []  # json results not yet in the spool
        self._separator = "\n"
        self.sink = {Format.json: self._json, Format.csv: self._csv_row}.get(fmt, _nothing)

    def _json(self, result) -> None:
        self._lines.append(visible_json(result_json(result)))
        if len(self._lines) == SPOOL_LINES:
            self._spill()

    def _spill(self) -> None:
        if self._spool is None:
            self._spool = tempfile.TemporaryFile("w+", encoding="utf-8")
        self._spool.write(self._separator + ",\n".join(self._lines))
        self._lines, self._separator = [], ",\n"

    def _csv_row(self, result) -> None:
        if self._csv is None:
            self._csv = csv_writer(CSV)
        self._csv(_row(result) | {"attention": _attention(result)})

    def finish(self, report: Report) -> None:
        """What follows the results (json: comes before them), once the totals are known."""
        if self.fmt is Format.json:
            head = visible_json(json.dumps(as_json(report), ensure_ascii=False))
            sys.stdout.write(head[:-1] + ', "results": [')
            if self._lines:
                self._spill()
            if self._spool is not None:
                self._spool.seek(0)
                shutil.copyfileobj(self._spool, sys.stdout)
                self._spool.close()
            sys.stdout.write("\n]}\n")
        elif self.fmt is Format.csv:
            if self._csv is None:
                csv_writer(CSV)  # the header of an empty report
        else:
            render_summary(report, self.fmt)
            parts = _split(attention(report))
            emit(parts["open"], ATTENTION, self.fmt, "Needs attention: open now (still ongoing as of the date)")
            emit(parts["past"], ATTENTION, self.fmt, "Needs attention: past (history: ended, or no longer to act on)")


SPOOL_LINES = 10_000


def result_json(result) -> str:
    """One result as `json.dumps(..., ensure_ascii=False)` writes its dict, about three times as
    fast: a report can hold a million (strings escaped by the json module's own C encoder)."""
    return (f'{{"rule": {_text(result.rule)}, "scope": {_text(result.scope)}, "subject": {_text(result.subject)}, '
            f'"site": {_text(result.site)}, "status": {_text(result.status)}, "evidence": {_text(result.evidence)}, '
            f'"numbers": {_numbers(result.numbers)}}}')


_text = json.encoder.encode_basestring
_encode = json.JSONEncoder(ensure_ascii=False).encode


def _numbers(numbers: dict) -> str:
    """Whole numbers only (a flagged session's `{"days": 5}`) are written here; the rest by the encoder."""
    if all(type(value) is int for value in numbers.values()):
        return "{" + ", ".join(f"{_text(key)}: {value}" for key, value in numbers.items()) + "}"
    return _encode(numbers)


def _nothing(result) -> None:
    """Table and markdown: no result of their own is shown."""


def attention(report: Report) -> list[dict]:
    """Participants and specialists with a warn or fail, worst first; sessions summarised per rule.
    `open` is True for what a supervisor can still act on as of the date (an ongoing gap, a dose an
    active participant can still reach, a missing record), False for history (flagged sessions too)."""
    rows = sorted(report.flagged, key=lambda r: (ORDER[r.status], r.scope, r.subject, r.rule))
    out = [{"subject": r.subject, "site": r.site, "rule": r.rule, "status": r.status, "evidence": r.evidence,
            "open": r.open} for r in rows]
    for rule in (r for r in report.book.rules if r.scope == "session"):
        if rule.id in report.flagged_sessions:
            count, first = report.flagged_sessions[rule.id]
            ids = ", ".join(r.subject[:8] for r in first) + (" …" if count > 3 else "")
            out.append({"subject": f"{count} sessions", "site": "", "rule": rule.id,
                        "status": rule.severity, "evidence": f"{first[0].evidence}; sessions {ids}", "open": False})
    return out


def _split(rows: list[dict]) -> dict[str, list[dict]]:
    return {"open": [row for row in rows if row["open"]], "past": [row for row in rows if not row["open"]]}


def _attention(result) -> str:
    """The csv's attention column: open or past for a warn or fail, empty otherwise."""
    if result.status not in ("warn", "fail"):
        return ""
    return "open" if result.open else "past"


def render_summary(report: Report, fmt: Format) -> None:
    """The program summary (table or markdown): each rule's counts, by site, and the scale."""
    scale = report.scale()
    emit(report.summary(), SUMMARY, fmt, f"Fidelity as of {report.as_of} (rules {report.book.version})")
    if len(report.sites) > 1:
        emit(_by_site(report), ("rule", *report.sites), fmt, "Pass rate by site (pass/judged)")
    bands = ", ".join(f"{b['label']} >= {b['min_share']:.0%}" for b in scale["total_bands"])
    items = ", ".join(f"{b['score']} if >= {b['min_rate']:.0%}" for b in scale["item_bands"])
    total = (f"{scale['total']} of {scale['max']} ({scale['share']:.0%}): {scale['band']}" if scale["band"] else
             "not scored (nothing was judged)")
    line = f"Scale: {total}. Item score per rule from its pass rate: {items}. Total bands: {bands}."
    sys.stdout.write(line + "\n\n")


def explain(report: Report, rule_id: str, fmt: Format) -> None:
    """Every subject of one rule, worst first, with its evidence."""
    rule = report.book.get(rule_id)
    rows = sorted((r for r in report.results if r.rule == rule.id), key=lambda r: (ORDER[r.status], r.subject))
    if fmt is Format.json:
        sys.stdout.write(json.dumps([_row(r) | {"numbers": r.numbers} for r in rows], indent=2) + "\n")
        return
    emit([_row(r) for r in rows], RESULT, fmt, f"{rule.id}: {rule.title}")


def _row(result) -> dict:
    return {key: getattr(result, key) for key in RESULT}


def _by_site(report: Report) -> list[dict]:
    """Per rule, `pass/judged` at each site."""
    rows = []
    for rule in report.book.rules:
        row = {"rule": rule.id}
        for site in report.sites:
            tally = report.tally(rule.id, site)
            judged = tally["pass"] + tally["warn"] + tally["fail"]
            row[site] = f"{tally['pass']}/{judged}" if judged else "-"
        rows.append(row)
    return rows


# -- over time (--by) and side by side (--matrix) ------------------------------

TREND = ("period", "end", "site", "rule", "pass", "warn", "fail", "pending", "pass_rate")
SCALE = ("points", "maximum", "percent", "band")
MATRIX = ("specialist", "rule", "passed", "judged", "failing", "rate")


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.0%}"


def _trend_rows(period) -> list[dict]:
    """One period's tallies per rule, overall (site null) then per site."""
    return [{"site": site, "rule": rule_id, **period.tally(rule_id, site),
             "pass_rate": (period.rates if site is None else period.by_site[site])[rule_id]}
            for site in (None, *period.by_site) for rule_id in period.rates]


def render_trend(trend, fmt: Format) -> None:
    """Pass rates and the scale per period. json: {by, since, until, rules_version, filters, periods:
    [{period, end, scale: {points, maximum, percent, band}, rates: [site, rule, pass, warn, fail,
    pending, pass_rate]}]}; csv: one row per period, site and rule, with the period's scale."""
    if fmt is Format.json:
        document = {"by": trend.by, "since": trend.since.isoformat(), "until": trend.until.isoformat(),
                    "rules_version": trend.book.version, "filters": trend.filters,
                    "periods": [{"period": p.label, "end": p.end.isoformat(), "scale": p.scale._asdict(),
                                 "rates": _trend_rows(p)} for p in trend.periods]}
        sys.stdout.write(json_text(document) + "\n")
        return
    if fmt is Format.csv:
        emit([{"period": p.label, "end": p.end.isoformat(), **row, **p.scale._asdict()}
              for p in trend.periods for row in _trend_rows(p)], (*TREND, *SCALE), fmt)
        return
    labels = [p.label for p in trend.periods]
    for site in (None, *trend.sites):
        rows = [{"rule": rule.id, **{p.label: _percent((p.rates if site is None else p.by_site[site])[rule.id])
                                     for p in trend.periods}} for rule in trend.book.rules]
        if site is None:
            rows.append({"rule": "scale", **{p.label: "-" if p.scale.band is None else f"{p.scale.percent:.0f}%"
                                             for p in trend.periods}})
            rows.append({"rule": "band", **{p.label: p.scale.band or "-" for p in trend.periods}})
        where = "the program" if site is None else f"site {site}"
        emit(rows, ("rule", *labels), fmt, f"Pass rate at the end of each {trend.by}, {where} "
                                           f"({trend.since} to {trend.until}; pending left out)", drop=labels)
    sys.stdout.write(f"Each {trend.by} is judged as of its last day (the last as of {trend.until}); "
                     "- means nothing was judged. Scale: the total of the item scores as a share of its maximum.\n\n")


def _matrix_cell(cell, detailed: bool) -> str:
    if cell.rate is None:
        return "-"
    return f"{cell.passed}/{cell.judged} ({cell.rate:.0%})" if detailed else _percent(cell.rate)


def render_matrix(matrix, fmt: Format) -> None:
    """Specialists x rules. json: {as_of, rules_version, filters, rules, rows: [{specialist, cells:
    {rule: {passed, judged, failing, rate}}}]}; csv: one row per specialist and rule. The table numbers
    the rules (named under it) so that eleven columns fit a terminal; markdown names them."""
    if fmt is Format.json:
        document = {"as_of": matrix.as_of.isoformat(), "rules_version": matrix.book.version,
                    "filters": matrix.filters, "rules": matrix.rules,
                    "rows": [{"specialist": row.specialist, "cells": {r: vars(c) for r, c in row.cells.items()}}
                             for row in matrix.rows]}
        sys.stdout.write(json_text(document) + "\n")
        return
    if fmt is Format.csv:
        emit([{"specialist": row.specialist, "rule": rule_id, **vars(cell)}
              for row in matrix.rows for rule_id, cell in row.cells.items()], MATRIX, fmt)
        return
    detailed = fmt is Format.markdown
    names = matrix.rules if detailed else [str(n) for n in range(1, len(matrix.rules) + 1)]
    rows = [{"specialist": row.specialist, **{name: _matrix_cell(row.cells[rule_id], detailed)
                                              for name, rule_id in zip(names, matrix.rules)}}
            for row in matrix.rows]
    emit(rows, ("specialist", *names), fmt, f"Pass rate by specialist as of {matrix.as_of} "
                                            "(their participants' rules, their own rules; pending left out)")
    legend = "" if detailed else "Rules: " + ", ".join(f"{n} {r}" for n, r in zip(names, matrix.rules)) + ". "
    sys.stdout.write(f"{legend}A participant counts for every specialist who saw them; - means nothing was judged.\n\n")
