"""Evaluates the rule book against the store as of a date.

Store queries -> facts per subject -> pure rule kinds -> a Report. The session
rows stream once, ordered by participant, so memory grows with the number of
participants, not of sessions. Voided sessions never count; only records dated
on or before the as-of date are read. `evaluate_at` runs the same rules as of
several dates in that one pass (a trend): each participant's facts are cut at
each date, exactly as a run as of that date would read them.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from itertools import groupby

from vpslog.fidelity.kinds import Contact, ParticipantFacts, SpecialistFacts
from vpslog.fidelity.rules import Rule, RuleBook

STATUSES = ("pass", "warn", "fail", "pending")


@dataclass(frozen=True, slots=True)
class Result:
    rule: str
    scope: str
    subject: str
    site: str
    status: str  # pass, warn, fail or pending
    evidence: str
    numbers: dict
    open: bool = False  # a warn or fail a supervisor can still act on (see Outcome)


def tally(counts: Counter, rule_id: str, site: str | None = None) -> dict[str, int]:
    """Subjects per status of one rule, over all sites or one, from (rule id, site, status) counts."""
    return {status: sum(n for (r, s, st), n in counts.items() if r == rule_id and st == status
                        and (site is None or s == site)) for status in STATUSES}


def pass_rate(statuses: dict[str, int]) -> float | None:
    """pass / (pass + warn + fail), pending left out; None when nothing was judged."""
    judged = statuses["pass"] + statuses["warn"] + statuses["fail"]
    return round(statuses["pass"] / judged, 4) if judged else None


@dataclass
class Report:
    as_of: date
    book: RuleBook
    filters: dict
    results: list[Result] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)  # (rule id, site, status) -> subjects
    session_counts: Counter = field(default_factory=Counter)  # (rule id, participant, status) -> sessions
    keep: bool = True  # False: only counts (a trend evaluates many dates and reads only the rates)

    def record(self, rule: Rule, subject: str, site: str, outcome) -> None:
        status = rule.severity if outcome.status == "bad" else outcome.status
        self.counts[rule.id, site, status] += 1
        if self.keep:
            self.results.append(Result(rule.id, rule.scope, subject, site, status, outcome.evidence,
                                       outcome.numbers, outcome.open))

    def tally(self, rule_id: str, site: str | None = None) -> dict[str, int]:
        return tally(self.counts, rule_id, site)

    @property
    def sites(self) -> list[str]:
        return sorted({site for _, site, _ in self.counts})

    def summary(self) -> list[dict]:
        """Per rule: counts, the pass rate (pending left out) and its item score."""
        rows = []
        for rule in self.book.rules:
            tally = self.tally(rule.id)
            rate = pass_rate(tally)
            rows.append({"rule": rule.id, "title": rule.title, "scope": rule.scope, "severity": rule.severity,
                         **tally, "pass_rate": rate,
                         "item_score": None if rate is None else self.book.scale.item_score(rate)})
        return rows

    def scale(self) -> dict:
        scored = [row["item_score"] for row in self.summary() if row["item_score"] is not None]
        total, most = sum(scored), 5 * len(scored)
        share = total / most if most else 0.0
        return {"total": total, "max": most, "share": round(share, 4),
                "band": self.book.scale.band(share) if most else None,
                "item_bands": [{"min_rate": m, "score": s} for m, s in self.book.scale.item_bands],
                "total_bands": [{"min_share": m, "label": lb} for m, lb in self.book.scale.total_bands]}

    @property
    def failed(self) -> bool:
        return any(status == "fail" for (_, _, status), n in self.counts.items() if n)


def evaluate(store, catalog, book: RuleBook, as_of: date, *, site: str | None = None,
             specialist: str | None = None, participant: str | None = None) -> Report:
    """Every rule for every subject in scope, as of `as_of` (records dated after it are ignored)."""
    [report] = evaluate_at(store, catalog, book, [as_of], site=site, specialist=specialist, participant=participant)
    return report


def evaluate_at(store, catalog, book: RuleBook, days: list[date], *, site: str | None = None,
                specialist: str | None = None, participant: str | None = None, keep: bool = True) -> list[Report]:
    """One Report per date of `days` (ascending), each what `evaluate` as of that date gives, from
    one read of the sessions: a participant counts from enrollment, with the sessions, exit and
    eligible screening dated on or before each date, and (with `specialist`) once seen by them."""
    filters = {"site": site, "specialist": specialist, "participant": participant}
    reports = [Report(day, book, filters, keep=keep) for day in days]
    last = days[-1].isoformat()
    by_scope = {scope: [r for r in book.rules if r.scope == scope] for scope in ("participant", "session", "specialist")}
    people = store.fidelity_participants(last, site, participant, specialist)
    rows = store.fidelity_sessions(last, site, participant, specialist)
    grouped = groupby(_contacts(rows, catalog.vocational_components), key=lambda contact: contact.participant)
    pending = next(grouped, None)
    ordinals = [day.toordinal() for day in days]
    for pid, site_id, arm, enrolled, consent, exited, screened in people:
        sessions: list[Contact] = []
        while pending is not None and pending[0] < pid:  # sessions of participants out of scope
            pending = next(grouped, None)
        if pending is not None and pending[0] == pid:
            sessions = list(pending[1])
            pending = next(grouped, None)
        flags = [(rule, [(s, o) for s in sessions if (o := rule.check(s, rule.params)) is not None])
                 for rule in by_scope["session"]]  # a session's own rules do not depend on the date
        for report, day in zip(reports, ordinals):
            if enrolled > day:
                continue
            cut = sessions[:bisect_right(sessions, day, key=_day)]
            if specialist is not None and all(s.specialist != specialist for s in cut):
                continue  # not yet seen by the specialist on this date
            person = ParticipantFacts(pid, site_id, arm, enrolled, consent, _by(exited, day), _by(screened, day), cut)
            for rule in by_scope["participant"]:
                outcome = rule.check(person, rule.params, day, catalog)
                if outcome is not None:
                    report.record(rule, pid, site_id, outcome)
            for rule, flagged in flags:
                _sessions(report, rule, person, flagged if len(cut) == len(sessions) else
                          [(s, o) for s, o in flagged if s.day <= day])
    if participant is None:
        _specialists(reports, store, catalog, by_scope["specialist"], site, specialist)
    return reports


def _day(contact: Contact) -> int:
    return contact.day


def _by(day: int | None, as_of: int) -> int | None:
    """A dated fact (an exit, a screening) as a run as of `as_of` sees it: only when on or before it."""
    return day if day is not None and day <= as_of else None


def _contacts(rows, vocational: frozenset[str]):
    """Session rows as Contacts; days and vocational flags are computed once per distinct
    date and component list (a few thousand), not once per row (a million)."""
    days: dict[str, int] = {}
    flags: dict[str, int] = {}
    for pid, sid, day_text, kind, components, specialist, clinical, entered_text in rows:
        day = days.get(day_text)
        if day is None:
            day = days[day_text] = date.fromisoformat(day_text).toordinal()
        entered = days.get(entered_text)
        if entered is None:
            entered = days[entered_text] = date.fromisoformat(entered_text).toordinal()
        flag = flags.get(components)
        if flag is None:
            flag = flags[components] = int(not vocational.isdisjoint(components.split(";")))
        yield Contact(pid, sid, day_text, day, kind, components, specialist, clinical, entered, flag)


def _sessions(report: Report, rule: Rule, person: ParticipantFacts, flagged: list[tuple[Contact, object]]) -> None:
    """Session rules keep a result only for a session that needs attention; passes are counted.
    `flagged`: the participant's sessions up to the date that the rule flags, with the outcome."""
    for session, outcome in flagged:
        report.record(rule, session.id, person.site, outcome)
    passed = len(person.sessions) - len(flagged)
    report.counts[rule.id, person.site, "pass"] += passed
    if report.keep:
        report.session_counts[rule.id, person.id, "pass"] += passed
        report.session_counts[rule.id, person.id, rule.severity] += len(flagged)


