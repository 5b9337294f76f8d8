"""Sites, specialists and participants: adding, listing, correcting, exiting."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from conftest import days_ago, snapshot

pytestmark = pytest.mark.both_stores


def test_specialist_list_in_every_format(cli, program_db):
    rows = json.loads(cli.ok("specialist", "list", "--format", "json").stdout)
    assert rows == [
        {"id": "PS1", "site_id": "S1", "name": None, "trained_on": days_ago(200), "active": True},
        {"id": "PS2", "site_id": "S1", "name": "Specialist B", "trained_on": None, "active": True},
    ]
    assert cli.ok("specialist", "list", "--format", "csv").stdout.splitlines()[0] == "id,site_id,name,trained_on,active"
    assert "Specialist B" in cli.ok("specialist", "list").stdout
    assert json.loads(cli.ok("site", "list", "--format", "json").stdout) == [{"id": "S1", "name": "Site one"}]


def test_participant_add_with_demographics_and_show(cli, program_db):
    cli.ok("participant", "add", "P-0003", "--site", "S1", "--enrolled", days_ago(10), "--arm", "control",
           "--consent", days_ago(11), "--age", "34", "--gender", "nonbinary", "--race", "multiracial",
           "--residence", "independent", "--marital", "single", "--education", "high-school-or-more",
           "--working", "--no-ssdi-ssi", "--psych-meds")
    shown = json.loads(cli.ok("participant", "show", "P-0003", "--format", "json").stdout)
    assert shown | {} == shown and {k: shown[k] for k in (
        "arm", "age", "gender", "race", "residence", "marital", "education", "working", "ssdi_ssi", "psych_meds",
        "sessions", "status")} == {
        "arm": "control", "age": 34, "gender": "nonbinary", "race": "multiracial", "residence": "independent",
        "marital": "single", "education": "high-school-or-more", "working": True, "ssdi_ssi": False,
        "psych_meds": True, "sessions": 0, "status": "active"}


def test_participant_list_json_shows_every_field_including_the_arm(cli, program_db):
    rows = json.loads(cli.ok("participant", "list", "--format", "json").stdout)
    assert [(r["id"], r["arm"]) for r in rows] == [("P-0001", "vps"), ("P-0002", "control")]
    assert "birth_year" in rows[0] and "exit_reason" in rows[0]
    assert "P-0002" in cli.ok("participant", "list").stdout


PARTICIPANT_REFUSALS = [
    (["participant", "add", "Name Surname", "--site", "S1", "--enrolled", "2026-01-01"],
     "error: id: [text with spaces, not shown] is not a study code: use a pseudonymous code like P-0017"),
    (["participant", "add", "P-0009", "--site", "S9", "--enrolled", "2026-01-01"],
     "error: unknown site 'S9'; accepted: S1"),
    (["participant", "add", "P-0001", "--site", "S1", "--enrolled", "2026-01-01"],
     "error: participant P-0001 already exists"),
    (["participant", "add", "P-0009", "--site", "S1", "--enrolled", "2999-01-01"],
     "error: enrollment date 2999-01-01 is in the future"),
    (["participant", "add", "P-0009", "--site", "S1", "--enrolled", "2026-01-01", "--gender", "femal"],
     "error: gender: unknown gender 'femal'; did you mean female or male?"),
    (["participant", "add", "P-0009", "--site", "S1", "--enrolled", "2026-01-01", "--age", "40", "--birth-year", "1980"],
     "error: give the age at enrollment or the birth year, not both"),
    (["participant", "add", "P-0009", "--site", "S1", "--enrolled", "2026-01-01", "--age", "7"],
     "error: age: must be at least 16 (got 7)"),
    (["participant", "exit", "P-0001", "--on", "2999-01-01", "--reason", "moved"],
     "error: exit date 2999-01-01 is in the future"),
    (["participant", "edit", "P-0001", "--reason", "fix", "--marital", "complicated"],
     "error: marital: unknown marital status 'complicated'; accepted: single, married"),
    (["site", "add", "S1", "--name", "Again"], "error: site S1 already exists"),
    (["specialist", "add", "PS3", "--site", "S2"], "error: unknown site 'S2'; accepted: S1"),
    (["specialist", "add", "PS 3", "--site", "S1"], "error: id: string should match pattern"),
]


@pytest.mark.parametrize("args,message", PARTICIPANT_REFUSALS, ids=[" ".join(a[:2]) + str(i) for i, (a, _) in enumerate(PARTICIPANT_REFUSALS)])
def test_record_commands_refuse_bad_input_and_write_nothing(cli, program_db, args, message):
    before = snapshot(program_db)
    result = cli(*args)
    assert result.exit_code == 1
    assert result.stderr.startswith(message), result.stderr
    assert snapshot(program_db) == before


def test_participant_edit_changes_fields_with_a_reason(cli, program_db):
    cli.ok("participant", "edit", "P-0002", "--arm", "vps", "--gender", "female", "--reason", "data entry error")
    shown = json.loads(cli.ok("participant", "show", "P-0002", "--format", "json").stdout)
    assert (shown["arm"], shown["gender"]) == ("vps", "female")
    history = json.loads(cli.ok("history", "P-0002", "--format", "json").stdout)
    assert history[-1]["action"] == "amend" and history[-1]["reason"] == "data entry error"
    assert "arm: control -> vps" in history[-1]["changes"]


def test_participant_edit_swaps_age_for_birth_year(cli, program_db):
    cli.ok("participant", "edit", "P-0001", "--age", "40", "--reason", "baseline form")
    cli.ok("participant", "edit", "P-0001", "--birth-year", "1985", "--reason", "exact year known")
    shown = json.loads(cli.ok("participant", "show", "P-0001", "--format", "json").stdout)
    assert (shown["age"], shown["birth_year"]) == (None, 1985)


def test_participant_edit_refuses_moving_enrollment_after_a_session(cli, program_db):
    cli.ok("log", "P-0001", "45", "-d", days_ago(100))
    before = snapshot(program_db)
    result = cli("participant", "edit", "P-0001", "--enrolled", days_ago(90), "--reason", "x")
    assert result.exit_code == 1
    assert result.stderr == f"error: P-0001 has a session on {days_ago(100)}, before the new enrollment date {days_ago(90)}\n"
    assert snapshot(program_db) == before


def test_participant_exit_records_date_and_reason_once(cli, program_db):
    cli.ok("log", "P-0001", "45", "-d", days_ago(20))
    result = cli("participant", "exit", "P-0001", "--on", days_ago(30), "--reason", "moved")
    assert result.exit_code == 1 and f"has a session on {days_ago(20)}, after the exit date" in result.stderr
    cli.ok("participant", "exit", "P-0001", "--on", days_ago(15), "--reason", "moved")
    shown = json.loads(cli.ok("participant", "show", "P-0001", "--format", "json").stdout)
    assert (shown["status"], shown["exited_on"], shown["exit_reason"]) == ("exited", days_ago(15), "moved")
    result = cli("participant", "exit", "P-0001", "--on", days_ago(1), "--reason", "again")
    assert result.exit_code == 1 and result.stderr == f"error: P-0001 already exited on {days_ago(15)}\n"
    assert [r["id"] for r in json.loads(cli.ok("participant", "list", "--status", "active", "--format", "json").stdout)] == ["P-0002"]


def test_config_refuses_unknown_keys_and_values(cli, program_db):
    result = cli("config", "set", "specalist", "PS1")
    assert result.exit_code == 2 and "unknown config key 'specalist'; did you mean specialist?" in result.stderr
    result = cli("config", "set", "mode", "carrier-pigeon")
    assert result.exit_code == 1 and "unknown mode 'carrier-pigeon'" in result.stderr
    result = cli("config", "set", "specialist", "PS7")
    assert result.exit_code == 1 and "unknown specialist 'PS7'" in result.stderr
    shown = json.loads(cli.ok("config", "show", "--format", "json").stdout)
    assert {r["key"]: r["value"] for r in shown}["specialist"] == "PS1"


def test_debug_shows_the_traceback_that_is_otherwise_hidden(cli, program_db):
    result = cli("log", "P-0099", "45")
    assert "Traceback" not in result.output
    result = cli("--debug", "log", "P-0099", "45")
    assert result.exit_code != 0 and result.exception is not None


@pytest.mark.parametrize("error", [RuntimeError, FileNotFoundError])
def test_debug_shows_the_traceback_of_any_internal_error(cli, program_db, monkeypatch, error):
    """An OSError raised again for its traceback was caught by the clause meant for --help on a
    full disk, and reported as the internal error it was, without the traceback."""
    from vpslog import reports

    def broken(prog, day):
        raise error("a bug")

    monkeypatch.setitem(reports.REPORTS, "flow", broken)
    result = cli("report", "flow")
    assert (result.exit_code, result.stderr) == (
        70, f"error: internal error ({error.__name__}); rerun with --debug for the traceback\n")
    result = cli("--debug", "report", "flow")
    assert isinstance(result.exception, error)


def test_participant_edit_refuses_moving_enrollment_after_a_milestone(cli, program_db):
    cli.ok("milestone", "P-0001", "goal-set", "-d", days_ago(100))
    before = snapshot(program_db)
    result = cli("participant", "edit", "P-0001", "--enrolled", days_ago(90), "--reason", "x")
    assert (result.exit_code, result.stderr) == (
        1, f"error: P-0001 has a milestone on {days_ago(100)}, before the new enrollment date {days_ago(90)}\n")
    assert snapshot(program_db) == before


@pytest.mark.parametrize("participant,consent,message", [
    ("P-0001", None, f"P-0001 was enrolled on {days_ago(120)}, after the exit date {days_ago(130)}"),
    ("P-0002", days_ago(20), f"P-0002 consented on {days_ago(20)}, after the exit date {days_ago(30)}"),
])
def test_participant_exit_refuses_a_date_before_enrollment_or_consent(cli, program_db, participant, consent, message):
    if consent:
        cli.ok("participant", "edit", participant, "--consent", consent, "--reason", "consent signed")
    before = snapshot(program_db)
    on = days_ago(130) if participant == "P-0001" else days_ago(30)
    result = cli("participant", "exit", participant, "--on", on, "--reason", "moved")
    assert (result.exit_code, result.stderr) == (1, f"error: {message}\n")
    assert snapshot(program_db) == before


def test_participant_edit_refuses_a_consent_after_the_exit(cli, program_db):
    """`exit` refuses a date before the consent; `edit --consent` made the same state afterwards."""
    cli.ok("participant", "edit", "P-0002", "--consent", days_ago(40), "--reason", "consent signed")
    cli.ok("participant", "exit", "P-0002", "--on", days_ago(30), "--reason", "moved")
    before = snapshot(program_db)
    result = cli("participant", "edit", "P-0002", "--consent", days_ago(20), "--reason", "typo")
    assert (result.exit_code, result.stderr) == (
        1, f"error: P-0002 exited on {days_ago(30)}, before the consent date {days_ago(20)}\n")
    assert snapshot(program_db) == before
    cli.ok("participant", "edit", "P-0002", "--consent", days_ago(35), "--reason", "typo")


@pytest.mark.parametrize("args,message", [
    (["participant", "list", "--site", "S9"], "unknown site 'S9'; accepted: S1"),
    (["participant", "list", "--site", ""], "--site is empty: give a site id, or leave the option out"),
    (["milestones", "--participant", ""], "--participant is empty: give a participant id, or leave the option out"),
    (["sessions", "--specialist", " "], "--specialist is empty: give a specialist id, or leave the option out"),
    (["supervision", "list", "--specialist", ""], "--specialist is empty: give a specialist id, or leave the option out"),
    (["export", "sessions", "--out", "-", "--site", ""], "--site is empty: give a site id, or leave the option out"),
    (["fidelity", "--participant", ""], "--participant is empty: give a participant id, or leave the option out"),
    (["fidelity", "--explain", " "], "--explain is empty: give a rule id, or leave the option out"),
])
def test_a_filter_that_names_nothing_is_refused_not_read_as_no_filter(cli, program_db, args, message):
    """A script's empty variable (`--participant "$P"`) listed every record, and an unknown site none."""
    result = cli(*args)  # an export to stdout of an encrypted store warns first
    assert (result.exit_code, result.stdout, result.stderr.splitlines()[-1]) == (1, "", f"error: {message}")


