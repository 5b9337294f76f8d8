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
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import date
from itertools import groupby

from vpslog.fidelity.kinds import (
    READS_AS_OF,
    Contact,
    ParticipantFacts,
    SpecialistFacts,
)
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
    if site is not None:  # looked up (a trend asks this of every site, rule and period)
        return {status: counts[rule_id, site, status] for status in STATUSES}
    return {status: sum(n for (r, s, st), n in counts.items() if r == rule_id and st == status)
            for status in STATUSES}


def pass_rate(statuses: dict[str, int]) -> float | None:
    """pass / (pass + warn + fail), pending left out; None when nothing was judged."""
    judged = statuses["pass"] + statuses["warn"] + statuses["fail"]
    return round(statuses["pass"] / judged, 4) if judged else None


def status_of(rule: Rule, outcome) -> str:
    """A judged outcome's status: "bad" is the rule's severity."""
    return rule.severity if outcome.status == "bad" else outcome.status


@dataclass
class Report:
    as_of: date
    book: RuleBook
    filters: dict
    results: list[Result] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)  # (rule id, site, status) -> subjects
    session_counts: Counter = field(default_factory=Counter)  # (rule id, participant, status) -> sessions
    keep: bool = True  # False: only counts (a trend evaluates many dates and reads only the rates)
    sink: Callable[[Result], None] | None = None
    """Receives each result as it is judged, instead of `results` keeping it: a big program's
    report is written out as it is produced, in memory that does not grow with what it flags."""
    flagged: list[Result] = field(default_factory=list)
    """The participant and specialist results with a warn or fail (what needs attention)."""
    flagged_sessions: dict[str, tuple[int, list[Result]]] = field(default_factory=dict)
    """Per session rule: how many sessions it flags, and the first three."""
    seen_by: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Kept reports: participant -> the specialists who saw them by the date (the matrix's rows)."""
    specialists: dict[str, SpecialistFacts] = field(default_factory=dict)
    """Kept reports: the facts each specialist was judged on (the HTML report draws them)."""
    session_results: bool = True
    """Kept reports: False keeps no session's own result in `results`, only its counts (and the first
    three flagged per rule): the HTML report's memory then does not grow with what it flags."""

    @property
    def counts_only(self) -> bool:
        """Only the counts are wanted (a trend's earlier dates): `_record` counts without `record`."""
        return not self.keep and self.sink is None

    def record(self, rule: Rule, subject: str, site: str, outcome) -> None:
        status = status_of(rule, outcome)
        self.counts[rule.id, site, status] += 1
        if self.counts_only:
            return
        flagged = status in ("warn", "fail")
        kept = self.sink is not None or self.session_results or rule.scope != "session"
        if not kept:
            if not flagged:
                return
            count, first = self.flagged_sessions.get(rule.id, (0, []))
            if len(first) == 3:  # the first three are all that `attention` shows: no Result for the rest
                self.flagged_sessions[rule.id] = (count + 1, first)
                return
        result = Result(rule.id, rule.scope, subject, site, status, outcome.evidence, outcome.numbers, outcome.open)
        if kept and self.sink is None:
            self.results.append(result)
        elif kept:
            self.sink(result)
        if flagged:
            if rule.scope != "session":
                self.flagged.append(result)
            else:
                count, first = self.flagged_sessions.get(rule.id, (0, []))
                self.flagged_sessions[rule.id] = (count + 1, first if len(first) == 3 else [*first, result])

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
             specialist: str | None = None, participant: str | None = None,
             sink: Callable[[Result], None] | None = None) -> Report:
    """Every rule for every subject in scope, as of `as_of` (records dated after it are ignored);
    with `sink`, each result goes to it as it is judged instead of being kept (Report.sink)."""
    [report] = evaluate_at(store, catalog, book, [as_of], site=site, specialist=specialist, participant=participant,
                           keep=sink is None, sink=sink)
    return report


