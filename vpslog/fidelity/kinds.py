"""The rule kinds: small pure functions from a subject's facts to an outcome.

A kind never opens the store. Days are proleptic ordinals (`date.toordinal()`),
so a difference of days is a subtraction. Each kind returns None when it does
not apply to the subject (e.g. the dose rule for a control-arm participant).
"""

from __future__ import annotations

from collections.abc import Callable
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import NamedTuple

from vpslog.parsing import plural


class Contact(NamedTuple):
    """One non-voided session, as the fidelity pass reads it."""

    participant: str
    id: str
    date: str
    day: int
    type: str
    components: str  # `;`-joined codes
    specialist: str
    clinical: int
    entered_day: int
    vocational: int  # 1 when any component is vocational


@dataclass(slots=True)
class ParticipantFacts:
    id: str
    site: str
    arm: str | None
    enrolled_day: int
    consent_day: int | None
    exited_day: int | None  # only when the exit is on or before the as-of date
    screened_day: int | None  # first eligible screening on or before the as-of date
    sessions: list[Contact] = field(default_factory=list)
    _by_types: dict = field(default_factory=dict)
    scans: dict = field(default_factory=dict)
    """Where the kinds' scans over the sessions stopped: (kind, params) -> (sessions scanned, state).
    The engine judging many dates (ascending) shares it between one participant's cuts, each the
    previous one extended, so a scan resumes where the previous date's stopped."""

    def of_types(self, types: tuple[str, ...]) -> list[Contact]:
        """The sessions of the given types (several rules ask for the same selection)."""
        found = self._by_types.get(types)
        if found is None:
            found = self._by_types[types] = [s for s in self.sessions if s.type in types]
        return found


@dataclass(slots=True)
class SpecialistFacts:
    id: str
    site: str
    trained_day: int | None
    first_day: int | None = None
    last_day: int | None = None
    supervision_days: list[int] = field(default_factory=list)  # individual supervision, sorted
    caseload: dict[int, int] = field(default_factory=dict)  # window days -> active participants seen


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str  # pass, bad (becomes the rule's severity), or pending
    evidence: str
    numbers: dict = field(default_factory=dict)
    open: bool = False
    """A bad outcome a supervisor can still act on as of the date (an ongoing gap, a dose an active
    participant can still reach, a missing record); False for history (a gap that has ended)."""


def day_of(contact: Contact) -> int:
    """The sort key of sessions (by day), for bisect."""
    return contact.day


@cache
def day_text(day: int) -> str:
    """An ordinal as ISO text; cached, as the evidence of every date judged quotes the same few days."""
    return date.fromordinal(day).isoformat()


def _span(first: int, last: int) -> str:
    return f"{day_text(first)} … {day_text(last)}"


def _applies(person: ParticipantFacts, params: dict) -> bool:
    arms = params.get("arms")
    return not arms or person.arm in arms


def _counted(person: ParticipantFacts, params: dict) -> list[Contact]:
    return person.of_types(params["session_types"])


def _scanned(person: ParticipantFacts, scan: Callable, params: dict, sessions: list[Contact]):
    """`scan`'s state after `sessions`, resumed from where it stopped on a shorter cut of the same
    sessions (one step per new session, not a scan per date); a fresh scan otherwise."""
    key = (scan, id(params))
    done, state = person.scans.get(key, (0, None))
    if done > len(sessions):
        done, state = 0, None
    state = scan(state, sessions, done, params)
    person.scans[key] = (len(sessions), state)
    return state


def _unchanged(person: ParticipantFacts, kind: Callable, params: dict, facts: tuple, judge: Callable[[], Outcome]):
    """What `judge` gives, or the outcome it gave this participant at an earlier date of the same
    pass when `facts` (everything the kind's outcome reads) are the same: most participants'
    coverage, runs and consent stop changing after their first sessions, while a trend judges
    them at every month's end."""
    key = (kind, id(params))
    held = person.scans.get(key)
    if held is not None and held[0] == facts:
        return held[1]
    outcome = judge()
    person.scans[key] = (facts, outcome)
    return outcome


def _window_scan(state, sessions: list[Contact], done: int, params: dict) -> tuple:
    """(start of the window ending at the last session, best count, its first and last index,
    index of the session that reached the dose or None)."""
    width, need = params["window_days"], params["min_sessions"]
    start, best, low, high, reached = state or (0, 0, 0, 0, None)
    for end in range(done, len(sessions)):
        day = sessions[end].day
        while day - sessions[start].day >= width:
            start += 1
        size = end - start + 1
        if size > best:
            best, low, high = size, start, end
        if reached is None and size >= need:
            reached = end
    return start, best, low, high, reached


