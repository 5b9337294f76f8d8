"""Trial reports: dose, enrollment flow, baseline table, billing units, allocation."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from vpslog.core import Program
from vpslog.reports import mean_sd, percent

ELIGIBLE = {"smi": True, "wants-peer-support": True, "vocational-goal": True, "data-collection": True,
            "in-peer-support": False, "cannot-consent": False}
D0 = date(2026, 1, 5)


@pytest.fixture
def trial(env, cli):
    prog = Program.open(env, create=True)
    prog.add_site("S1", "Site one")
    prog.add_specialist("PS1", "S1", trained_on=D0 - timedelta(days=30))
    people = [("P-0001", "vps", 30, "female"), ("P-0002", "vps", 41, "male"), ("P-0003", "control", 52, "female"),
              ("P-0004", None, 60, None)]
    for pid, arm, age, gender in people:
        prog.add_participant(pid, "S1", D0, age=age, gender=gender, working=arm == "vps")
        answers = ELIGIBLE if arm else {**ELIGIBLE, "vocational-goal": False}
        prog.screen(pid, D0, answers)
        if arm:
            prog.enroll(pid, D0, arm)
    for k in range(10):
        prog.log_session("P-0001", specialist="PS1", minutes=23, on=D0 + timedelta(days=7 * k),
                         type="individual", mode="phone")
    prog.log_session("P-0002", specialist="PS1", minutes=60, on=D0 + timedelta(days=3), type="no-show", mode="phone")
    prog.exit_participant("P-0002", D0 + timedelta(days=20), "moved away")
    prog.close()
    return env


def report(cli, name, *extra):
    return json.loads(cli.ok("report", name, "--as-of", (D0 + timedelta(days=200)).isoformat(), "--format", "json", *extra).stdout)


def test_dose_report_per_participant(cli, trial):
    rows = {r["participant"]: r for r in report(cli, "dose")}
    assert set(rows) == {"P-0001", "P-0002", "P-0003"}
    assert rows["P-0001"] | {} == rows["P-0001"] and {k: rows["P-0001"][k] for k in (
        "individual_sessions", "best_window", "reached_on", "dose", "minutes")} == {
        "individual_sessions": 10, "best_window": 10, "reached_on": (D0 + timedelta(days=63)).isoformat(),
        "dose": "pass", "minutes": 230}
    assert (rows["P-0002"]["dose"], rows["P-0002"]["individual_sessions"]) == ("fail", 0)
    assert rows["P-0003"]["dose"] == "n/a"  # control arm


def test_dose_report_minutes_are_those_of_sessions_delivered(cli, trial):
    rows = {r["participant"]: r for r in report(cli, "dose")}
    assert rows["P-0002"]["minutes"] == 0  # a 60-minute no-show: nothing was delivered


def test_reports_and_fidelity_count_the_same_participants_at_an_as_of_date(cli, env):
    prog = Program.open(env, create=True)
    prog.add_site("S1", "Site one")
    for pid, consent_delay in (("P-0011", 0), ("P-0012", 3)):
        prog.add_participant(pid, "S1", D0)
        prog.screen(pid, D0, ELIGIBLE)
        prog.enroll(pid, D0 + timedelta(days=consent_delay), "vps")
    prog.close()
    as_of = (D0 + timedelta(days=1)).isoformat()
    fidelity = json.loads(cli.ok("fidelity", "--as-of", as_of, "--format", "json").stdout)
    counted = {r["subject"] for r in fidelity["results"] if r["scope"] == "participant"}
    baseline = {(r["characteristic"], r["category"]): r
                for r in json.loads(cli.ok("report", "baseline", "--as-of", as_of, "--format", "json").stdout)}
    dose = json.loads(cli.ok("report", "dose", "--as-of", as_of, "--format", "json").stdout)
    assert counted == {"P-0011", "P-0012"}  # consent on day 3 does not hide P-0012 on day 1
    assert baseline["participants", ""]["overall"] == "2"
    assert {r["participant"] for r in dose} == counted


def test_flow_counts_each_step_of_the_trial(cli, trial):
    rows = report(cli, "flow")
    steps = [(r["step"], r["detail"], r["vps"], r["control"], r["total"]) for r in rows]
    assert steps == [
        ("screened", "", None, None, 4),
        ("eligible", "", None, None, 3),
        ("ineligible", "not interested in pursuing a vocational goal", None, None, 1),
        ("enrolled and allocated", "", 2, 1, 3),
        ("reached the dose", "", 1, 0, 1),
        ("exited", "moved away", 1, 0, 1),
    ]


def test_flow_counts_a_reason_once_however_it_was_typed(cli, trial):
    """`Moved away` and `moved away ` were two rows of the flow, each a count of one."""
    cli.ok("participant", "exit", "P-0003", "--on", (D0 + timedelta(days=30)).isoformat(), "--reason", " Moved  away ")
    exits = [(r["detail"], r["vps"], r["control"], r["total"]) for r in report(cli, "flow") if r["step"] == "exited"]
    assert exits == [("moved away", 1, 1, 2)]


def test_baseline_table_per_arm_and_overall(cli, trial):
    rows = {(r["characteristic"], r["category"]): r for r in report(cli, "baseline")}
    assert rows["participants", ""] | {} == rows["participants", ""]
    assert (rows["participants", ""]["vps"], rows["participants", ""]["control"], rows["participants", ""]["overall"]) == ("2", "1", "3")
    assert rows["age at enrollment, mean ± SD", ""]["vps"] == "35.5 ± 7.8"
    assert rows["age at enrollment, mean ± SD", ""]["overall"] == "41.0 ± 11.0"
    assert rows["gender", "female"]["overall"] == "2 (66.7%)"
    assert rows["gender", "male"]["vps"] == "1 (50.0%)"
    assert rows["Working for pay", "yes"]["overall"] == "2 (66.7%)"
    markdown = cli.ok("report", "baseline", "--format", "markdown").stdout
    assert "| characteristic | category | vps | control | overall |" in markdown


def test_units_round_each_session_by_the_rule(cli, trial):
    """Sessions and minutes are those the units are of: a no-show's 60 minutes were counted beside them."""
    rows = report(cli, "units")
    assert rows == [{"specialist": "PS1", "month": "2026-01", "sessions": 4, "minutes": 92, "units": 8},
                    {"specialist": "PS1", "month": "2026-02", "sessions": 4, "minutes": 92, "units": 8},
                    {"specialist": "PS1", "month": "2026-03", "sessions": 2, "minutes": 46, "units": 4}]


def test_allocation_balance(cli, trial):
    assert report(cli, "allocation") == []  # arms were assigned, not randomized
    assert cli.ok("report", "allocation", "--format", "csv").stdout.strip() == ""


def test_papers_round_halves_up():
    assert percent(1, 8) == "1 (12.5%)"
    assert percent(1, 16) == "1 (6.3%)"  # 6.25 -> 6.3, not banker's 6.2
    assert percent(0, 0) == "0 (–)"
    assert mean_sd([1, 2]) == "1.5 ± 0.7"
