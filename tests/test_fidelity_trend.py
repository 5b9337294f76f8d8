"""Fidelity over time (--by), specialists side by side (--matrix), and what needs attention split
into open now and past: from the same engine and rules as `vpslog fidelity`."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import test_fidelity
from test_fidelity import d, enrol, log
from vpslog.fidelity.engine import evaluate
from vpslog.fidelity.matrix import matrix
from vpslog.fidelity.report import attention
from vpslog.fidelity.rules import load_rules
from vpslog.fidelity.trend import default_since, periods, trend

SCHEMAS = Path(__file__).parent.parent / "schemas"
prog = test_fidelity.prog  # the hand-built store fixture, shared with test_fidelity
TODAY = date.today()


def rates(report, site=None) -> dict:
    return {row["rule"]: row["pass_rate"] for row in report.summary()} if site is None else {
        rule.id: _rate(report.tally(rule.id, site)) for rule in report.book.rules}


def _rate(tally: dict) -> float | None:
    judged = tally["pass"] + tally["warn"] + tally["fail"]
    return round(tally["pass"] / judged, 4) if judged else None


def valid(document, schema: str) -> list[str]:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(json.loads((SCHEMAS / schema).read_text()))
    return [error.message for error in validator.iter_errors(document)]


# -- over time ----------------------------------------------------------------------


def test_the_last_month_equals_fidelity_as_of_that_day(cli, demo):
    until = (TODAY - timedelta(days=20)).isoformat()
    shown = json.loads(cli.ok("fidelity", "--by", "month", "--until", until, "--format", "json").stdout)
    report = json.loads(cli.ok("fidelity", "--as-of", until, "--format", "json").stdout)
    last = shown["periods"][-1]
    assert last["end"] == until and len(shown["periods"]) == 12
    overall = {row["rule"]: row["pass_rate"] for row in last["rates"] if row["site"] is None}
    assert overall == {row["rule"]: row["pass_rate"] for row in report["summary"]}
    counts = {(row["site"], row["rule"]): (row["pass"], row["warn"], row["fail"], row["pending"])
              for row in last["rates"] if row["site"] is not None}
    assert counts == {(row["site"], row["rule"]): (row["pass"], row["warn"], row["fail"], row["pending"])
                      for row in report["sites"]}
    assert (last["scale"]["points"], last["scale"]["maximum"], last["scale"]["band"]) == (
        report["scale"]["total"], report["scale"]["max"], report["scale"]["band"])
    assert valid(shown, "fidelity-trend.schema.json") == []


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(back=st.integers(0, 300), months=st.integers(1, 10), quarter=st.booleans(),
       scope=st.sampled_from([{}, {"site": "NORTH"}, {"site": "SOUTH"}, {"specialist": "PS02"},
                              {"specialist": "PS05"}, {"site": "SOUTH", "specialist": "PS04"}]))
def test_every_period_equals_an_evaluation_as_of_its_last_day(demo_prog, back, months, quarter, scope):
    """One pass over the store for all periods, yet each period is exactly what `evaluate` gives
    as of its last day: overall, per site, with a site or specialist filter."""
    until = TODAY - timedelta(days=back)
    since = until - timedelta(days=31 * months)
    prog = demo_prog
    book = load_rules(prog.catalog)
    found = trend(prog.store, prog.catalog, book, by="quarter" if quarter else "month", since=since,
                  until=until, **scope)
    for period in found.periods:
        report = evaluate(prog.store, prog.catalog, book, period.end, **scope)
        assert period.rates == rates(report), period.label
        assert {s: r for s, r in period.by_site.items() if s in report.sites} == {
            s: rates(report, s) for s in report.sites}
        assert (period.scale.points, period.scale.maximum, period.scale.band) == (
            report.scale()["total"], report.scale()["max"], report.scale()["band"])


@given(since=st.dates(date(2020, 1, 1), date(2030, 12, 31)), days=st.integers(0, 1500),
       by=st.sampled_from(["month", "quarter"]))
def test_periods_follow_each_other_and_the_last_ends_on_until(since, days, by):
    until = since + timedelta(days=days)
    found = periods(by, since, until)
    assert found[-1][1] == until and found[0][1] >= since
    for (_, end), (_, following) in zip(found, found[1:]):
        assert (end + timedelta(days=1)).day == 1 and following > end  # each full period ends on its last day
    assert len({label for label, _ in found}) == len(found)
    assert periods(by, default_since(by, until), until)[-1] == found[-1]
    assert len(periods(by, default_since(by, until), until)) == (12 if by == "month" else 4)


def test_quarters_are_labelled_and_the_last_is_cut_at_until():
    assert periods("quarter", date(2026, 2, 10), date(2026, 8, 15)) == [
        ("2026-Q1", date(2026, 3, 31)), ("2026-Q2", date(2026, 6, 30)), ("2026-Q3", date(2026, 8, 15))]
    assert periods("month", date(1, 1, 1), date(1, 2, 1))[0][0] == "0001-01"  # `1-01` beside the end 0001-01-31
    assert periods("quarter", date(999, 1, 1), date(999, 2, 1))[0][0] == "0999-Q1"
    assert default_since("month", date(2026, 11, 27)) == date(2025, 12, 1)
    assert default_since("quarter", date(2026, 11, 27)) == date(2026, 1, 1)


def test_the_trend_table_keeps_the_latest_periods_when_narrow_and_shows_the_scale(cli, demo, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    out = cli.ok("fidelity", "--by", "month").stdout
    latest, oldest = TODAY.strftime("%Y-%m"), default_since("month", TODAY).strftime("%Y-%m")
    assert f"Pass rate at the end of each month, the program ({default_since('month', TODAY)} to {TODAY}" in out
    assert latest in out and "not shown (too narrow): " + oldest in out
    assert "│ scale " in out and "│ band " in out and "site NORTH" in out and "site SOUTH" in out
    markdown = cli.ok("fidelity", "--by", "quarter", "--format", "markdown").stdout
    assert f"| rule | {TODAY.year - (TODAY.month <= 3)}-Q" in markdown or "| rule | " in markdown
    assert "| scale |" in markdown and "### Pass rate at the end of each quarter, site NORTH" in markdown


def test_the_trend_csv_has_one_row_per_period_site_and_rule_with_the_scale(cli, demo):
    lines = cli.ok("fidelity", "--by", "quarter", "--site", "north", "--format", "csv").stdout.splitlines()
    assert lines[0] == "period,end,site,rule,pass,warn,fail,pending,pass_rate,points,maximum,percent,band"
    book_rules = 11
    assert len(lines) == 1 + 4 * 2 * book_rules  # 4 quarters x (program + NORTH) x rules
    assert lines[-1].split(",")[:4] == [f"{TODAY.year}-Q{(TODAY.month - 1) // 3 + 1}", TODAY.isoformat(), "NORTH",
                                        "caseload"]


def test_a_participant_counts_for_a_specialist_from_the_first_session_they_had(prog, cli, env):
    """`--specialist` covers the participants the specialist had seen by the date: one seen by PS2
    only later is not in PS2's earlier months."""
    prog.add_specialist("PS2", "S1", trained_on=d(-30))
    enrol(prog, "P-0001")
    log(prog, "P-0001", d(0), d(20), d(40))
    log(prog, "P-0001", d(72), specialist="PS2")
    book = load_rules(prog.catalog)
    early = evaluate(prog.store, prog.catalog, book, d(45), specialist="PS2")
    assert [r for r in early.results if r.scope == "participant"] == []
    later = evaluate(prog.store, prog.catalog, book, d(75), specialist="PS2")
    assert {r.rule for r in later.results if r.subject == "P-0001"} >= {"continuity", "adequate-dose"}
    found = trend(prog.store, prog.catalog, book, by="month", since=d(0), until=d(75), specialist="PS2")
    assert [p.rates["continuity"] for p in found.periods] == [None, None, 0.0]  # the 32-day gap, once seen