def _gap_scan(state, sessions: list[Contact], done: int, params: dict) -> tuple:
    """(longest gap between consecutive contact days, its first and last day, the last contact day)."""
    gap, start, stop, last = state or (0, None, None, None)
    for index in range(done, len(sessions)):
        day = sessions[index].day
        if last is None:
            start = stop = day
        elif day - last > gap:
            gap, start, stop = day - last, last, day
        last = day
    return gap, start, stop, last


def _run_scan(state, sessions: list[Contact], done: int, params: dict) -> tuple:
    """(sessions in the current run without vocational content, the longest run, its first and last index)."""
    run, worst, low, high = state or (0, 0, 0, 0)
    for index in range(done, len(sessions)):
        run = 0 if sessions[index].vocational else run + 1
        if run > worst:
            worst, low, high = run, index - run + 1, index
    return run, worst, low, high


def _coverage_scan(state, sessions: list[Contact], done: int, params: dict) -> tuple:
    """(the components of the first `first_sessions` sessions, the required components addressed)."""
    early, found = state or (set(), set())
    for index in range(done, min(len(sessions), params["first_sessions"])):
        early.update(sessions[index].components.split(";"))
    required = set(params["required_components"])
    for index in range(done, len(sessions) if found < required else done):
        found.update(required.intersection(sessions[index].components.split(";")))
        if found == required:
            break
    return early, found


# -- participant kinds --------------------------------------------------------


def dose_window(person: ParticipantFacts, params: dict, as_of: int, catalog) -> Outcome | None:
    """At least `min_sessions` counted sessions in some window of `window_days`
    consecutive days, both ends included. Not reached while enrolled fewer than
    `window_days` days before the as-of date and still active: pending, with what is
    needed by the last day on which it can still be met: the last pending day, or the
    end of the window that holds the recent sessions if that comes first (SPEC 5)."""
    if not _applies(person, params):
        return None
    need, width = params["min_sessions"], params["window_days"]
    sessions = _counted(person, params)
    _, best, low, high, reached = _scanned(person, _window_scan, params, sessions)
    what = "/".join(params["session_types"])
    numbers = {"sessions": len(sessions), "best_window": best, "needed": need}
    evidence = f"{best} {what} sessions in the best {width}-day window (needs {need})"
    if best:
        evidence += f": {_span(sessions[low].day, sessions[high].day)}"
        numbers["window"] = [day_text(sessions[low].day), day_text(sessions[high].day)]
    if reached is not None:
        numbers["reached_on"] = day_text(sessions[reached].day)
        return Outcome("pass", f"{evidence}; reached on {numbers['reached_on']}", numbers)
    if person.exited_day is None and as_of - person.enrolled_day < width:
        recent = sessions[bisect_right(sessions, as_of - width, key=day_of):]
        window_start = recent[0].day if recent else as_of
        deadline = min(window_start, person.enrolled_day) + width - 1  # the next day it fails
        missing = need - len(recent)
        elapsed = as_of - window_start + 1
        projected = len(recent) + len(recent) / elapsed * (deadline - as_of) if recent else 0
        numbers |= {"missing": missing, "deadline": day_text(deadline), "on_track": projected >= need}
        return Outcome("pending", f"{evidence}; {missing} more {what} {plural(missing, 'session')} by {day_text(deadline)}", numbers)
    return Outcome("bad", evidence, numbers, open=person.exited_day is None)  # active: a later window can still hold it


def max_gap(person: ParticipantFacts, params: dict, as_of: int, catalog) -> Outcome | None:
    """No gap over `max_days` between consecutive contact dates while active;
    for an active participant the open gap up to the as-of date counts too."""
    if not _applies(person, params):
        return None
    limit = params["max_days"]
    gap, start, stop, last = _scanned(person, _gap_scan, params, _counted(person, params))
    end = person.exited_day if person.exited_day is not None else as_of
    if last is None:
        waited = end - person.enrolled_day
        evidence = f"no contact since enrollment on {day_text(person.enrolled_day)} ({waited} days; limit {limit})"
        numbers = {"longest_gap": waited, "last_contact": None, "days_since_last": waited}
        return Outcome("bad" if waited > limit else "pending", evidence, numbers, open=person.exited_day is None)
    label = day_text(stop)
    if person.exited_day is None and as_of - last > gap:
        gap, start, stop, label = as_of - last, last, as_of, f"{day_text(as_of)}, no contact since"
    numbers = {"longest_gap": gap, "last_contact": day_text(last),
               "days_since_last": (as_of - last) if person.exited_day is None else None}
    evidence = f"longest gap {gap} days ({day_text(start)} → {label}; limit {limit})"
    ongoing = person.exited_day is None and as_of - last > limit
    return Outcome("bad" if gap > limit else "pass", evidence, numbers, open=ongoing)


