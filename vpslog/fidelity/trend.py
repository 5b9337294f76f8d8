"""Fidelity over time: the rules' pass rates and the scale score at the end of each month or
quarter, each period judged by the same engine as of its last day (clipped to `until`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from typing import NamedTuple

from vpslog.errors import InputError
from vpslog.fidelity.engine import Report, evaluate_at, pass_rate, tally
from vpslog.fidelity.rules import RuleBook

MONTHS = {"month": 1, "quarter": 3}  # months per period
LONGEST_YEARS = 150
"""The longest span of periods: more is a year typed wrong (`0026` or `9026` for 2026), tens of thousands
of periods, minutes of work and hundreds of megabytes of output."""


class ScaleScore(NamedTuple):
    points: int
    maximum: int
    percent: float  # points as a share of the maximum, 0-100
    band: str | None  # None when no rule was judged


@dataclass(frozen=True)
class Period:
    label: str  # 2026-03, or 2026-Q1
    end: date  # the day it was judged as of
    rates: dict[str, float | None]  # rule id -> pass rate, None when nothing was judged
    scale: ScaleScore
    by_site: dict[str, dict[str, float | None]]  # site -> rule id -> pass rate
    counts: Counter  # (rule id, site, status) -> subjects, as in Report.counts

    def tally(self, rule_id: str, site: str | None = None) -> dict[str, int]:
        return tally(self.counts, rule_id, site)


@dataclass(frozen=True)
class Trend:
    by: str
    since: date
    until: date
    book: RuleBook
    filters: dict
    sites: list[str]
    periods: list[Period]
    report: Report | None = None  # with keep=True: the Report as of `until` (what `evaluate` gives, but
    # no session's own result)


def default_since(by: str, until: date) -> date:
    """The first day of the year of periods that ends with the one holding `until`: 12 months, 4 quarters."""
    first = _period_start(by, until)
    months = max(first.year * 12 + first.month - 1 - (12 - MONTHS[by]), 12)  # never before the year 1
    return date(months // 12, months % 12 + 1, 1)


def periods(by: str, since: date, until: date) -> list[tuple[str, date]]:
    """(label, last day) of every period from the one holding `since` to the one holding `until`;
    the last ends on `until`."""
    if by not in MONTHS:
        raise InputError(f"--by {by!r}: expected month or quarter")
    if since > until:
        raise InputError(f"--since {since} is after --until {until}")
    if (until.year - since.year) * 12 + until.month - since.month >= LONGEST_YEARS * 12:
        raise InputError(f"--since {since} to --until {until} is more than {LONGEST_YEARS} years of periods: "
                         "check the years (dates are YYYY-MM-DD)")
    found, start = [], _period_start(by, since)
    while start is not None and start <= until:
        following = _add_months(start, MONTHS[by])
        end = until if following is None else min(following - timedelta(days=1), until)
        label = f"{start.year:04d}-{start.month:02d}" if by == "month" else f"{start.year:04d}-Q{(start.month - 1) // 3 + 1}"  # %Y: `1` for year 1 on glibc
        found.append((label, end))
        start = following
    return found


def trend(store, catalog, book: RuleBook, *, by: str, since: date, until: date, site: str | None = None,
          specialist: str | None = None, keep: bool = False) -> Trend:
    """Each period's pass rates (overall and per site) and scale score, in one pass over the store;
    with `keep`, also the Report as of `until` from that same pass (the last period's), without each
    session's own result: counted, and the first three flagged per rule, as `attention` reads them
    (the HTML report's; its memory does not grow with what is flagged)."""
    spans = periods(by, since, until)
    reports = evaluate_at(store, catalog, book, [end for _, end in spans], site=site, specialist=specialist,
                          keep={until} if keep else False, session_results=False)
    sites = sorted({s for report in reports for s in report.sites})
    found = []
    for (label, end), report in zip(spans, reports):
        scale = report.scale()
        found.append(Period(
            label, end, {rule.id: pass_rate(report.tally(rule.id)) for rule in book.rules},
            ScaleScore(scale["total"], scale["max"], round(100 * scale["share"], 1), scale["band"]),
            {s: {rule.id: pass_rate(report.tally(rule.id, s)) for rule in book.rules} for s in sites},
            report.counts))
    return Trend(by, since, until, book, {"site": site, "specialist": specialist}, sites, found,
                 reports[-1] if keep else None)


def _period_start(by: str, day: date) -> date:
    return date(day.year, day.month - (day.month - 1) % MONTHS[by], 1)


def _add_months(day: date, months: int) -> date | None:
    """The first day of the month `months` later; None past the last date there is (a period that
    ends in December 9999 has no following one)."""
    total = day.year * 12 + day.month - 1 + months
    return date(total // 12, total % 12 + 1, 1) if total // 12 <= date.max.year else None
