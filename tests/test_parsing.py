"""Properties of the parsers behind quick entry: durations, dates, codes, id prefixes."""

from __future__ import annotations

import uuid
from datetime import date, time, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from vpslog.curriculum import Catalog
from vpslog.errors import InputError, NotFoundError
from vpslog.parsing import (
    parse_time,
    WEEKDAYS,
    format_duration,
    parse_date,
    parse_duration,
    pick_prefix,
    resolve_code,
    resolve_codes,
)
from vpslog.store import Store

COMPONENTS = Catalog().components
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31))


@given(st.integers(min_value=0, max_value=10_000))
def test_duration_round_trips_through_its_compact_form(minutes):
    assert parse_duration(format_duration(minutes)) == minutes


@given(st.integers(0, 100), st.integers(0, 59))
def test_every_duration_form_means_the_same_minutes(hours, minutes):
    total = hours * 60 + minutes
    assert parse_duration(f"{hours}:{minutes:02d}") == total
    assert parse_duration(f"{hours}h{minutes}m") == total
    assert parse_duration(f"{total}") == parse_duration(f"{total}m") == total
    assert parse_duration(f" {hours}H{minutes}M ") == total


@given(st.text(max_size=8))
def test_duration_parser_either_returns_minutes_or_refuses_clearly(text):
    try:
        assert parse_duration(text) >= 0
    except InputError as exc:
        assert "not understood: use minutes (45, 45m), hours (1h, 1h15m) or h:mm (1:15)" in str(exc)


@pytest.mark.parametrize("text", ["1:60", "h", "m", "1h1h", "-5", "1.5h", "45s", "",
                                  "\u0664\u0665", "\uff14\uff15m", "1:\u0661\u0665"])  # 45 in other scripts' digits
def test_duration_parser_refuses_malformed_forms(text):
    with pytest.raises(InputError, match="not understood"):
        parse_duration(text)


@given(days, days)
def test_iso_dates_round_trip_whatever_today_is(day, today):
    assert parse_date(day.isoformat(), today) == day


@given(days, st.integers(0, 3000))
def test_days_ago_counts_back_from_today(today, n):
    assume(today - timedelta(days=n) >= date(1, 1, 1))
    assert parse_date(f"-{n}d", today) == today - timedelta(days=n)


@given(days, st.sampled_from(WEEKDAYS), st.integers(3, 9))
def test_a_weekday_is_the_most_recent_one_strictly_before_today(today, name, length):
    day = parse_date(name[:length], today)
    assert day.weekday() == WEEKDAYS.index(name)
    assert 1 <= (today - day).days <= 7


@given(days)
def test_today_and_yesterday(today):
    assert parse_date("Today", today) == today
    assert parse_date("yesterday", today) == today - timedelta(days=1)


@pytest.mark.parametrize("text", ["2026-02-30", "20261120", "next week", "mo", "-3", "+3d", "2026/11/20"])
def test_date_parser_refuses_what_it_does_not_understand(text):
    with pytest.raises(InputError, match="use today, yesterday, a weekday"):
        parse_date(text, date(2026, 11, 27))


@given(st.sampled_from(COMPONENTS), st.data())
def test_any_unique_prefix_of_a_component_resolves_to_it(code, data):
    length = data.draw(st.integers(1, len(code)))
    prefix = code[:length]
    others = [c for c in COMPONENTS if c.startswith(prefix) and c != code]
    variant = data.draw(st.sampled_from([prefix, prefix.upper(), prefix.title()]))
    if others and prefix != code:
        with pytest.raises(InputError, match="is ambiguous"):
            resolve_code(variant, COMPONENTS, "component")
    else:
        assert resolve_code(variant, COMPONENTS, "component") == code


@given(st.lists(st.sampled_from(COMPONENTS), min_size=1, max_size=6))
def test_code_lists_keep_order_drop_repeats_and_accept_commas_or_flags(codes):
    expected = tuple(dict.fromkeys(codes))
    assert resolve_codes([",".join(codes)], COMPONENTS, "component") == expected
    assert resolve_codes(codes, COMPONENTS, "component") == expected


ids = st.lists(st.uuids().map(lambda u: u.hex), min_size=1, max_size=30, unique=True)


@given(ids, st.data())
def test_pick_prefix_returns_the_only_match_and_refuses_many_or_none(pool, data):
    target = data.draw(st.sampled_from(pool))
    prefix = target[: data.draw(st.integers(1, 32))]
    matches = [i for i in pool if i.startswith(prefix)]
    if len(matches) == 1:
        assert pick_prefix(prefix, matches, pool, "session") == target
    else:
        with pytest.raises(InputError, match="ambiguous"):
            pick_prefix(prefix, matches, pool, "session")
    with pytest.raises(NotFoundError, match="unknown session"):
        pick_prefix("zz", [], pool, "session")


@settings(max_examples=25, deadline=None)
@given(ids, st.data())
def test_store_resolves_a_unique_id_prefix_like_the_pure_rule(tmp_path_factory, pool, data):
    store = Store.open(tmp_path_factory.mktemp("ids") / "s.db", b"k" * 32, create=True)
    try:
        with store.transaction():
            store.conn.executemany("INSERT INTO site VALUES (?, 'x')", [(i,) for i in pool])
        target = data.draw(st.sampled_from(pool))
        prefix = target[: data.draw(st.integers(1, 32))]
        matches = [i for i in pool if i.startswith(prefix)]
        store_answer = _outcome(lambda: store.resolve("site", prefix, "session"))
        pure_answer = _outcome(lambda: pick_prefix(prefix, matches, pool, "session"))
        assert store_answer == pure_answer
        if len(matches) == 1:
            assert store_answer == target
        assert _outcome(lambda: store.resolve("site", uuid.uuid4().hex + "x", "session")).startswith("unknown")
    finally:
        store.close()


def _outcome(call):
    try:
        return call()
    except InputError as exc:
        return str(exc).split(" ")[0] if str(exc).startswith("unknown") else "ambiguous"


@given(st.times().map(lambda t: t.replace(microsecond=0, tzinfo=None)), st.sampled_from(["%H:%M:%S", "%H:%M", "short"]))
def test_a_start_time_round_trips_as_the_clock_shows_it(clock, form):
    text = f"{clock.hour}:{clock:%M}" if form == "short" else clock.strftime(form)
    assert parse_time(f" {text} ") == (clock if form == "%H:%M:%S" else clock.replace(second=0))


@given(st.text(max_size=12))
def test_the_start_time_parser_returns_a_clock_time_or_refuses_in_one_line(text):
    try:
        parsed = parse_time(text)
    except InputError as exc:
        assert str(exc).startswith("start time ") and str(exc).endswith("not understood: use HH:MM, e.g. 14:30")
        assert "\n" not in str(exc)
    else:
        assert isinstance(parsed, time) and parsed.tzinfo is None and parsed.microsecond == 0


@pytest.mark.parametrize("text", ["14:30Z", "14:30+01:00", "14:30:15.5", "24:00", "14:60", "1430", "T14:30",
                                  "14", "１４:３０", "14:30:00:00", ""])
def test_a_start_time_with_a_zone_a_fraction_or_out_of_range_is_refused(text):
    """`--at` is the session's local clock time: a zone or a fraction of a second has no place in it."""
    with pytest.raises(InputError, match="not understood: use HH:MM, e.g. 14:30"):
        parse_time(text)