def evaluate_at(store, catalog, book: RuleBook, days: list[date], *, site: str | None = None,
                specialist: str | None = None, participant: str | None = None,
                keep: bool | Collection[date] = True, sink: Callable[[Result], None] | None = None,
                session_results: bool = True) -> list[Report]:
    """One Report per date of `days` (ascending), each what `evaluate` as of that date gives, from
    one read of the sessions: a participant counts from enrollment, with the sessions, exit and
    eligible screening dated on or before each date, and (with `specialist`) once seen by them.
    `keep`: whether the reports keep their results (True, False, or only those of the given dates);
    `sink`: where the last date's report sends its results instead (Report.sink); `session_results`:
    whether kept reports keep each session's result (Report.session_results).

    A participant whose facts are the same at a date as at the previous one judged (no session,
    eligible screening or exit in between) is not judged again by the kinds that do not read the
    date: their previous outcomes are recorded again. Those that do (`kinds.READS_AS_OF`: pending,
    an open gap) read it only for an active participant, so one exited by then is not judged at all."""
    filters = {"site": site, "specialist": specialist, "participant": participant}
    reports = [Report(day, book, filters, keep=keep if isinstance(keep, bool) else day in keep,
                      session_results=session_results) for day in days]
    reports[-1].sink = sink
    last = days[-1].isoformat()
    by_scope = {scope: [r for r in book.rules if r.scope == scope] for scope in ("participant", "session", "specialist")}
    people = store.fidelity_participants(last, site, participant, specialist)
    rows = store.fidelity_sessions(last, site, participant, specialist)
    grouped = groupby(_contacts(rows, catalog.vocational_components), key=lambda contact: contact.participant)
    pending = next(grouped, None)
    ordinals = [day.toordinal() for day in days]
    isos = [day.isoformat() for day in days]
    # The caseloads the specialist rules read, counted from this same pass when every participant
    # a specialist may have seen is in it (not with a site filter: a specialist may see another
    # site's participants); keyed as the store's caseload_history gives them.
    windows = sorted({r.params["window_days"] for r in by_scope["specialist"] if "window_days" in r.params})
    caseloads = {w: Counter() for w in windows} if site is None and participant is None else None
    rules = by_scope["participant"]
    selections = {r.params["session_types"] for r in rules if isinstance(r.params.get("session_types"), tuple)}
    for pid, site_id, arm, enrolled, consent, exited, screened in people:
        sessions: list[Contact] = []
        while pending is not None and pending[0] < pid:  # sessions of participants out of scope
            pending = next(grouped, None)
        if pending is not None and pending[0] == pid:
            sessions = list(pending[1])
            pending = next(grouped, None)
        session_days = [s.day for s in sessions]  # bisected at each date (in C, no key function)
        if caseloads:
            _caseloads(caseloads, sessions, session_days, enrolled, exited, ordinals, isos)
        flags = [(rule, [(s, o) for s in sessions if (o := rule.check(s, rule.params)) is not None])
                 for rule in by_scope["session"]]  # a session's own rules do not depend on the date
        typed = {types: [s for s in sessions if s.type in types] for types in selections}
        typed_days = {types: [s.day for s in found] for types, found in typed.items()}
        seen = None  # (sessions, screening, exit, outcomes by rule, session flags) as of the last date judged
        scans = {}  # where the kinds' scans of this participant's sessions stopped (kinds.ParticipantFacts)
        for report, day in zip(reports, ordinals):
            if enrolled > day:
                continue
            count = bisect_right(session_days, day)
            if report.keep:
                report.seen_by[pid] = tuple({s.specialist for s in sessions[:count]})
            facts = (count, _by(screened, day), _by(exited, day))
            same = seen is not None and facts == seen[:3]  # no session, screening or exit since the last date
            if same and (seen[3] is None or facts[2] is not None):
                if seen[3] is not None:  # exited: no kind reads the date, the outcomes stand
                    _record(report, pid, site_id, zip(rules, seen[3]), seen[4], count)
                continue  # (or still not seen by the specialist)
            cut = sessions[:count]
            if specialist is not None and all(s.specialist != specialist for s in cut):
                seen = (*facts, None, None)
                continue  # not yet seen by the specialist on this date
            person = ParticipantFacts(pid, site_id, arm, enrolled, consent, facts[2], facts[1], cut,
                                      {types: found[:bisect_right(typed_days[types], day)] for types, found in typed.items()}, scans)
            outcomes = [rule.check(person, rule.params, day, catalog) if not same or rule.kind in READS_AS_OF
                        else previous for rule, previous in zip(rules, seen[3] if same else rules)]
            cut_flags = seen[4] if same else [
                (rule, flagged if count == len(sessions) else [(s, o) for s, o in flagged if s.day <= day])
                for rule, flagged in flags]
            seen = (*facts, outcomes, cut_flags)
            _record(report, pid, site_id, zip(rules, outcomes), cut_flags, count)
    if participant is None:
        _specialists(reports, store, catalog, by_scope["specialist"], site, specialist,
                     None if caseloads is None else {w: dict(n) for w, n in caseloads.items()})
    return reports