def consent_before_first(person: ParticipantFacts, params: dict, as_of: int, catalog) -> Outcome | None:
    """Consent, and an eligible screening when required, dated on or before the first session."""
    if not person.sessions:
        return None
    first = person.sessions[0].day
    return _unchanged(person, consent_before_first, params, (first, person.consent_day, person.screened_day),
                      lambda: _consent(person, params, first))


def _consent(person: ParticipantFacts, params: dict, first: int) -> Outcome:
    problems = []
    if person.consent_day is None:
        problems.append("no consent date")
    elif person.consent_day > first:
        problems.append(f"consent dated {day_text(person.consent_day)}")
    if params["require_screening"]:
        if person.screened_day is None or person.screened_day > first:
            problems.append("no eligible screening on or before it")
    if problems:
        missing = person.consent_day is None or (params["require_screening"] and person.screened_day is None)
        return Outcome("bad", f"first session {day_text(first)}: {'; '.join(problems)}", open=missing)
    return Outcome("pass", f"consent {day_text(person.consent_day)} on or before the first session {day_text(first)}")


def arm_integrity(person: ParticipantFacts, params: dict, as_of: int, catalog) -> Outcome | None:
    """Participants of the given arms receive no sessions of the given types."""
    if not _applies(person, params):
        return None
    wrong = _counted(person, params)
    if wrong:
        shown = ", ".join(s.date for s in wrong[:5]) + (" …" if len(wrong) > 5 else "")
        return Outcome("bad", f"{len(wrong)} VPS sessions for a {person.arm}-arm participant: {shown}",
                       {"sessions": len(wrong)}, open=person.exited_day is None)
    return Outcome("pass", f"no VPS sessions for a {person.arm}-arm participant")


def vocational_run(person: ParticipantFacts, params: dict, as_of: int, catalog) -> Outcome | None:
    """No run of more than `max_run` consecutive counted sessions without a vocational component."""
    if not _applies(person, params):
        return None
    limit = params["max_run"]
    sessions = _counted(person, params)
    run, worst, low, high = _scanned(person, _run_scan, params, sessions)
    ongoing = person.exited_day is None and run > limit
    return _unchanged(person, vocational_run, params, (worst, low, high, ongoing),
                      lambda: _run(sessions, limit, worst, low, high, ongoing))


def _run(sessions: list[Contact], limit: int, worst: int, low: int, high: int, ongoing: bool) -> Outcome:
    if worst > limit:
        span = _span(sessions[low].day, sessions[high].day)
        return Outcome("bad", f"a run of {worst} sessions without vocational content ({span}; limit {limit})",
                       {"longest_run": worst}, open=ongoing)
    return Outcome("pass", f"longest run without vocational content: {worst} sessions (limit {limit})",
                   {"longest_run": worst})


def coverage(person: ParticipantFacts, params: dict, as_of: int, catalog) -> Outcome | None:
    """Every component group within the first `first_sessions` counted sessions,
    and each required component at least once; pending while fewer sessions."""
    if not _applies(person, params):
        return None
    sessions, first_n = _counted(person, params), params["first_sessions"]
    early, found = _scanned(person, _coverage_scan, params, sessions)
    # the scan's sets only grow, so their sizes tell whether they changed since an earlier date
    facts = (len(early), len(found), min(len(sessions), first_n), person.exited_day is None)
    return _unchanged(person, coverage, params, facts, lambda: _coverage(person, params, catalog, sessions, early, found))


def _coverage(person: ParticipantFacts, params: dict, catalog, sessions: list[Contact], early: set, found: set) -> Outcome:
    first_n = params["first_sessions"]
    groups = {catalog.component_groups.get(code) for code in early if code}
    missing_groups = [g for g in catalog.codes("group") if g not in groups]
    missing_parts = [c for c in params["required_components"] if c not in found]
    if not missing_groups and not missing_parts:
        return Outcome("pass", f"all component groups within the first {min(len(sessions), first_n)} sessions; "
                               f"{', '.join(params['required_components'])} addressed")
    gaps = ([f"groups not covered: {', '.join(missing_groups)}"] if missing_groups else []) + (
        [f"never addressed: {', '.join(missing_parts)}"] if missing_parts else [])
    if len(sessions) < first_n and person.exited_day is None:
        return Outcome("pending", f"{len(sessions)} of the first {first_n} sessions so far; " + "; ".join(gaps))
    return Outcome("bad", f"first {first_n} sessions: " + "; ".join(gaps),
                   open=person.exited_day is None and bool(missing_parts))  # the early groups are history


