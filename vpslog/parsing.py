"""Pure parsers for what people type: durations, dates, codes and id prefixes.

Nothing here touches the store or the terminal, so each function is
property-tested on its own (tests/test_parsing.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from difflib import SequenceMatcher

from vpslog.errors import InputError, NotFoundError

_DURATION = re.compile(r"^(?:(?P<h>[0-9]+)h)?(?:(?P<m>[0-9]+)(?:m|min)?)?$")  # [0-9]: \d takes any script's digits
_CLOCK = re.compile(r"^(?P<h>[0-9]+):(?P<m>[0-5][0-9])$")
_DAYS_AGO = re.compile(r"^-(?P<n>[0-9]+)d$")
_TIME = re.compile(r"^(?P<h>[01]?[0-9]|2[0-3]):(?P<m>[0-5][0-9])(?::(?P<s>[0-5][0-9]))?$")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DURATION_FORMS = "minutes (45, 45m), hours (1h, 1h15m) or h:mm (1:15)"
DATE_FORMS = "today, yesterday, a weekday (monday), -3d or YYYY-MM-DD"


MAX_NUMBER_DIGITS = 9
"""More digits than this in a duration or a day count is out of any range vpslog takes
(and Python refuses to read ints of thousands of digits)."""
MINUTES = (1, 480)
"""A session's or a supervision's length in minutes: the models' bounds, and the prompt's."""


def refuse_undecodable(args: Sequence[str]) -> None:
    """Bytes that are not UTF-8 arrive as lone surrogates, which no store or terminal can take: refused
    before they reach a parser or the store (the typer CLI; quick entry leaves such a line to it).
    The argument is named by its place, never shown: it may be a note."""
    for index, arg in enumerate(args):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            option = args[index - 1] if index else ""  # valid text: it was checked first
            where = (f"the value of {option}" if option.startswith("-") and len(option) <= 40 and option.isprintable()
                     else f"argument {index + 1}")
            raise InputError(f"{where} is not valid UTF-8 text (it is not shown: it may be a note); "
                             "type it again as UTF-8") from None


def quoted(text: str, limit: int = 40) -> str:
    """What the user typed, for an error message: repr'd (control characters escaped) and cut short.
    Text with a space inside is not shown at all: no code, date, duration or id has one, and a note
    typed without -n (or a name typed for a study code) does."""
    if spaced(text):
        return "[text with spaces, not shown]"
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def spaced(text: str) -> bool:
    """Whether typed text has a space inside (what `quoted` never shows)."""
    return len(text.split()) > 1


ACTOR_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}"
"""Who enters or signs records: a specialist id or a login name, never free text (a name)."""


def upper_id(text: str) -> str:
    """An id as stored, upper case; text that is not ASCII stays as typed, for its refusal to show it
    (`straße`.upper() is `STRASSE`, `ﬁeld` is `FIELD`: other ids than the one typed)."""
    return text.upper() if text.isascii() else text


def utc_stamp(moment: datetime | None = None) -> str:
    """A moment (now when not given) as vpslog stores every time: UTC to the second, `2026-11-28T12:00:00Z`."""
    return (moment or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_duration(text: str) -> int:
    """Minutes in `45`, `45m`, `1h`, `1h15m` or `1:15`; bounds are the model's job."""
    raw = text.strip().lower()
    match = _CLOCK.match(raw) or (_DURATION.match(raw) if raw else None)
    if not match or not any(match.groupdict().values()):
        raise InputError(f"duration {quoted(text)} not understood: use {DURATION_FORMS}")
    if any(len(part or "") > MAX_NUMBER_DIGITS for part in match.groupdict().values()):
        raise InputError(f"duration {quoted(text)} is out of range: at most {MINUTES[1]} minutes")
    return int(match["h"] or 0) * 60 + int(match["m"] or 0)


def parse_minutes(text: str) -> int:
    """A duration within the models' bounds, refused as the model refuses it (the prompt asks again)."""
    minutes = parse_duration(text)
    if not MINUTES[0] <= minutes <= MINUTES[1]:
        bound = f"at least {MINUTES[0]}" if minutes < MINUTES[0] else f"at most {MINUTES[1]}"
        raise InputError(f"minutes: must be {bound} (got {minutes})")
    return minutes


def parse_time(text: str) -> time:
    """A session's local start time: H:MM, HH:MM or HH:MM:SS (no zone, no fraction of a second)."""
    found = _TIME.match(text.strip())
    if not found:
        raise InputError(f"start time {quoted(text)} not understood: use HH:MM, e.g. 14:30")
    return time(int(found["h"]), int(found["m"]), int(found["s"] or 0))


