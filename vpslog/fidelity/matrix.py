"""Specialists side by side: each rule's pass rate for the participants each specialist saw (and
their sessions, as `fidelity --specialist` covers them) and for the specialist's own rules, with the
program's row to compare. One evaluation of the program; rows are sums of its results."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date

from vpslog.fidelity.engine import STATUSES, evaluate, pass_rate
from vpslog.fidelity.rules import RuleBook

PROGRAM = "program"


@dataclass(frozen=True)
class Cell:
    passed: int
    judged: int  # pass + warn + fail; pending left out
    failing: int  # warn + fail
    rate: float | None  # passed / judged, None when nothing was judged


@dataclass(frozen=True)
class MatrixRow:
    specialist: str  # a specialist id, or "program" for the last row
    cells: dict[str, Cell]  # rule id -> cell


@dataclass(frozen=True)
class Matrix:
    as_of: date
    book: RuleBook
    filters: dict
    rules: list[str]
    rows: list[MatrixRow]


def cell(tally: dict[str, int]) -> Cell:
    judged = tally["pass"] + tally["warn"] + tally["fail"]
    return Cell(tally["pass"], judged, judged - tally["pass"], pass_rate(tally))


def matrix(store, catalog, book: RuleBook, as_of: date, site: str | None = None, *, report=None) -> Matrix:
    """Per specialist, what `fidelity --specialist ID` as of `as_of` counts, rule by rule; the program last.

    `report` is the program's evaluation as of `as_of` for `site` when the caller has it already
    (the HTML report does): the matrix then costs no second evaluation."""
    report = report or evaluate(store, catalog, book, as_of, site=site)
    by_participant: dict[str, Counter] = defaultdict(Counter)  # participant -> (rule, status) -> subjects
    by_specialist: dict[str, Counter] = defaultdict(Counter)  # the specialist-scope results
    for result in report.results:
        if result.scope != "session":
            of = by_participant if result.scope == "participant" else by_specialist
            of[result.subject][result.rule, result.status] += 1
    for (rule_id, participant, status), n in report.session_counts.items():
        by_participant[participant][rule_id, status] += n
    seen: dict[str, Counter] = defaultdict(Counter)  # specialist -> the summed counts of their participants
    for participant, specialists in report.seen_by.items():
        if participant in by_participant:
            for specialist in specialists:
                seen[specialist].update(by_participant[participant])
    rows = []
    for specialist in sorted(seen.keys() | by_specialist.keys()):
        rows.append(MatrixRow(specialist, {rule.id: cell({
            status: (by_specialist if rule.scope == "specialist" else seen)[specialist][rule.id, status]
            for status in STATUSES}) for rule in book.rules}))
    rows.append(MatrixRow(PROGRAM, {rule.id: cell(report.tally(rule.id)) for rule in book.rules}))
    return Matrix(as_of, book, {"site": site}, [rule.id for rule in book.rules], rows)