# -- session kinds --------------------------------------------------------------


def no_clinical(session: Contact, params: dict) -> Outcome | None:
    if session.clinical:
        return Outcome("bad", f"clinical service recorded in the session of {session.date} ({session.participant})")
    return None  # a pass: session results are kept only when they need attention


def entry_lag(session: Contact, params: dict) -> Outcome | None:
    lag = session.entered_day - session.day
    if lag > params["max_days"]:
        return Outcome("bad", f"session of {session.date} ({session.participant}) entered {lag} days later "
                              f"(limit {params['max_days']})", {"days": lag})
    return None


# -- specialist kinds --------------------------------------------------------------


def trained_before(person: SpecialistFacts, params: dict, as_of: int, catalog) -> Outcome | None:
    """The training date is on or before the first session delivered."""
    if person.first_day is None:
        return None
    first = day_text(person.first_day)
    if person.trained_day is None or person.trained_day > as_of:
        return Outcome("bad", f"no training date, first session {first}", open=True)
    if person.trained_day > person.first_day:
        return Outcome("bad", f"trained on {day_text(person.trained_day)}, after the first session on {first}")
    return Outcome("pass", f"trained on {day_text(person.trained_day)}, first session {first}")


def supervision_cadence(person: SpecialistFacts, params: dict, as_of: int, catalog) -> Outcome | None:
    """Individual supervision at least every `max_days` days while delivering:
    the stretches between supervisions are clipped to the first and last session."""
    if person.first_day is None:
        return None
    limit, first, last = params["max_days"], person.first_day, person.last_day
    points = [first, *(d for d in person.supervision_days if first < d < last), last]
    start, end = max(zip(points, points[1:]), key=lambda p: p[1] - p[0])
    held = sum(1 for d in person.supervision_days if first <= d <= last)
    evidence = (f"{held} individual supervisions while delivering ({day_text(first)} … {day_text(last)}); "
                f"longest stretch without one {end - start} days ({day_text(start)} → {day_text(end)}; limit {limit})")
    latest = points[-1] - points[-2]  # the stretch still running at the last session delivered
    return Outcome("bad" if end - start > limit else "pass", evidence, {"longest_gap": end - start, "supervisions": held},
                   open=latest > limit)


def caseload(person: SpecialistFacts, params: dict, as_of: int, catalog) -> Outcome | None:
    """At most `max_participants` active participants seen in the last `window_days` days."""
    if person.first_day is None:
        return None
    limit, window = params["max_participants"], params["window_days"]
    count = person.caseload.get(window, 0)
    evidence = f"{count} active participants seen in the last {window} days (limit {limit})"
    return Outcome("bad" if count > limit else "pass", evidence, {"caseload": count}, open=True)  # today's caseload


READS_AS_OF = frozenset({"dose_window", "max_gap"})
"""The participant kinds whose outcome can change with the as-of date alone (pending until a window
has passed, the open gap up to the date), and only for an active participant (no exit by the date).
Every other participant kind is a function of the facts alone, so the engine judging many dates
reuses its outcome while the facts stay the same; a new kind reading `as_of` must be added here."""


@dataclass(frozen=True)
class Kind:
    scope: str
    check: Callable
    params: dict  # parameter name -> default; the default's type is the accepted type


KINDS: dict[str, Kind] = {
    "dose_window": Kind("participant", dose_window, {
        "min_sessions": 10, "window_days": 182, "session_types": ["individual"], "arms": []}),
    "max_gap": Kind("participant", max_gap, {
        "max_days": 30, "session_types": ["individual", "group", "collateral", "no-show"], "arms": []}),
    "consent_before_first": Kind("participant", consent_before_first, {"require_screening": True}),
    "arm_integrity": Kind("participant", arm_integrity, {
        "arms": ["control"], "session_types": ["individual", "group"]}),
    "vocational_run": Kind("participant", vocational_run, {
        "max_run": 4, "session_types": ["individual", "group"], "arms": []}),
    "coverage": Kind("participant", coverage, {
        "first_sessions": 10, "required_components": ["role-modeling"], "session_types": ["individual", "group"],
        "arms": []}),
    "no_clinical": Kind("session", no_clinical, {}),
    "entry_lag": Kind("session", entry_lag, {"max_days": 3}),
    "trained_before": Kind("specialist", trained_before, {}),
    "supervision_cadence": Kind("specialist", supervision_cadence, {"max_days": 30}),
    "caseload": Kind("specialist", caseload, {"max_participants": 20, "window_days": 90}),
}
