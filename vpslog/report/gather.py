"""What the HTML report shows, gathered from the same engine as `vpslog fidelity`.

The fidelity Report, its trend by month and the specialist x rule matrix come from the
engine; the records behind the timelines (the sessions of the participants shown, the
supervisions, caseloads and components of the specialists shown) are a few store reads.
Everything is named as the reader will see it: with --deidentify, keyed pseudonyms as
`vpslog export --deidentify` gives, and no participant's dates at all (their evidence is
withheld and their timelines left out; see gather). Free-text notes are never read.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date

from vpslog.deid import participant_pseudonym, site_pseudonym, staff_pseudonym
from vpslog.fidelity.engine import Report
from vpslog.fidelity.matrix import matrix
from vpslog.fidelity.report import ORDER, attention
from vpslog.fidelity.rules import RuleBook, load_rules
from vpslog.fidelity.trend import default_since, trend

PARTICIPANTS_SHOWN = 20
CONTACTS_LISTED = 300
"""A participant's contacts listed under their timeline: the last ones (a page stays a page)."""
SPECIALISTS_SHOWN = 12
MATRIX_ROWS = 25
ROWS_SHOWN = 60
"""A big program has thousands of findings: the report shows the worst first and says how many
more there are; `vpslog fidelity --format csv|json` lists them all."""


@dataclass(frozen=True)
class Names:
    """Ids and dates as the reader sees them: as stored, or de-identified with the project secret."""

    secret: bytes | None = None

    def participant(self, pid: str) -> str:
        return participant_pseudonym(self.secret, pid) if self.secret else pid

    def staff(self, sid: str) -> str:
        return staff_pseudonym(self.secret, sid) if self.secret else sid

    def site(self, site: str) -> str:
        return site_pseudonym(self.secret, site) if self.secret and site else site



@dataclass
class Timeline:
    """One participant who needs attention: every contact, the best dose window, the gaps."""

    subject: str
    site: str
    findings: list[dict]
    start: date  # enrollment, or the first contact if earlier
    end: date  # the exit, else the as-of date
    sessions: list[tuple[date, str]]
    need: int | None  # sessions the dose rule asks for in one window
    window_days: int | None
    window: tuple[date, date] | None  # the best window
    best: int
    deadline: date | None  # the last day on which the dose can still be met
    gap_limit: int | None
    gaps: list[tuple[date, date, int]]


@dataclass
class Cadence:
    """One specialist: supervisions, the stretches without one, caseload by month, components delivered."""

    subject: str
    site: str
    findings: list[dict]
    supervisions: list[tuple[date, bool]]  # (date, group)
    delivering: tuple[date, date] | None  # first and last session delivered
    gap_limit: int | None
    gaps: list[tuple[date, date, int]]
    caseload_limit: int | None
    caseload: list[tuple[str, int]]  # (period label, caseload at its end)
    components: list[tuple[str, int]]


@dataclass
class View:
    as_of: date
    rules_version: str
    filters: dict
    deidentified: bool
    summary: list[dict]  # per rule: the fidelity summary, and the change since the previous period
    scale: dict
    previous: str | None  # the previous period's label
    scale_change: float | None
    sites: list[str]
    by_site: list[dict]
    periods: list[dict]  # label, per rule pass rates, scale percent and band
    matrix_rules: list[str]
    matrix_rows: list[dict]  # subject, cells: rule -> cell; the program's row last
    matrix_more: int
    attention: dict[str, list[dict]]  # "open" and "past" rows, as many as shown
    attention_more: dict[str, int]
    timelines: list[Timeline]
    timelines_more: int
    cadences: list[Cadence]
    cadences_more: int
    rules: list[dict]
    item_bands: list[dict]
    total_bands: list[dict]