def test_participant_list_takes_a_site_in_any_case_and_a_status_from_its_choices(cli, program_db):
    listed = cli.ok("participant", "list", "--site", "s1", "--status", "ACTIVE", "--format", "csv").stdout
    assert listed == cli.ok("participant", "list", "--site", "S1", "--status", "active", "--format", "csv").stdout
    assert "P-0001" in listed and "P-0002" in listed
    assert cli("participant", "list", "--status", "bogus").exit_code == 2


@pytest.mark.parametrize("years_before", [-74, 10, 121])
def test_a_birth_year_must_give_an_age_at_enrollment_that_age_would_accept(cli, program_db, years_before):
    """`--age` takes 16 to 120; a birth year of 2100 (or of ten years before) was taken."""
    enrolled = days_ago(3)
    year = int(enrolled[:4]) - years_before
    before = snapshot(program_db)
    result = cli("participant", "add", "P-0009", "--site", "S1", "--enrolled", enrolled, "--birth-year", str(year))
    assert (result.exit_code, result.stderr) == (1, f"error: birth year {year} makes the age at enrollment "
                                                    f"{years_before}; it must be 16 to 120, as --age\n")
    assert snapshot(program_db) == before


def test_every_change_of_records_is_refused_to_a_user_whose_name_is_not_an_id(cli, program_db, tmp_path, monkeypatch):
    """`log` refused such a user, but `amend`, `void`, `participant edit` and the rest took the login
    name (`Reviewer Z`, with a space) into the permanent trail as the actor."""
    session = re.search(r"logged session ([0-9a-f]{8})", cli.ok("log", "P-0001", "45").stdout)[1]
    settings = tmp_path / "config" / "config.json"
    settings.write_text(json.dumps({k: v for k, v in json.loads(settings.read_text()).items() if k != "specialist"}))
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.setenv(name, "Reviewer Z")
    before = snapshot(program_db)
    sites = tmp_path / "sites.csv"
    sites.write_text("id,name\nS8,Site eight\n", encoding="utf-8")
    other = tmp_path / "other.db"
    shutil.copyfile(program_db, other)
    for args in (["amend", session, "50", "--reason", "r"], ["void", session, "--reason", "r"],
                 ["participant", "edit", "P-0001", "--age", "40", "--reason", "r"], ["site", "add", "S7", "--name", "x"],
                 ["participant", "exit", "P-0002", "--on", days_ago(1), "--reason", "r"],
                 ["import", "sites", str(sites)], ["merge", str(other)], ["screen", "P-0002"]):
        result = cli(*args)
        assert (result.exit_code, result.stderr) == (1, (
            "error: you are [text with spaces, not shown]: not a user or specialist id (letters, digits and . _ @ -, no spaces); "
            "set yours with `vpslog config set specialist ID`\n")), args
    assert snapshot(program_db) == before