# -- side by side ----------------------------------------------------------------------


def test_the_matrix_program_row_equals_the_overall_pass_rates(cli, demo):
    shown = json.loads(cli.ok("fidelity", "--matrix", "--format", "json").stdout)
    report = json.loads(cli.ok("fidelity", "--format", "json").stdout)
    assert valid(shown, "fidelity-matrix.schema.json") == []
    program = shown["rows"][-1]
    assert program["specialist"] == "program" and shown["rules"] == [row["rule"] for row in report["summary"]]
    assert {rule: cell["rate"] for rule, cell in program["cells"].items()} == {
        row["rule"]: row["pass_rate"] for row in report["summary"]}
    assert [row["specialist"] for row in shown["rows"][:-1]] == ["PS01", "PS02", "PS03", "PS04", "PS05", "PS06"]


@pytest.mark.parametrize("site", [None, "NORTH"])
def test_each_matrix_row_is_what_fidelity_specialist_counts(demo_prog, site):
    """Participant and session rules over the participants the specialist saw; their own rules."""
    prog = demo_prog
    book = load_rules(prog.catalog)
    found = matrix(prog.store, prog.catalog, book, TODAY - timedelta(days=40), site=site)
    for row in found.rows[:-1]:
        report = evaluate(prog.store, prog.catalog, book, found.as_of, site=site, specialist=row.specialist)
        for rule in book.rules:
            tally = report.tally(rule.id)
            cell = row.cells[rule.id]
            assert (cell.passed, cell.judged, cell.failing) == (
                tally["pass"], tally["pass"] + tally["warn"] + tally["fail"], tally["warn"] + tally["fail"])