def format_duration(minutes: int) -> str:
    """The inverse of parse_duration, in its most compact `1h15m` form."""
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest}m"
    return f"{hours}h{rest}m" if rest else f"{hours}h"


def parse_date(text: str, today: date) -> date:
    """A date relative to `today`: a weekday name means the most recent one
    strictly before today (a session is logged after it happened)."""
    raw = text.strip().lower()
    if raw == "today":
        return today
    if raw == "yesterday":
        return today - timedelta(days=1)
    if ago := _DAYS_AGO.match(raw):
        try:
            if len(ago["n"]) <= MAX_NUMBER_DIGITS:
                return today - timedelta(days=int(ago["n"]))
        except OverflowError:  # before year 1
            pass
        raise InputError(f"date {quoted(text)} is out of range: it is before the year 1")
    if len(raw) >= 3:
        for index, name in enumerate(WEEKDAYS):
            if name.startswith(raw):
                back = (today.weekday() - index) % 7 or 7
                return today - timedelta(days=back)
    if len(raw) == 10:  # fromisoformat alone would also take 20261120
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass
    raise InputError(f"date {quoted(text)} not understood: use {DATE_FORMS}")


def plural(count: int, noun: str) -> str:
    """`noun` as it reads after `count`: 1 session, 2 sessions."""
    return noun if count == 1 else noun + "s"


def unique_prefix_length(ids: Iterable[str], universe: Sequence[str], minimum: int = 8) -> int:
    """The shortest length (at least `minimum`) at which each of `ids` begins no other id
    of `universe` (sorted): one length for a whole listing, so its ids line up."""
    from bisect import bisect_left
    from os.path import commonprefix

    length = minimum
    for wanted in ids:
        at = bisect_left(universe, wanted)
        for other in universe[max(at - 1, 0):at + 2]:
            if other != wanted:
                length = max(length, min(len(commonprefix([wanted, other])) + 1, len(wanted)))
    return length


def split_codes(values: Iterable[str]) -> list[str]:
    """Codes from repeated flags and comma lists, lower-cased, in order, once each."""
    seen: dict[str, None] = {}
    for value in values:
        for part in value.split(","):
            if code := part.strip().lower():
                seen.setdefault(code, None)
    return list(seen)


def resolve_code(text: str, known: Sequence[str], what: str) -> str:
    """The one known code that `text` is or uniquely begins (case-insensitive)."""
    wanted = text.strip().lower()
    if wanted in known:
        return wanted
    return pick_prefix(wanted, [code for code in known if code.startswith(wanted)], known, what)


def resolve_codes(values: Iterable[str], known: Sequence[str], what: str) -> tuple[str, ...]:
    """The codes named by `values`; a value that is not blank yet names none (`-c ',,'`) is
    refused, so a typo never records an empty list (a blank value still means none)."""
    values = list(values)
    for value in values:
        if value.strip() and not split_codes([value]):
            raise InputError(f"no {what} in {quoted(value)}: give one or more codes, comma-separated")
    resolved = [resolve_code(code, known, what) for code in split_codes(values)]
    return tuple(dict.fromkeys(resolved))


def pick_prefix(text: str, matches: Sequence[str], universe: Sequence[str], what: str) -> str:
    """The single match for a typed prefix, or an error that helps the user.

    `matches` are the candidates that begin with `text`; `universe` is what is
    offered as "did you mean" when nothing matches (it may be a sample).
    """
    if len(matches) == 1:
        return matches[0]
    if matches:
        shown = ", ".join(sorted(matches)[:5]) + (", ..." if len(matches) > 5 else "")
        raise InputError(f"{what} {quoted(text)} is ambiguous: it could be {shown}")
    raise NotFoundError(f"unknown {what} {quoted(text)}{did_you_mean(text, universe)}")


def did_you_mean(text: str, candidates: Iterable[str]) -> str:
    """`; did you mean X?` for close candidates, else the accepted values when few."""
    pool = list(candidates)
    wanted = text.lower()

    def likeness(candidate: str) -> float:  # a typo in a whole code, or in its beginning
        candidate = candidate.lower()
        return max(SequenceMatcher(None, wanted, candidate).ratio(),
                   SequenceMatcher(None, wanted, candidate[: len(wanted)]).ratio() - 0.05)

    scored = sorted(((likeness(c), c) for c in pool), key=lambda sc: (-sc[0], sc[1]))
    close = [c for score, c in scored[:3] if score >= 0.6]
    if close:
        return f"; did you mean {' or '.join(close)}?"
    if 0 < len(pool) <= 20:
        return f"; accepted: {', '.join(pool)}"
    return ""