def gather(prog, as_of: date, *, site: str | None = None, specialist: str | None = None,
           deidentify: bool = False) -> View:
    store, catalog = prog.store, prog.catalog
    names = Names(store.secret() if deidentify else None)
    book = load_rules(catalog)
    since = default_since("month", as_of)  # a year of months, as `fidelity --by month`
    found = trend(store, catalog, book, by="month", since=since, until=as_of, site=site, specialist=specialist,
                  keep=True)  # and, from the same pass, the Report as of the date (the last month's)
    report, periods = found.report, found.periods
    while len(periods) > 1 and periods[0].scale.band is None:  # months before the program began
        periods = periods[1:]
    grid = matrix(store, catalog, book, as_of, site=site, report=None if specialist else report)
    *specialists, program = grid.rows
    worst = sorted(specialists, key=lambda row: -sum(cell.failing for cell in row.cells.values()))  # stable: by id
    scale = report.scale()
    previous = periods[-2] if len(periods) > 1 else None
    scopes = {rule.id: rule.scope for rule in book.rules}
    rows = [row | {"scope": scopes[row["rule"]]} for row in attention(report)]
    shown = {kind: [_attention_row(row, names) for row in rows if row["open"] == (kind == "open")]
             for kind in ("open", "past")}
    if deidentify:  # listed by pseudonym: in the order of the real ids, they would give that order away
        shown = {kind: sorted(found, key=lambda r: (ORDER[r["status"]], r["scope"], r["subject"], r["rule"]))
                 for kind, found in shown.items()}
        worst = sorted(specialists, key=lambda row: (-sum(cell.failing for cell in row.cells.values()),
                                                     names.staff(row.specialist)))
    # A participant's timeline runs to the as-of date on their own shifted calendar: beside the real
    # as-of date (the heading, specialists' dates) it would give their offset away.
    timelines, timelines_more = ([], 0) if deidentify else _timelines(store, book, report, rows, names)
    cadences, cadences_more = _cadences(store, catalog, book, report, periods, since, names)
    return View(
        as_of=as_of, rules_version=book.version, deidentified=deidentify,
        filters={"site": names.site(site) if site else None, "specialist": names.staff(specialist) if specialist else None},
        summary=[row | {"change": _change(row["pass_rate"], previous.rates.get(row["rule"]) if previous else None)}
                 for row in report.summary()],
        scale=scale, previous=previous.label if previous else None,
        scale_change=_change(scale["share"], previous.scale.percent / 100 if previous else None),
        sites=sorted(names.site(s) for s in report.sites),  # pseudonyms in their own order, not in that of the real ids
        by_site=[{"rule": rule.id, **{names.site(s): report.tally(rule.id, s) for s in report.sites}}
                 for rule in book.rules],
        periods=[{"label": p.label, "end": p.end, "rates": p.rates, "percent": p.scale.percent, "band": p.scale.band}
                 for p in periods],
        matrix_rules=list(grid.rules),
        matrix_rows=[{"subject": names.staff(row.specialist), "cells": row.cells} for row in worst[:MATRIX_ROWS]]
        + [{"subject": program.specialist, "cells": program.cells}],
        matrix_more=max(0, len(worst) - MATRIX_ROWS),
        attention={kind: found[:ROWS_SHOWN] for kind, found in shown.items()},
        attention_more={kind: max(0, len(found) - ROWS_SHOWN) for kind, found in shown.items()},
        timelines=timelines, timelines_more=timelines_more, cadences=cadences, cadences_more=cadences_more,
        rules=[{"rule": r.id, "title": r.title, "scope": r.scope, "severity": r.severity,
                "params": ", ".join(f"{k} {'/'.join(v) if isinstance(v, tuple) else v}" for k, v in r.params.items()
                                    if v != ())} for r in book.rules],
        item_bands=scale["item_bands"], total_bands=scale["total_bands"])


def _change(now: float | None, before: float | None) -> float | None:
    return None if now is None or before is None else round(now - before, 4)


def _attention_row(row: dict, names: Names) -> dict:
    """A participant's evidence quotes only their own dates; session findings are counted, not named."""
    if row["scope"] == "session":
        return row | {"evidence": f"listed by vpslog fidelity --explain {row['rule']}"}
    if row["scope"] == "specialist":
        return row | {"subject": names.staff(row["subject"]), "site": names.site(row["site"])}
    return row | {"subject": names.participant(row["subject"]), "site": names.site(row["site"]),
                  "evidence": WITHHELD_EVIDENCE if names.secret else row["evidence"]}


WITHHELD_EVIDENCE = "withheld (de-identified: with the as-of date, a participant's dates would give their offset away)"


def _rule_of_kind(book: RuleBook, kind: str):
    return next((rule for rule in book.rules if rule.kind == kind), None)


def gaps_over(days: list[date], limit: int) -> list[tuple[date, date, int]]:
    """Each stretch longer than `limit` days between consecutive dates (first, next, days)."""
    return [(a, b, (b - a).days) for a, b in zip(days, days[1:]) if (b - a).days > limit]