def test_the_matrix_table_numbers_the_rules_and_markdown_names_them(cli, demo, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    out = cli.ok("fidelity", "--matrix").stdout
    assert "Rules: 1 adequate-dose, 2 continuity," in out and "│ program " in out and "not shown" not in out
    markdown = cli.ok("fidelity", "--matrix", "--format", "markdown").stdout
    assert "| specialist | adequate-dose | continuity |" in markdown
    csv = cli.ok("fidelity", "--matrix", "--site", "SOUTH", "--format", "csv").stdout.splitlines()
    assert csv[0] == "specialist,rule,passed,judged,failing,rate" and csv[-1].startswith("program,caseload,")


# -- open now and past -------------------------------------------------------------------


@pytest.fixture
def gaps(prog, env):
    """P-0001: a 40-day gap that ended (seen since); P-0002: no contact for 40 days, still active;
    P-0003: the same gap, but exited; PS1: no individual supervision for 60 days, still delivering."""
    for pid in ("P-0001", "P-0002", "P-0003"):
        enrol(prog, pid)
    log(prog, "P-0001", d(0), d(40), d(50), d(60), d(70), d(80))
    log(prog, "P-0002", d(0), d(10), d(20), d(30), d(40))
    log(prog, "P-0003", d(0), d(30))
    prog.exit_participant("P-0003", d(75), "moved away")
    prog.log_supervision("PS1", supervisor="Supervisor A", minutes=30, on=d(20))
    return env


def test_needs_attention_is_split_into_open_now_and_past_in_every_format(cli, gaps):
    as_of = d(80).isoformat()
    out = cli.ok("fidelity", "--as-of", as_of).stdout
    open_now, past = out.split("Needs attention: open now")[1].split("Needs attention: past")
    assert "P-0002" in open_now and "no contact since" in open_now and "P-0001" not in open_now
    assert "regular-supervision" in open_now  # 60 days without one, and still delivering
    assert "longest gap 40 days (2026-01-01 → 2026-02-10; limit 30)" in past and "P-0002" not in past
    data = json.loads(cli.ok("fidelity", "--as-of", as_of, "--format", "json").stdout)
    assert {(row["subject"], row["rule"]) for row in data["attention"]["open"]} >= {
        ("P-0002", "continuity"), ("PS1", "regular-supervision")}
    assert ("P-0001", "continuity") in {(row["subject"], row["rule"]) for row in data["attention"]["past"]}
    assert set(data["attention"]["open"][0]) == {"subject", "site", "rule", "status", "evidence"}
    assert valid(data, "fidelity.report.schema.json") == []
    csv = {tuple(line.split(",")[:3]): line.rsplit(",", 1)[1]
           for line in cli.ok("fidelity", "--as-of", as_of, "--format", "csv").stdout.splitlines()[1:]}
    assert csv["continuity", "participant", "P-0002"] == "open"
    assert csv["continuity", "participant", "P-0001"] == "past"
    assert csv["eligible-consented", "participant", "P-0001"] == ""  # a pass needs no attention
    markdown = cli.ok("fidelity", "--as-of", as_of, "--format", "markdown").stdout
    assert "### Needs attention: open now" in markdown and "### Needs attention: past" in markdown


def test_an_exited_participant_and_an_ended_run_are_past(prog, cli, gaps):
    book = load_rules(prog.catalog)
    found = {(r.rule, r.subject): r for r in evaluate(prog.store, prog.catalog, book, d(80)).results}
    assert found["continuity", "P-0003"].status == "pass"  # exited before the open gap passed the limit
    assert found["continuity", "P-0002"].open and not found["continuity", "P-0001"].open
    later = {(r.rule, r.subject): r for r in evaluate(prog.store, prog.catalog, book, d(200)).results}
    assert later["adequate-dose", "P-0003"].status == "fail" and not later["adequate-dose", "P-0003"].open
    assert later["adequate-dose", "P-0002"].status == "fail" and later["adequate-dose", "P-0002"].open


# -- refusals ------------------------------------------------------------------------


@pytest.mark.parametrize("arguments, code, message", [
    (["--since", "2026-01-01"], 2, "--since and --until need --by month or --by quarter"),
    (["--by", "month", "--as-of", "2026-03-01"], 2, "--by reads --since and --until, not --as-of"),
    (["--by", "month", "--matrix"], 2, "--by and --matrix are separate views; give one"),
    (["--matrix", "--explain", "continuity"], 2, "--explain and --matrix are separate views; give one"),
    (["--by", "month", "--participant", "P-0001"], 2, "--by does not take --participant"),
    (["--matrix", "--strict"], 2, "--matrix does not take --strict"),
    (["--matrix", "--specialist", "PS1"], 2, "--matrix shows every specialist; it does not take --specialist"),
    (["--by", "month", "--since", "2026-05-01", "--until", "2026-04-01"], 1,
     "--since 2026-05-01 is after --until 2026-04-01"),
    # a year typed wrong: tens of thousands of periods (minutes of work, gigabytes of memory) otherwise
    (["--by", "month", "--since", "0026-01-01"], 1, f"--since 0026-01-01 to --until {date.today()} is more than "
                                                    "150 years of periods: check the years (dates are YYYY-MM-DD)"),
    (["--by", "quarter", "--since", "2025-01-01", "--until", "9026-01-01"], 1,
     "--since 2025-01-01 to --until 9026-01-01 is more than 150 years of periods: check the years (dates are YYYY-MM-DD)"),
])
def test_mixed_or_wrong_views_are_refused_in_one_line(cli, program_db, arguments, code, message):
    result = cli("fidelity", *arguments)
    assert (result.exit_code, result.stderr, result.stdout) == (code, f"error: {message}\n", "")


def test_an_unknown_period_is_a_usage_error(cli, program_db):
    result = cli("fidelity", "--by", "week")
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1
    assert "Invalid value for '--by': 'week' is not one of 'month', 'quarter'." in result.stderr


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(back=st.integers(0, 300), months=st.integers(1, 10),
       scope=st.sampled_from([{}, {"site": "NORTH"}, {"specialist": "PS02"}, {"site": "SOUTH", "specialist": "PS04"}]))
def test_every_date_of_one_pass_keeps_exactly_the_results_of_its_own_evaluation(demo_prog, back, months, scope):
    """A participant judged once and reused at later dates (exited, nothing new) and the caseloads
    counted in the pass give every result, count and number an evaluation as of that date gives;
    trend(keep=True) hands back the Report as of `until` from its own pass."""
    from vpslog.fidelity.engine import evaluate_at

    until = TODAY - timedelta(days=back)
    store, catalog = demo_prog.store, demo_prog.catalog
    book = load_rules(catalog)
    days = [end for _, end in periods("month", until - timedelta(days=31 * months), until)]
    for day, report in zip(days, evaluate_at(store, catalog, book, days, **scope)):
        alone = evaluate(store, catalog, book, day, **scope)
        assert report.results == alone.results and report.counts == alone.counts, day
        assert report.session_counts == alone.session_counts
    found = trend(store, catalog, book, by="month", since=days[0], until=until, keep=True, **scope).report
    assert found.results == [r for r in alone.results if r.scope != "session"] and found.counts == alone.counts
    assert found.session_counts == alone.session_counts and found.flagged_sessions == alone.flagged_sessions
    assert attention(found) == attention(alone)  # no session's own result kept: what the HTML report shows
    assert trend(store, catalog, book, by="month", since=days[0], until=until, **scope).report is None


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(back=st.integers(0, 300))
def test_the_caseloads_counted_in_the_pass_equal_the_stores_query(demo_prog, back):
    store, catalog = demo_prog.store, demo_prog.catalog
    book = load_rules(catalog)
    rule = next(r for r in book.rules if r.kind == "caseload")
    day = TODAY - timedelta(days=back)
    expected = {sid: n for sid, _, n in store.caseload_history([day.isoformat()], rule.params["window_days"])}
    report = evaluate(store, catalog, book, day)
    found = {r.subject: r.numbers["caseload"] for r in report.results if r.rule == rule.id}
    assert found == {sid: expected.get(sid, 0) for sid in found}
    assert set(expected) <= set(found)
