"""A peer specialist logs, corrects and voids sessions from the command line."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from conftest import TODAY, days_ago, session_rows, snapshot

pytestmark = pytest.mark.both_stores


def test_log_one_line_records_the_session_and_prints_a_short_id(cli, program_db):
    result = cli.ok("log", "P-0001", "1h15m", "-d", days_ago(3), "-c", "career,hope", "-c", "job-s",
                    "-s", "emotional", "-m", "ph", "-t", "ind", "-p", "get", "-n", "private words")
    [row] = session_rows(program_db)
    assert result.stdout.startswith(f"logged session {row['id'][:8]}:")
    assert (row["participant_id"], row["specialist_id"], row["date"], row["minutes"]) == ("P-0001", "PS1", days_ago(3), 75)
    assert (row["type"], row["mode"], row["phase"]) == ("individual", "phone", "get")
    assert row["components"] == "career-exploration;hope;job-search"
    assert row["supports"] == "emotional"
    assert row["note"] == "private words"
    assert row["clinical"] == 0 and row["voided"] == 0


@pytest.mark.parametrize("text,minutes", [("45", 45), ("45m", 45), ("1h", 60), ("1h15m", 75), ("1:15", 75)])
def test_log_accepts_every_duration_form(cli, program_db, text, minutes):
    cli.ok("log", "P-0001", text)
    assert session_rows(program_db)[0]["minutes"] == minutes


def test_log_defaults_come_from_config_and_the_date_is_today(cli, program_db):
    cli.ok("config", "set", "mode", "vid")
    cli.ok("config", "set", "type", "group")
    cli.ok("log", "p-0001", "30")  # ids are case-insensitive
    [row] = session_rows(program_db)
    assert (row["participant_id"], row["mode"], row["type"], row["date"]) == ("P-0001", "video", "group", TODAY.isoformat())
    assert row["entered_by"] == "PS1"


def test_log_takes_yesterday_weekday_and_days_ago(cli, program_db):
    for text in ("yesterday", "-5d", "fri"):
        cli.ok("log", "P-0001", "30", "-d", text)
    last_friday = TODAY - timedelta(days=(TODAY.weekday() - 4) % 7 or 7)
    dates = {row["date"] for row in session_rows(program_db)}
    assert dates == {days_ago(1), days_ago(5), last_friday.isoformat()}


REFUSALS = [
    (["log", "P-0099", "45"], "error: unknown participant 'P-0099'; did you mean P-0001 or P-0002?"),
    (["log", "P-0001", "45", "-d", "2999-01-01"], "error: session date 2999-01-01 is in the future"),
    (["log", "P-0001", "45", "-d", days_ago(121)], f"error: session date {days_ago(121)} is before P-0001 enrolled on {days_ago(120)}"),
    (["log", "P-0001", "0"], "error: minutes: must be at least 1 (got 0)"),
    (["log", "P-0001", "481"], "error: minutes: must be at most 480 (got 481)"),
    (["log", "P-0001", "8h1m"], "error: minutes: must be at most 480 (got 481)"),
    (["log", "P-0001", "45", "-c", "carer"], "error: unknown component 'carer'; did you mean career-exploration?"),
    (["log", "P-0001", "45", "-c", "job"], "error: component 'job' is ambiguous: it could be job-keeping, job-search"),
    (["log", "P-0001", "45", "-s", "money"], "error: unknown support type 'money'; accepted: tangible, emotional, informational, linking"),
    (["log", "P-0001", "45", "-m", "fax"], "error: unknown mode 'fax'; accepted: in-person, phone, video, text"),
    (["log", "P-0001", "45", "--specialist", "PS9"], "error: unknown specialist 'PS9'; did you mean PS1 or PS2?"),
    (["log", "P-0001", "45", "-d", "2026-02-30"], "error: date '2026-02-30' not understood: use today, yesterday, a weekday (monday), -3d or YYYY-MM-DD"),
    (["log", "P-0001", "forty"], "error: duration 'forty' not understood: use minutes (45, 45m), hours (1h, 1h15m) or h:mm (1:15)"),
    (["log", "P-0001", "45", "--at", "25:00"], "error: start time '25:00' not understood: use HH:MM, e.g. 14:30"),
]


@pytest.mark.parametrize("args,message", REFUSALS, ids=[m.split(":")[1].strip()[:40] for _, m in REFUSALS])
def test_log_refuses_bad_input_with_one_line_and_writes_nothing(cli, program_db, args, message):
    before = snapshot(program_db)
    result = cli(*args, "-n", "a private note")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].startswith(message), result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert "private note" not in result.output and "Traceback" not in result.output
    assert snapshot(program_db) == before


def test_log_refuses_an_exited_participant(cli, program_db):
    cli.ok("participant", "exit", "P-0002", "--on", days_ago(10), "--reason", "moved away")
    before = snapshot(program_db)
    result = cli("log", "P-0002", "45")
    assert result.exit_code == 1
    assert result.stderr == f"error: P-0002 exited on {days_ago(10)}; no session can be logged after that (session date {TODAY})\n"
    assert snapshot(program_db) == before


def test_log_refuses_without_any_specialist(cli, program_db, env):
    (env.parent.parent / "config" / "config.json").unlink()
    before = snapshot(program_db)
    result = cli("log", "P-0001", "45")
    assert result.exit_code == 1
    assert "no specialist given: pass --specialist ID" in result.stderr
    assert snapshot(program_db) == before


def test_log_refuses_a_missing_duration(cli, program_db):
    result = cli("log", "P-0001")
    assert result.exit_code == 1
    assert "the duration is missing" in result.stderr


def test_a_usage_error_exits_2_and_writes_nothing(cli, program_db):
    before = snapshot(program_db)
    result = cli("log", "P-0001", "45", "--no-such-option")
    assert result.exit_code == 2
    assert "No such option" in result.output
    assert snapshot(program_db) == before


def test_a_missing_store_exits_3_and_says_how_to_create_one(cli, env):
    result = cli("log", "P-0001", "45")
    assert result.exit_code == 3
    assert result.stderr == f"error: no store at {env}: create one with `vpslog init` (or choose another with --db)\n"
    assert not env.exists()


def test_interactive_log_asks_each_field_and_reasks_after_a_bad_answer(cli, program_db):
    answers = "\n".join(["P-0001", "1h", "forty", "-2d", "ind", "in", "career,zzz", "career,hope", "emo", "get", "fine", "y"])
    result = cli.ok("log", "-i", input=answers + "\n")
    assert "individual / group / collateral / no-show" in result.stdout
    assert "date 'forty' not understood" in result.stdout
    assert "unknown component 'zzz'" in result.stdout
    [row] = session_rows(program_db)
    assert (row["minutes"], row["date"], row["components"], row["phase"], row["note"]) == (
        60, days_ago(2), "career-exploration;hope", "get", "fine")


def test_log_without_participant_prompts(cli, program_db):
    cli.ok("log", input="P-0001\n\n\n\n\n\n\n\n\n\n")  # the last answer saves at the summary
    [row] = session_rows(program_db)
    assert (row["minutes"], row["type"], row["mode"], row["note"]) == (45, "individual", "in-person", None)


def test_log_e_takes_the_note_from_the_editor(cli, program_db, tmp_path, monkeypatch):
    editor = tmp_path / "editor.py"
    editor.write_text("import sys\nopen(sys.argv[1], 'w').write('written in the editor\\n')\n")
    monkeypatch.setenv("EDITOR", f"{sys.executable} {editor}")
    cli.ok("log", "P-0001", "45", "-e")
    assert session_rows(program_db)[0]["note"] == "written in the editor"


def test_amend_changes_the_given_fields_and_keeps_history(cli, program_db):
    cli.ok("log", "P-0001", "45", "-c", "hope", "-n", "first note")
    session_id = session_rows(program_db)[0]["id"]
    cli.ok("amend", session_id[:6], "50", "-c", "resume", "-n", "second note", "--reason", "wrong length")
    [row] = session_rows(program_db)
    assert (row["minutes"], row["components"], row["note"], row["mode"]) == (50, "resume", "second note", "in-person")
    history = json.loads(cli.ok("history", session_id[:8], "--format", "json").stdout)
    assert [e["action"] for e in history] == ["insert", "amend"]
    assert history[1]["reason"] == "wrong length"
    assert "minutes: 45 -> 50" in history[1]["changes"]
    assert "first note" not in json.dumps(history) and "second note" not in json.dumps(history)


@pytest.mark.parametrize("debug", [[], ["--debug"]])  # the quick path, and the full command line
def test_an_empty_phase_note_or_location_is_none_and_amend_clears_one(cli, program_db, debug):
    """`-n ''` stored an empty note ('' where a note not given is null), and `amend -p ''` said there was
    nothing to change while `--location ''` was refused: a wrong phase or place could not be cleared."""
    cli.ok(*debug, "log", "P-0001", "45", "-n", "", "-p", " ", "--location", "")
    [row] = session_rows(program_db)
    assert (row["note"], row["phase"], row["location"]) == (None, None, None)
    cli.ok(*debug, "amend", row["id"][:8], "-p", "get", "-n", "a note", "--location", "room 2", "--reason", "r")
    cli.ok(*debug, "amend", row["id"][:8], "-p", "", "-n", "", "--location", " ", "--reason", "set by mistake")
    [row] = session_rows(program_db)
    assert (row["note"], row["phase"], row["location"]) == (None, None, None)
    history = json.loads(cli.ok("history", row["id"][:8], "--format", "json").stdout)
    assert "phase: get -> " in history[-1]["changes"] and "room 2" in history[-1]["changes"]


def test_amend_refuses_a_bad_change_and_a_missing_reason(cli, program_db):
    cli.ok("log", "P-0001", "45")
    session_id = session_rows(program_db)[0]["id"]
    before = snapshot(program_db)
    result = cli("amend", session_id[:8], "-d", days_ago(500), "--reason", "x")
    assert result.exit_code == 1 and "is before P-0001 enrolled" in result.stderr
    result = cli("amend", session_id[:8], "-d", days_ago(5))
    assert result.exit_code == 2 and "--reason" in result.output
    result = cli("amend", session_id[:8], "45", "--reason", "same")
    assert result.exit_code == 1 and "nothing to change" in result.stderr
    assert snapshot(program_db) == before


def test_void_hides_a_session_from_lists_but_keeps_it(cli, program_db):
    cli.ok("log", "P-0001", "45", "-d", days_ago(2))
    cli.ok("log", "P-0001", "30", "-d", days_ago(1))
    wrong = [r["id"] for r in session_rows(program_db) if r["minutes"] == 30][0]
    cli.ok("void", wrong[:8], "--reason", "logged twice")
    listed = json.loads(cli.ok("sessions", "--format", "json").stdout)
    assert [s["id"] for s in listed] != [] and wrong not in [s["id"] for s in listed]
    everything = json.loads(cli.ok("sessions", "--all", "--format", "json").stdout)
    assert wrong in [s["id"] for s in everything] and len(everything) == 2
    result = cli("void", wrong[:8], "--reason", "again")
    assert result.exit_code == 1 and "is voided and cannot change" in result.stderr
    result = cli("amend", wrong[:8], "20", "--reason", "again")
    assert result.exit_code == 1 and "is voided and cannot change" in result.stderr


def test_an_ambiguous_or_unknown_session_prefix_is_refused(cli, program_db):
    for _ in range(20):
        cli.ok("log", "P-0001", "45")
    ids = [r["id"] for r in session_rows(program_db)]
    first = ids[0][0]
    shared = [i for i in ids if i.startswith(first)]
    result = cli("show", first)
    if len(shared) > 1:
        assert result.exit_code == 1 and f"session '{first}' is ambiguous" in result.stderr
    result = cli("show", "zzzz")
    assert result.exit_code == 1 and "unknown session 'zzzz'" in result.stderr


def test_sessions_filters_limits_and_formats(cli, program_db):
    cli.ok("log", "P-0001", "45", "-d", days_ago(30))
    cli.ok("log", "P-0001", "45", "-d", days_ago(10), "--specialist", "PS2")
    cli.ok("log", "P-0002", "45", "-d", days_ago(5))
    rows = json.loads(cli.ok("sessions", "--participant", "P-0001", "--format", "json").stdout)
    assert [r["date"] for r in rows] == [days_ago(10), days_ago(30)]
    assert list(rows[0]) == ["id", "date", "participant_id", "specialist_id", "minutes", "type", "mode",
                             "components", "supports", "phase", "clinical", "voided", "entered_at", "entered_by"]
    rows = json.loads(cli.ok("sessions", "--specialist", "PS2", "--format", "json").stdout)
    assert [r["date"] for r in rows] == [days_ago(10)]
    rows = json.loads(cli.ok("sessions", "--since", days_ago(20), "--until", days_ago(6), "--format", "json").stdout)
    assert [r["date"] for r in rows] == [days_ago(10)]
    rows = json.loads(cli.ok("sessions", "--limit", "1", "--format", "json").stdout)
    assert [r["date"] for r in rows] == [days_ago(5)]
    csv_out = cli.ok("sessions", "--format", "csv").stdout.splitlines()
    assert csv_out[0].startswith("id,date,participant_id") and len(csv_out) == 4
    table = cli.ok("sessions").stdout
    assert "P-0002" in table and days_ago(30) in table


def test_show_prints_the_whole_session_with_its_note(cli, program_db):
    cli.ok("log", "P-0001", "45", "-n", "the note", "--at", "14:30", "--location", "library")
    session_id = session_rows(program_db)[0]["id"]
    shown = json.loads(cli.ok("show", session_id[:8], "--format", "json").stdout)
    assert shown["note"] == "the note" and shown["start_time"] == "14:30:00" and shown["location"] == "library"
    assert shown["id"] == session_id


def test_clinical_flag_is_recorded(cli, program_db):
    cli.ok("log", "P-0001", "45", "--clinical")
    assert session_rows(program_db)[0]["clinical"] == 1


def test_log_warns_at_once_about_what_fidelity_will_flag(cli, program_db):
    result = cli.ok("log", "P-0002", "45", "--clinical")  # P-0002 is in the control arm
    assert result.stderr.splitlines() == [
        "warning: P-0002 is in the control arm: individual sessions break arm-integrity (fidelity will flag it)",
        "warning: a clinical service was recorded, which no-clinical-services flags: VPS does not provide one"]
    assert len(session_rows(program_db)) == 1
    assert cli.ok("log", "P-0001", "45").stderr == ""


def _counting_editor(tmp_path, monkeypatch) -> Path:
    """An editor that writes a note and counts its openings in `opened`."""
    editor = tmp_path / "editor.py"
    opened = tmp_path / "opened"
    editor.write_text("import sys\nopen(sys.argv[1], 'w').write('written in the editor\\n')\n"
                      f"open({str(opened)!r}, 'a').write('x')\n")
    monkeypatch.setenv("EDITOR", f"{sys.executable} {editor}")
    return opened


@pytest.mark.parametrize("args,message", [
    (["log", "P-0099", "45", "-e"], "unknown participant 'P-0099'"),
    (["log", "P-0001", "481", "-e"], "minutes: must be at most 480 (got 481)"),
    (["log", "P-0001", "45", "-d", "2999-01-01", "-e"], "session date 2999-01-01 is in the future"),
])
def test_the_editor_opens_only_for_a_session_every_rule_accepts(cli, program_db, tmp_path, monkeypatch, args, message):
    """The note was written first and then thrown away with the refusal."""
    opened = _counting_editor(tmp_path, monkeypatch)
    before = snapshot(program_db)
    result = cli(*args)
    assert result.exit_code == 1 and result.stderr.startswith(f"error: {message}")
    assert not opened.exists() and snapshot(program_db) == before


def test_amend_e_of_a_voided_session_is_refused_before_the_editor_opens(cli, program_db, tmp_path, monkeypatch):
    cli.ok("log", "P-0001", "45", "-n", "first")
    session_id = session_rows(program_db)[0]["id"]
    opened = _counting_editor(tmp_path, monkeypatch)
    cli.ok("amend", session_id[:8], "-e", "--reason", "a fuller note")
    assert session_rows(program_db)[0]["note"] == "written in the editor" and opened.read_text() == "x"
    cli.ok("void", session_id[:8], "--reason", "logged twice")
    result = cli("amend", session_id[:8], "-e", "--reason", "r")
    assert result.exit_code == 1 and result.stderr == f"error: session {session_id[:8]} is voided and cannot change\n"
    assert opened.read_text() == "x"
    assert cli.ok("audit", "verify").exit_code == 0


def test_a_no_show_chosen_at_the_prompt_leaves_out_the_content_given_as_options(cli, program_db):
    """It was refused only after the summary was confirmed, and everything typed was lost."""
    result = cli.ok("log", "P-0001", "30", "-i", "-c", "hope", "-p", "get", input="\n\n\nno-show\n\n\ny\n")
    assert "a no-show records no content: the components, support types and phase given are left out" in result.stdout
    [row] = session_rows(program_db)
    assert (row["type"], row["components"], row["phase"]) == ("no-show", "", None)