def _specialists(reports: list[Report], store, catalog, rules, site, specialist) -> None:
    """The specialist rules as of each report's date, from one read of the days delivered and the
    supervisions up to the last date, cut at each date."""
    last = reports[-1].as_of.isoformat()
    supervision: dict[str, list[int]] = {}
    for specialist_id, supervised in store.individual_supervision_days(last):
        supervision.setdefault(specialist_id, []).append(supervised)
    days = [report.as_of.isoformat() for report in reports]
    caseloads = {window: {(sid, day): n for sid, day, n in store.caseload_history(days, window)}
                 for window in {r.params["window_days"] for r in rules if "window_days" in r.params}}
    rows = store.fidelity_specialist_days(last, catalog.delivered_types, site, specialist)
    for (sid, site_id, trained), group in groupby(rows, key=lambda row: row[:3]):
        delivered = [row[3] for row in group if row[3] is not None]
        supervised = supervision.get(sid, [])
        for report, iso in zip(reports, days):
            day = report.as_of.toordinal()
            cut = bisect_right(delivered, day)
            facts = SpecialistFacts(sid, site_id, _by(trained, day), delivered[0] if cut else None,
                                    delivered[cut - 1] if cut else None, supervised[:bisect_right(supervised, day)],
                                    {w: counts.get((sid, iso), 0) for w, counts in caseloads.items()})
            for rule in rules:
                outcome = rule.check(facts, rule.params, day, catalog)
                if outcome is not None:
                    report.record(rule, sid, site_id, outcome)
