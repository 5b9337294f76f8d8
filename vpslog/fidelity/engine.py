"""Evaluates the rule book against the store as of a date.

Store queries -> facts per subject -> pure rule kinds -> a Report. The session
rows stream once, ordered by participant, so memory grows with the number of
participants, not of sessions. Voided sessions never count; only records dated
on or before the as-of date are read.
"""

from __future__ import annotations

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


@dataclass
class Report:
    as_of: date
    book: RuleBook
    filters: dict
    results: list[Result] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)  # (rule id, site, status) -> subjects

    def record(self, rule: Rule, subject: str, site: str, outcome) -> None:
        status = rule.severity if outcome.status == "bad" else outcome.status
        self.counts[rule.id, site, status] += 1
        self.results.append(Result(rule.id, rule.scope, subject, site, status, outcome.evidence, outcome.numbers))

    def tally(self, rule_id: str, site: str | None = None) -> dict[str, int]:
        return {status: sum(n for (r, s, st), n in self.counts.items() if r == rule_id and st == status
                            and (site is None or s == site)) for status in STATUSES}

    @property
    def sites(self) -> list[str]:
        return sorted({site for _, site, _ in self.counts})

    def summary(self) -> list[dict]:
        """Per rule: counts, the pass rate (pending left out) and its item score."""
        rows = []
        for rule in self.book.rules:
            tally = self.tally(rule.id)
            judged = tally["pass"] + tally["warn"] + tally["fail"]
            rate = tally["pass"] / judged if judged else None
            rows.append({"rule": rule.id, "title": rule.title, "scope": rule.scope, "severity": rule.severity,
                         **tally, "pass_rate": None if rate is None else round(rate, 4),
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
    report = Report(as_of, book, {"site": site, "specialist": specialist, "participant": participant})
    day, iso = as_of.toordinal(), as_of.isoformat()
    by_scope = {scope: [r for r in book.rules if r.scope == scope] for scope in ("participant", "session", "specialist")}
    people = store.fidelity_participants(iso, site, participant, specialist)
    rows = store.fidelity_sessions(iso, site, participant, specialist)
    grouped = groupby(_contacts(rows, catalog.vocational_components), key=lambda contact: contact.participant)
    pending = next(grouped, None)
    for pid, site_id, arm, enrolled, consent, exited, screened in people:
        person = ParticipantFacts(pid, site_id, arm, enrolled, consent, exited, screened)
        while pending is not None and pending[0] < pid:  # sessions of participants out of scope
            pending = next(grouped, None)
        if pending is not None and pending[0] == pid:
            person.sessions = list(pending[1])
            pending = next(grouped, None)
        for rule in by_scope["participant"]:
            outcome = rule.check(person, rule.params, day, catalog)
            if outcome is not None:
                report.record(rule, pid, site_id, outcome)
        for rule in by_scope["session"]:
            _sessions(report, rule, person)
    if participant is None:
        _specialists(report, store, catalog, by_scope["specialist"], day, iso, site, specialist)
    return report


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


def _sessions(report: Report, rule: Rule, person: ParticipantFacts) -> None:
    """Session rules keep a result only for a session that needs attention; passes are counted."""
    check, params, passed = rule.check, rule.params, 0
    for session in person.sessions:
        outcome = check(session, params)
        if outcome is None:
            passed += 1
        else:
            report.record(rule, session.id, person.site, outcome)
    report.counts[rule.id, person.site, "pass"] += passed


def _specialists(report, store, catalog, rules, day, iso, site, specialist) -> None:
    supervision: dict[str, list[int]] = {}
    for specialist_id, supervised in store.individual_supervision_days(iso):
        supervision.setdefault(specialist_id, []).append(supervised)
    windows = {r.params["window_days"] for r in rules if "window_days" in r.params}
    caseloads = {window: store.caseloads(iso, window) for window in windows}
    for sid, site_id, trained, first, last in store.fidelity_specialists(iso, catalog.delivered_types, site, specialist):
        facts = SpecialistFacts(sid, site_id, trained, first, last, supervision.get(sid, []),
                                {w: counts.get(sid, 0) for w, counts in caseloads.items()})
        for rule in rules:
            outcome = rule.check(facts, rule.params, day, catalog)
            if outcome is not None:
                report.record(rule, sid, site_id, outcome)