def _record(report: Report, pid: str, site_id: str, outcomes, flags: list, sessions: int) -> None:
    """A participant's outcomes as of a date: their participant rules, and their session rules over
    the `sessions` they had by then."""
    if report.counts_only:  # counted here: a trend records hundreds of thousands of these
        counts = report.counts
        for rule, outcome in outcomes:
            if outcome is not None:
                counts[rule.id, site_id, status_of(rule, outcome)] += 1
        for rule, flagged in flags:
            for _, outcome in flagged:
                counts[rule.id, site_id, status_of(rule, outcome)] += 1
            counts[rule.id, site_id, "pass"] += sessions - len(flagged)
        return
    for rule, outcome in outcomes:
        if outcome is not None:
            report.record(rule, pid, site_id, outcome)
    for rule, flagged in flags:
        _sessions(report, rule, pid, site_id, sessions, flagged)


def _caseloads(caseloads: dict[int, Counter], sessions: list[Contact], days: list[int], enrolled: int,
               exited: int | None, ordinals: list[int], isos: list[str]) -> None:
    """Adds one participant to the caseloads: at each date they are active on, each specialist who
    saw them within the window ending on it (as `store.caseload_history` counts them); `days`: the
    sessions' days."""
    for day, iso in zip(ordinals, isos):
        if enrolled > day or (exited is not None and exited <= day):
            continue
        end = bisect_right(days, day)
        for window, counts in caseloads.items():
            start = bisect_right(days, day - window, hi=end)
            for specialist_id in {s.specialist for s in sessions[start:end]}:
                counts[specialist_id, iso] += 1


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


def _sessions(report: Report, rule: Rule, pid: str, site_id: str, sessions: int,
              flagged: list[tuple[Contact, object]]) -> None:
    """Session rules keep a result only for a session that needs attention; passes are counted.
    `sessions`: how many the participant had up to the date; `flagged`: those the rule flags, with the outcome."""
    for session, outcome in flagged:
        report.record(rule, session.id, site_id, outcome)
    passed = sessions - len(flagged)
    report.counts[rule.id, site_id, "pass"] += passed
    if report.keep:
        report.session_counts[rule.id, pid, "pass"] += passed
        report.session_counts[rule.id, pid, rule.severity] += len(flagged)


def _specialists(reports: list[Report], store, catalog, rules, site, specialist, caseloads=None) -> None:
    """The specialist rules as of each report's date, from one read of the days delivered and the
    supervisions up to the last date, cut at each date. `caseloads`: window -> (specialist, date) ->
    caseload when already counted, else read from the store."""
    last = reports[-1].as_of.isoformat()
    supervision: dict[str, list[int]] = {}
    for specialist_id, supervised in store.individual_supervision_days(last):
        supervision.setdefault(specialist_id, []).append(supervised)
    days = [report.as_of.isoformat() for report in reports]
    if caseloads is None:
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
            if report.keep:
                report.specialists[sid] = facts
            for rule in rules:
                outcome = rule.check(facts, rule.params, day, catalog)
                if outcome is not None:
                    report.record(rule, sid, site_id, outcome)