@pytest.mark.parametrize("text", ['{"specialist": 5}', "[]", '{"specialist": ["PS1"]}', '"PS1"'])
def test_a_config_file_of_the_wrong_shape_is_one_line_not_an_internal_error(cli, program_db, tmp_path, text):
    """Valid JSON that is not an object of text values gave exit 70 (AttributeError) on both paths."""
    settings = tmp_path / "config" / "config.json"
    settings.write_text(text)
    for args in (["log", "P-0001", "45"], ["sessions"]):
        result = cli(*args)
        assert (result.exit_code, result.stderr) == (3, (
            f"error: {settings}: not vpslog settings (a JSON object of text values, as `vpslog config set` writes); "
            "fix or remove it\n"))


def test_an_older_record_outside_todays_rules_stays_editable_in_its_other_fields(cli, program_db):
    """A birth year now refused (2020 for a 2026 enrollment), or a randomized participant, made every
    edit and the exit fail on a field nobody changed."""
    from vpslog.core import Program, build

    cli.ok("participant", "add", "P-0009", "--site", "S1", "--enrolled", days_ago(30))
    prog = Program.open(program_db)
    try:  # through the store, with its audit entry, as an older vpslog could have written it
        row = prog.store.get("participant", "P-0009")
        older = build("participant", {**row, "birth_year": int(days_ago(30)[:4]) - 6}, prog.catalog)
        with prog.store.transaction():
            prog.store.update("participant", older, actor="PS1", reason="as an older vpslog stored it")
    finally:
        prog.close()
    cli.ok("participant", "edit", "P-0009", "--gender", "female", "--reason", "given at intake")
    result = cli("participant", "edit", "P-0009", "--birth-year", "2021", "--reason", "r")
    assert result.exit_code == 1 and "makes the age at enrollment" in result.stderr
    cli.ok("participant", "exit", "P-0009", "--on", days_ago(1), "--reason", "moved")
    assert cli.ok("audit", "verify").exit_code == 0