def _timelines(store, book: RuleBook, report: Report, rows: list[dict], names: Names) -> tuple[list[Timeline], int]:
    """The participants with a warn or fail, those with an open finding first, then the most failures;
    and how many more there are (identified reports only: see gather)."""
    findings: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        if row["scope"] == "participant":
            findings[row["subject"]].append(row)
    order = sorted(findings, key=lambda pid: (not any(f["open"] for f in findings[pid]),
                                              -sum(f["status"] == "fail" for f in findings[pid]),
                                              -len(findings[pid]), pid))
    chosen = order[:PARTICIPANTS_SHOWN]
    if not chosen:
        return [], 0
    iso = report.as_of.isoformat()
    people = {row[0]: row for row in store.fidelity_participants(iso, report.filters["site"])}
    contacts: dict[str, list[tuple[date, str]]] = defaultdict(list)
    for pid, day, kind in store.contact_history(chosen, iso):
        contacts[pid].append((date.fromisoformat(day), kind))
    dose, continuity = _rule_of_kind(book, "dose_window"), _rule_of_kind(book, "max_gap")
    numbers = {r.subject: r.numbers for r in report.results if dose and r.rule == dose.id and r.subject in contacts}
    timelines = []
    for pid in chosen:
        _, site, _, enrolled, _, exited, _ = people[pid]
        end = date.fromordinal(exited) if exited is not None else report.as_of
        sessions = contacts[pid]
        dose_numbers = numbers.get(pid, {})
        gaps = []
        if continuity:
            days = sorted({day for day, kind in sessions if kind in continuity.params["session_types"]})
            gaps = gaps_over((days or [date.fromordinal(enrolled)]) + ([end] if exited is None else []),
                             continuity.params["max_days"])
        window = dose_numbers.get("window")
        deadline = dose_numbers.get("deadline")
        timelines.append(Timeline(
            subject=pid, site=site, findings=[_attention_row(f, names) for f in findings[pid]],
            start=min([date.fromordinal(enrolled)] + [d for d, _ in sessions[:1]]), end=end, sessions=sessions,
            need=dose.params["min_sessions"] if pid in numbers else None,  # the dose rule applies to them
            window_days=dose.params["window_days"] if pid in numbers else None,
            window=(date.fromisoformat(window[0]), date.fromisoformat(window[1])) if window else None,
            best=dose_numbers.get("best_window", 0),
            deadline=date.fromisoformat(deadline) if deadline else None,
            gap_limit=continuity.params["max_days"] if continuity else None,
            gaps=gaps))
    return timelines, len(order) - len(chosen)


def _cadences(store, catalog, book: RuleBook, report: Report, periods, since: date,
              names: Names) -> tuple[list[Cadence], int]:
    """The specialists in scope, those with the most failures first; and how many more there are."""
    findings: dict[str, list[dict]] = defaultdict(list)
    sites = {}
    for r in report.results:
        if r.scope == "specialist":
            sites[r.subject] = r.site
            if r.status in ("fail", "warn"):
                findings[r.subject].append({"rule": r.rule, "status": r.status, "evidence": r.evidence, "open": r.open})
    order = sorted(sites, key=lambda sid: (-sum(f["status"] == "fail" for f in findings[sid]),
                                           -len(findings[sid]), names.staff(sid)))  # ties: as the reader sees them
    chosen = order[:SPECIALISTS_SHOWN]
    if not chosen:
        return [], 0
    iso = report.as_of.isoformat()
    supervision_rule, caseload_rule = _rule_of_kind(book, "supervision_cadence"), _rule_of_kind(book, "caseload")
    delivering = {sid: (facts.first_day, facts.last_day) for sid, facts in report.specialists.items()
                  if facts.first_day is not None}
    supervisions: dict[str, list[tuple[date, bool]]] = defaultdict(list)
    for sid, day, group in store.supervision_history(chosen, iso):
        supervisions[sid].append((date.fromisoformat(day), bool(group)))
    caseloads: dict[tuple[str, str], int] = {}
    if caseload_rule:
        ends = [p.end.isoformat() for p in periods]
        caseloads = {(sid, day): n for sid, day, n
                     in store.caseload_history(ends, caseload_rule.params["window_days"], chosen)}
    components: dict[str, Counter] = defaultdict(Counter)
    for sid, codes, count in store.components_delivered(chosen, since.isoformat(), iso, catalog.delivered_types):
        for code in filter(None, codes.split(";")):
            components[sid][code] += count
    cadences = []
    for sid in chosen:
        span = delivering.get(sid)
        gaps = []
        if supervision_rule and span:
            first, last = date.fromordinal(span[0]), date.fromordinal(span[1])
            individual = [day for day, group in supervisions[sid] if not group and first < day < last]
            gaps = gaps_over([first, *individual, last], supervision_rule.params["max_days"])
        cadences.append(Cadence(
            subject=names.staff(sid), site=names.site(sites[sid]), findings=findings[sid],
            supervisions=supervisions[sid],
            delivering=(date.fromordinal(span[0]), date.fromordinal(span[1])) if span else None,
            gap_limit=supervision_rule.params["max_days"] if supervision_rule else None, gaps=gaps,
            caseload_limit=caseload_rule.params["max_participants"] if caseload_rule else None,
            caseload=[(p.label, caseloads.get((sid, p.end.isoformat()), 0)) for p in periods] if caseload_rule else [],
            components=[(code, components[sid][code]) for code in catalog.components if components[sid][code]]))
    return cadences, len(order) - len(chosen)
