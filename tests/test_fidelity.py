"""Fidelity rules on hand-built stores: the edge cases the counting conventions define."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from vpslog.core import Program
from vpslog.curriculum import Catalog, schemas_dir
from vpslog.errors import DataFileError
from vpslog.fidelity.engine import evaluate
from vpslog.fidelity.kinds import KINDS
from vpslog.fidelity.rules import load_rules

ELIGIBLE = {"smi": True, "wants-peer-support": True, "vocational-goal": True, "data-collection": True,
            "in-peer-support": False, "cannot-consent": False}
D0 = date(2026, 1, 1)


def d(offset: int) -> date:
    return D0 + timedelta(days=offset)


@pytest.fixture
def prog(env):
    prog = Program.open(env, create=True)
    prog.today = date(2026, 11, 27)
    prog.add_site("S1", "Site one")
    prog.add_specialist("PS1", "S1", trained_on=d(-30))
    yield prog
    prog.close()


def enrol(prog, pid, on=D0, arm="vps", screen=True):
    prog.add_participant(pid, "S1", on)
    if screen:
        prog.screen(pid, on, ELIGIBLE)
        prog.enroll(pid, on, arm)


def log(prog, pid, *days, type="individual", components=("job-search", "role-modeling"), lag=0, specialist="PS1"):
    return [prog.log_session(pid, specialist=specialist, minutes=45, on=day, type=type, mode="in-person",
                             components=components, entered_at=datetime.combine(day + timedelta(days=lag),
                                                                              datetime.min.time(), UTC))
            for day in days]


def results(prog, as_of, **filters):
    report = evaluate(prog.store, prog.catalog, load_rules(prog.catalog), as_of, **filters)
    return {(r.rule, r.subject): r for r in report.results}, report


def test_ten_sessions_inside_182_days_pass_and_the_same_spread_over_183_fail(prog):
    enrol(prog, "P-0001")
    enrol(prog, "P-0002")
    inside = [d(0), *(d(20 * k) for k in range(1, 9)), d(181)]  # first and last 181 days apart
    log(prog, "P-0001", *inside)
    log(prog, "P-0002", *inside[:-1], d(182))  # 182 days apart: 183 calendar days
    found, _ = results(prog, d(300))
    dose = found["adequate-dose", "P-0001"]
    assert dose.status == "pass"
    assert dose.evidence == ("10 individual sessions in the best 182-day window (needs 10): "
                             "2026-01-01 … 2026-07-01; reached on 2026-07-01")
    assert found["adequate-dose", "P-0002"].status == "fail"
    assert found["adequate-dose", "P-0002"].evidence.startswith("9 individual sessions in the best 182-day window")


def test_a_voided_session_that_would_have_made_the_dose_does_not(prog):
    enrol(prog, "P-0001")
    sessions = log(prog, "P-0001", *(d(10 * k) for k in range(10)))
    assert results(prog, d(300))[0]["adequate-dose", "P-0001"].status == "pass"
    prog.void_session(sessions[4].id, "logged for the wrong person")
    assert results(prog, d(300))[0]["adequate-dose", "P-0001"].status == "fail"


def test_only_individual_sessions_count_toward_dose_but_no_shows_count_for_continuity(prog):
    enrol(prog, "P-0001")
    log(prog, "P-0001", *(d(10 * k) for k in range(9)))
    log(prog, "P-0001", d(95), type="no-show", components=())
    found, _ = results(prog, d(100))
    assert found["adequate-dose", "P-0001"].numbers["best_window"] == 9
    assert found["continuity", "P-0001"].status == "pass"


def test_an_unfinished_dose_is_pending_by_its_last_pending_day_and_fails_the_next(prog):
    enrol(prog, "P-0001")
    log(prog, "P-0001", d(5), d(12), d(19))
    dose = results(prog, d(100))[0]["adequate-dose", "P-0001"]
    assert dose.status == "pending"
    assert dose.evidence.endswith(f"7 more individual sessions by {d(181)}")  # not d(186): it fails before
    assert (dose.numbers["missing"], dose.numbers["deadline"], dose.numbers["on_track"]) == (7, d(181).isoformat(), False)
    assert results(prog, d(181))[0]["adequate-dose", "P-0001"].status == "pending"
    assert results(prog, d(182))[0]["adequate-dose", "P-0001"].status == "fail"  # enrolled 182 days ago


def test_a_gap_of_exactly_the_limit_passes_and_one_day_more_fails(prog):
    for pid in ("P-0001", "P-0002"):
        enrol(prog, pid)
    log(prog, "P-0001", d(0), d(30))
    log(prog, "P-0002", d(0), d(31))
    found, _ = results(prog, d(31))
    assert found["continuity", "P-0001"].status == "pass"
    assert found["continuity", "P-0002"].status == "fail"
    assert found["continuity", "P-0002"].evidence == "longest gap 31 days (2026-01-01 → 2026-02-01; limit 30)"


def test_continuity_counts_the_open_gap_only_while_active(prog):
    for pid in ("P-0001", "P-0002"):
        enrol(prog, pid)
        log(prog, pid, d(0), d(10))
    prog.exit_participant("P-0002", d(10), "moved away")
    found, _ = results(prog, d(60))
    assert found["continuity", "P-0001"].status == "fail"
    assert "no contact since" in found["continuity", "P-0001"].evidence
    assert found["continuity", "P-0002"].status == "pass"


def test_a_control_participant_with_one_vps_session_fails_arm_integrity(prog):
    enrol(prog, "P-0001", arm="control")
    enrol(prog, "P-0002", arm="control")
    log(prog, "P-0001", d(3))
    found, _ = results(prog, d(10))
    assert found["arm-integrity", "P-0001"].status == "fail"
    assert found["arm-integrity", "P-0001"].evidence == "1 VPS sessions for a control-arm participant: 2026-01-04"
    assert found["arm-integrity", "P-0002"].status == "pass"
    assert ("adequate-dose", "P-0001") not in found  # dose is for the vps arm


def test_a_first_session_one_day_before_training_fails(prog):
    prog.add_specialist("PS2", "S1", trained_on=d(11))
    prog.add_specialist("PS3", "S1", trained_on=d(10))
    enrol(prog, "P-0001")
    log(prog, "P-0001", d(10), specialist="PS2")
    log(prog, "P-0001", d(10), specialist="PS3")
    found, _ = results(prog, d(20))
    assert found["trained-before-delivering", "PS2"].status == "fail"
    assert found["trained-before-delivering", "PS2"].evidence == "trained on 2026-01-12, after the first session on 2026-01-11"
    assert found["trained-before-delivering", "PS3"].status == "pass"
    assert ("trained-before-delivering", "PS1") not in found  # no sessions delivered: not judged


def test_screening_or_consent_after_the_first_session_fails(prog):
    enrol(prog, "P-0001")
    log(prog, "P-0001", d(1))
    prog.add_participant("P-0002", "S1", D0)
    log(prog, "P-0002", d(1))
    prog.screen("P-0002", d(2), ELIGIBLE)
    prog.enroll("P-0002", d(2), "vps")
    found, _ = results(prog, d(10))
    assert found["eligible-consented", "P-0001"].status == "pass"
    assert found["eligible-consented", "P-0002"].evidence == (
        "first session 2026-01-02: consent dated 2026-01-03; no eligible screening on or before it")


def test_supervision_every_30_days_passes_and_31_fails(prog):
    prog.add_specialist("PS2", "S1", trained_on=d(-30))
    enrol(prog, "P-0001")
    log(prog, "P-0001", d(0), d(60))
    log(prog, "P-0001", d(1), d(61), specialist="PS2")
    for day in (d(0), d(30), d(60)):
        prog.log_supervision("PS1", supervisor="Supervisor A", minutes=30, on=day)
    for day in (d(1), d(32)):
        prog.log_supervision("PS2", supervisor="Supervisor A", minutes=30, on=day)
    prog.log_supervision("PS2", supervisor="Supervisor A", minutes=30, on=d(45), group=True)  # group: not counted
    found, _ = results(prog, d(70))
    assert found["regular-supervision", "PS1"].status == "pass"
    assert found["regular-supervision", "PS2"].status == "fail"
    assert "longest stretch without one 31 days (2026-01-02 → 2026-02-02; limit 30)" in found["regular-supervision", "PS2"].evidence


def test_vocational_focus_and_curriculum_coverage(prog):
    enrol(prog, "P-0001")
    enrol(prog, "P-0002")
    log(prog, "P-0001", *(d(k) for k in range(5)), components=("hope",))
    every_group = ("equality", "person-first", "resume", "hope", "role-modeling")
    log(prog, "P-0002", *(d(k) for k in range(4)), components=every_group)
    found, _ = results(prog, d(10))
    assert found["vocational-focus", "P-0001"].status == "warn"
    assert found["vocational-focus", "P-0001"].evidence == (
        "a run of 5 sessions without vocational content (2026-01-01 … 2026-01-05; limit 4)")
    assert found["curriculum-coverage", "P-0001"].status == "pending"
    assert found["curriculum-coverage", "P-0002"].status == "pass"
    log(prog, "P-0001", *(d(k) for k in range(5, 10)), components=("hope",))
    coverage = results(prog, d(12))[0]["curriculum-coverage", "P-0001"]
    assert coverage.status == "warn"
    assert coverage.evidence == ("first 10 sessions: groups not covered: core-connections, versatile-approach, "
                                 "creativity-knowledge; never addressed: role-modeling")


def test_a_days_sessions_are_read_in_the_order_they_were_entered_whatever_their_other_fields(prog):
    """Runs and "first sessions" read a day's sessions in the order they were entered (entered_at, then
    id), from the records alone: a vocational session entered before a non-vocational one on the same
    day breaks the run before it, whichever was stored first, however long either is; amending its
    minutes changes nothing."""
    enrol(prog, "P-0001")
    log(prog, "P-0001", *(d(k) for k in range(4)), components=("hope",))

    def entered(hour: int, components: tuple, minutes: int):
        return prog.log_session("P-0001", specialist="PS1", minutes=minutes, on=d(4), type="individual",
                                mode="in-person", components=components,
                                entered_at=datetime.combine(d(4), datetime.min.time(), UTC) + timedelta(hours=hour))

    entered(17, ("hope",), 45)  # stored first, entered last
    vocational = entered(9, ("resume",), 60)
    found = results(prog, d(10))[0]["vocational-focus", "P-0001"]
    assert (found.status, found.evidence) == ("pass", "longest run without vocational content: 4 sessions (limit 4)")
    prog.amend_session(vocational.id, {"minutes": 20}, "typo")
    found = results(prog, d(10))[0]["vocational-focus", "P-0001"]
    assert (found.status, found.evidence) == ("pass", "longest run without vocational content: 4 sessions (limit 4)")


def test_clinical_services_and_late_entries_are_flagged_per_session(prog):
    enrol(prog, "P-0001")
    late = log(prog, "P-0001", d(1), lag=4)[0]
    log(prog, "P-0001", d(2), lag=3)
    clinical = prog.log_session("P-0001", specialist="PS1", minutes=30, on=d(3), type="individual",
                                mode="phone", clinical=True, entered_at=datetime.combine(d(3), datetime.min.time(), UTC))
    found, report = results(prog, d(10))
    assert found["timely-documentation", late.id].status == "warn"
    assert found["timely-documentation", late.id].evidence == "session of 2026-01-02 (P-0001) entered 4 days later (limit 3)"
    assert found["no-clinical-services", clinical.id].status == "fail"
    assert report.tally("timely-documentation") == {"pass": 2, "warn": 1, "fail": 0, "pending": 0}


def test_records_dated_after_the_as_of_date_are_ignored(prog):
    enrol(prog, "P-0001")
    log(prog, "P-0001", *(d(10 * k) for k in range(10)))
    assert results(prog, d(80))[0]["adequate-dose", "P-0001"].status == "pending"
    assert results(prog, d(90))[0]["adequate-dose", "P-0001"].status == "pass"
    found, _ = results(prog, d(-1))
    assert not found  # enrolled after the as-of date


def test_caseload_counts_active_participants_seen_recently(prog, tmp_path, monkeypatch):
    folder = tmp_path / "schemas"
    shutil.copytree(schemas_dir(), folder)
    path = folder / "fidelity.toml"
    path.write_text(path.read_text().replace("max_participants = 20", "max_participants = 1"))
    monkeypatch.setenv("VPSLOG_SCHEMAS", str(folder))
    prog.catalog = Catalog()
    for pid in ("P-0001", "P-0002"):
        enrol(prog, pid)
        log(prog, pid, d(5))
    found, _ = results(prog, d(10))
    assert found["caseload", "PS1"].status == "warn"
    assert found["caseload", "PS1"].evidence == "2 active participants seen in the last 90 days (limit 1)"


def test_a_new_rule_reusing_a_kind_needs_no_code(prog, tmp_path, monkeypatch):
    folder = tmp_path / "schemas"
    shutil.copytree(schemas_dir(), folder)
    with open(folder / "fidelity.toml", "a") as rules:
        rules.write('\n[[rule]]\nid = "early-engagement"\ntitle = "3 sessions in the first 30 days"\n'
                    'kind = "dose_window"\nscope = "participant"\nseverity = "warn"\n'
                    'params = { min_sessions = 3, window_days = 30, session_types = ["individual"], arms = ["vps"] }\n')
    monkeypatch.setenv("VPSLOG_SCHEMAS", str(folder))
    prog.catalog = Catalog()
    enrol(prog, "P-0001")
    log(prog, "P-0001", d(1), d(15), d(29))
    found, _ = results(prog, d(200))
    assert found["early-engagement", "P-0001"].status == "pass"


@pytest.mark.parametrize("old,new,message", [
    ('kind = "dose_window"', 'kind = "dose_windw"', "rule[0].kind: unknown kind 'dose_windw'; did you mean dose_window?"),
    ("min_sessions = 10", "min_session = 10", "rule[0].params.min_session: unknown parameter; did you mean min_sessions?"),
    ("min_sessions = 10", 'min_sessions = "ten"', "rule[0].params.min_sessions: must be int like 10 (got 'ten')"),
    ('kind = "no_clinical"\nscope = "session"', 'kind = "no_clinical"\nscope = "participant"',
     "rule[6].scope: kind no_clinical is for scope 'session', not 'participant'"),
    ('severity = "warn"', 'severity = "maybe"', "rule[4].severity: 'maybe' is not fail or warn"),
    ('session_types = ["individual"], arms', 'session_types = ["individul"], arms',
     "rule[0].params.session_types: unknown code 'individul'; did you mean individual?"),
    ("{ min_rate = 0.0, score = 1 }", "{ min_rate = 0.1, score = 1 }", "scale.item_bands: the lowest band must start at 0"),
    # a value of the right type but out of range was taken, and `fidelity` crashed (exit 70) or scored nonsense
    ("window_days = 182", "window_days = 0", "rule[0].params.window_days: must be 1 to 36500 (got 0)"),
    ("window_days = 182", "window_days = 3000000", "rule[0].params.window_days: must be 1 to 36500 (got 3000000)"),
    ("min_sessions = 10", "min_sessions = -1", "rule[0].params.min_sessions: must be 1 to 36500 (got -1)"),
    ('session_types = ["individual"], arms', 'session_types = [["individual"]], arms',
     "rule[0].params.session_types: must be list like ['individual'] (got [['individual']])"),
    ('session_types = ["individual"], arms', 'session_types = ["individual", "individual"], arms',
     "rule[0].params.session_types: 'individual' is given twice"),
    ("{ min_rate = 0.95, score = 5 }", "{ min_rate = 0.95, score = 500 }",
     "scale.item_bands[0].score: must be a whole score from 1 to 5 (got 500)"),
    ("{ min_rate = 0.95, score = 5 }", "{ min_rate = 0.95, score = true }",
     "scale.item_bands[0].score: must be a whole score from 1 to 5 (got True)"),
    ("{ min_rate = 0.95, score = 5 }", "{ min_rate = nan, score = 5 }",
     "scale.item_bands[0].min_rate: must be a share from 0 to 1 (got nan)"),
    ("{ min_rate = 0.95, score = 5 }", "{ min_rate = 7, score = 5 }",
     "scale.item_bands[0].min_rate: must be a share from 0 to 1 (got 7)"),
    ("{ min_rate = 0.95, score = 5 }", "{ min_rate = 0.85, score = 5 }",
     "scale.item_bands[1].min_rate: another band starts at 0.85 too"),
    ('{ min_share = 0.90, label = "exemplary" }', '{ min_share = 0.90, label = " " }',
     "scale.total_bands[0].label: must be a label of visible text (got ' ')"),
    ('{ min_share = 0.90, label = "exemplary" }', '{ min_share = 0.90, label = "ex\\u001b[31m\\u202e" }',
     "scale.total_bands[0].label: must be a label of visible text (got 'ex\\x1b[31m\\u202e')"),
])
def test_a_malformed_rules_file_is_refused_naming_the_file_and_key(env, tmp_path, monkeypatch, old, new, message):
    folder = tmp_path / "schemas"
    shutil.copytree(schemas_dir(), folder)
    path = folder / "fidelity.toml"
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new, 1))
    with pytest.raises(DataFileError) as refused:
        load_rules(Catalog(folder))
    assert str(refused.value) == f"{path}: {message}"


@pytest.mark.parametrize("end", ["lowest", "highest"])
def test_every_count_a_rule_accepts_is_judged_without_a_crash(cli, trial, tmp_path, monkeypatch, end):
    """A window of 0 days or of three million crashed `fidelity` (exit 70): each count a rules file may
    hold, at either end of what is accepted, gives a report (over, trend and matrix alike)."""
    from vpslog.fidelity.rules import AT_LEAST_ONE, COUNT_MAX

    folder = tmp_path / "extreme"
    shutil.copytree(schemas_dir(), folder)
    path = folder / "fidelity.toml"
    counts = "|".join(sorted({key for kind in KINDS.values() for key, v in kind.params.items() if type(v) is int}))
    path.write_text(re.sub(rf"\b({counts}) = \d+", lambda m: f"{m[1]} = {COUNT_MAX if end == 'highest' else int(m[1] in AT_LEAST_ONE)}",
                           path.read_text()))
    monkeypatch.setenv("VPSLOG_SCHEMAS", str(folder))
    for view in ([], ["--by", "month"], ["--matrix"]):
        assert cli("fidelity", *view, "--format", "json").exit_code == 0


# -- the command ------------------------------------------------------------------


@pytest.fixture
def trial(prog, env, cli):
    enrol(prog, "P-0001")
    log(prog, "P-0001", *(d(10 * k) for k in range(10)))
    enrol(prog, "P-0002", arm="control")
    log(prog, "P-0002", d(3))
    prog.log_supervision("PS1", supervisor="Supervisor A", minutes=30, on=d(20))
    return env


def test_fidelity_table_shows_summary_scale_and_who_needs_attention(cli, trial):
    out = cli.ok("fidelity", "--as-of", d(95).isoformat()).stdout
    assert "Fidelity as of 2026-04-06" in out
    assert "Scale: " in out and "Total bands: exemplary >= 90%" in out
    assert "Needs attention" in out and "P-0002" in out and "1 VPS sessions for a control-arm participant" in out


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_filters_that_name_records_but_none_together_are_refused(cli, trial, fmt, tmp_path):
    """`--site S1 --participant P-0003` (of S2) judged nothing and passed `--strict` with "not scored"."""
    cli.ok("site", "add", "S2", "--name", "Site two")
    cli.ok("participant", "add", "P-0003", "--site", "S2", "--enrolled", d(0).isoformat(), "--arm", "control")
    args = ("fidelity", "--as-of", d(95).isoformat(), "--format", fmt, "--strict")
    cli.ok(*args, "--participant", "P-0003")  # judged, alone
    result = cli(*args, "--site", "S1", "--participant", "P-0003")
    assert (result.exit_code, result.stdout, result.stderr) == (
        1, "", "error: nothing is both --site S1 and --participant P-0003: each names records, but together they "
               "name none to judge, on any date; drop one\n")
    # filters that fit, with nothing judged yet, are not refused: a date before anyone enrolled, a new specialist
    cli.ok("fidelity", "--as-of", d(-30).isoformat(), "--site", "S1", "--participant", "P-0001", "--strict")
    cli.ok("specialist", "add", "PS7", "--site", "S2")
    cli.ok("fidelity", "--site", "S2", "--specialist", "PS7", "--format", fmt)
    for view in (["fidelity"], ["fidelity", "--by", "month"], ["report", "html", "--out", str(tmp_path / "r.html")]):
        assert cli(*view, "--site", "S1", "--specialist", "PS7").exit_code == 1, view  # the trend, the page: the same
    assert not (tmp_path / "r.html").exists()


def test_fidelity_strict_exits_4_only_when_a_fail_rule_fails(cli, trial):
    assert cli("fidelity", "--as-of", d(95).isoformat(), "--strict").exit_code == 4
    assert cli("fidelity", "--as-of", d(95).isoformat()).exit_code == 0
    result = cli("fidelity", "--as-of", d(95).isoformat(), "--participant", "P-0001", "--strict", "--format", "json")
    statuses = {r["rule"]: r["status"] for r in json.loads(result.stdout)["results"]}
    assert statuses["adequate-dose"] == "pass"
    assert result.exit_code == (4 if "fail" in statuses.values() else 0)


def test_fidelity_json_has_the_documented_shape(cli, trial):
    data = json.loads(cli.ok("fidelity", "--as-of", d(95).isoformat(), "--format", "json").stdout)
    assert set(data) == {"as_of", "rules_version", "filters", "summary", "sites", "scale", "attention", "results"}
    assert set(data["summary"][0]) == {"rule", "title", "scope", "severity", "pass", "warn", "fail", "pending",
                                       "pass_rate", "item_score"}
    assert set(data["results"][0]) == {"rule", "scope", "subject", "site", "status", "evidence", "numbers"}
    assert set(data["scale"]) == {"total", "max", "share", "band", "item_bands", "total_bands"}
    dose = next(r for r in data["results"] if r["rule"] == "adequate-dose" and r["subject"] == "P-0001")
    assert dose["numbers"]["reached_on"] == d(90).isoformat()


def test_fidelity_explain_csv_and_markdown(cli, trial):
    out = cli.ok("fidelity", "--as-of", d(95).isoformat(), "--explain", "arm", "--format", "csv").stdout.splitlines()
    assert out[0] == "rule,scope,subject,site,status,evidence"
    assert out[1].startswith("arm-integrity,participant,P-0002,S1,fail,")
    markdown = cli.ok("fidelity", "--as-of", d(95).isoformat(), "--format", "markdown").stdout
    assert "| rule | scope | severity |" in markdown
    result = cli("fidelity", "--explain", "nonsense")
    assert result.exit_code == 1 and result.stderr.startswith("error: unknown rule 'nonsense'")


def test_due_lists_overdue_and_off_track_participants_most_urgent_first(cli, prog, env):
    for pid, days in (("P-0001", [d(0), d(5)]), ("P-0002", [d(0), d(50)]), ("P-0003", [d(0)])):
        enrol(prog, pid)
        log(prog, pid, *days)
    rows = json.loads(cli.ok("due", "--specialist", "PS1", "--as-of", d(60).isoformat(), "--format", "json").stdout)
    assert [r["participant"] for r in rows] == ["P-0003", "P-0001", "P-0002"]
    assert rows[0]["why"] == "off track for the dose; no contact for 60 days (limit 30)"
    assert rows[0]["last_contact"] == d(0).isoformat()
    assert rows[-1]["needed"] == f"8 more individual sessions by {d(181)}"
    result = cli("due")
    assert result.exit_code == 1 and "whose caseload?" in result.stderr


def test_fidelity_filters_by_site_and_specialist(cli, prog, env):
    prog.add_site("S2", "Site two")
    prog.add_specialist("PS2", "S2", trained_on=d(-30))
    enrol(prog, "P-0001")
    prog.add_participant("P-0002", "S2", D0)
    prog.screen("P-0002", D0, ELIGIBLE)
    prog.enroll("P-0002", D0, "vps")
    log(prog, "P-0001", d(1), d(2))
    log(prog, "P-0002", d(1), specialist="PS2")
    as_of = d(10).isoformat()
    for args, subjects in ((["--site", "S2"], {"P-0002", "PS2"}), (["--specialist", "PS1"], {"P-0001", "PS1"})):
        data = json.loads(cli.ok("fidelity", "--as-of", as_of, "--format", "json", *args).stdout)
        assert {r["subject"] for r in data["results"] if r["scope"] != "session"} == subjects
        assert {r["site"] for r in data["results"]} == ({"S2"} if "S2" in args else {"S1"})


# -- a no-show is not a session delivered; the dose's by-date is its last day --------


def test_training_and_supervision_count_from_the_first_session_delivered_not_a_no_show(prog):
    prog.add_specialist("PS2", "S1", trained_on=d(10))
    enrol(prog, "P-0001")
    log(prog, "P-0001", d(5), specialist="PS2", type="no-show", components=())
    log(prog, "P-0001", d(40), d(60), specialist="PS2")
    prog.log_supervision("PS2", supervisor="Supervisor A", minutes=30, on=d(45))
    found, _ = results(prog, d(70))
    assert found["trained-before-delivering", "PS2"].status == "pass"
    assert found["trained-before-delivering", "PS2"].evidence == "trained on 2026-01-11, first session 2026-02-10"
    assert found["regular-supervision", "PS2"].status == "pass"
    assert "(2026-02-10 … 2026-03-02)" in found["regular-supervision", "PS2"].evidence


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 181), st.lists(st.integers(0, 181), max_size=9, unique=True))
def test_meeting_the_dose_by_its_by_date_passes_and_the_next_day_it_fails(as_of, offsets):
    """A pending participant told "N more by DATE" is still pending on DATE, passes with N more sessions
    by then, and fails the day after without them."""
    from vpslog.fidelity.kinds import Contact, ParticipantFacts, dose_window

    rule = load_rules(Catalog()).get("adequate-dose")
    enrolled = D0.toordinal()

    def outcome(days: list[int], on: int):
        person = ParticipantFacts("P-0001", "S1", "vps", enrolled, enrolled, None, enrolled)
        person.sessions = [Contact("P-0001", str(day), "", day, "individual", "", "PS1", 0, day, 1)
                           for day in sorted(days) if day <= on]
        return dose_window(person, rule.params, on, None)

    today = enrolled + as_of
    held = [enrolled + offset for offset in offsets if offset <= as_of]
    pending = outcome(held, today)
    if pending.status != "pending":
        return
    by = date.fromisoformat(pending.numbers["deadline"]).toordinal()
    needed = pending.numbers["missing"]
    assert by >= today
    assume(by - today >= needed)  # enough days left for one session a day
    assert outcome(held, by).status == "pending"  # not failed before the by-date
    met = held + list(range(by - needed + 1, by + 1))
    assert outcome(met, by).status == "pass"
    assert outcome(held + list(range(by - needed + 1, by)), by + 1).status == "bad"  # one short on the by-date


def test_due_lists_a_participant_who_fails_tomorrow(cli, prog, env):
    enrol(prog, "P-0001")
    log(prog, "P-0001", *(d(100 + 10 * k) for k in range(9)))  # 9 sessions, the last on d(180)
    enrol(prog, "P-0002", on=d(100))
    log(prog, "P-0002", d(151))
    rows = json.loads(cli.ok("due", "--specialist", "PS1", "--as-of", d(181).isoformat(), "--format", "json").stdout)
    assert {r["participant"]: (r["needed"], r["why"]) for r in rows} == {
        "P-0001": (f"1 more individual session by {d(181)}", "off track for the dose"),
        "P-0002": ("9 more individual sessions by " + d(281).isoformat(),
                   "off track for the dose; no contact for 30 days: due today (limit 30)"),
    }
    assert results(prog, d(182))[0]["adequate-dose", "P-0001"].status == "fail"


def test_fidelity_of_a_store_with_nothing_to_judge_says_the_scale_is_not_scored(cli, program_db):
    out = cli.ok("fidelity", "--as-of", "2000-01-01").stdout
    assert "Scale: not scored (nothing was judged). Item score per rule" in out and "None" not in out
