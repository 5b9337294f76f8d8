"""A specialist records a participant's vocational milestones and lists them; both supervision
and milestones keep their free text out of the audit trail."""

from __future__ import annotations

import json

import pytest

from conftest import TODAY, days_ago, snapshot, table_rows


def test_milestone_records_the_kind_by_prefix_and_prints_a_short_id(cli, program_db):
    result = cli.ok("milestone", "p-0001", "INTER", "-d", days_ago(3), "-n", "bakery, second round")
    [row] = table_rows(program_db, "milestone")
    assert result.stdout == f"logged milestone {row['id'][:8]}: P-0001 {days_ago(3)} interview\n"
    assert (row["participant_id"], row["date"], row["kind"], row["detail"]) == (
        "P-0001", days_ago(3), "interview", "bakery, second round")
    assert (row["entered_by"], row["voided"], row["void_reason"]) == ("PS1", 0, None)


def test_milestone_defaults_to_today_without_detail(cli, program_db):
    cli.ok("milestone", "P-0002", "goal-set")
    [row] = table_rows(program_db, "milestone")
    assert (row["participant_id"], row["date"], row["kind"], row["detail"]) == ("P-0002", TODAY.isoformat(), "goal-set", None)


def test_milestone_may_fall_on_the_enrollment_day(cli, program_db):
    cli.ok("milestone", "P-0001", "goal", "-d", days_ago(120))
    assert table_rows(program_db, "milestone")[0]["date"] == days_ago(120)


REFUSALS = [
    (["P-0099", "goal-set"], "error: unknown participant 'P-0099'; did you mean P-0001 or P-0002?"),
    (["P-0001", "goal-set", "-d", "2999-01-01"], f"error: milestone date 2999-01-01 is in the future (today is {TODAY})"),
    (["P-0001", "goal-set", "-d", days_ago(121)],
     f"error: milestone date {days_ago(121)} is before P-0001 enrolled on {days_ago(120)}"),
    (["P-0001", "promotion"], "error: unknown milestone kind 'promotion'; accepted: goal-set, application, interview, "
     "job-start, job-end, education-start"),
    (["P-0001", "intervew"], "error: unknown milestone kind 'intervew'; did you mean interview?"),
    (["P-0001", "job"], "error: milestone kind 'job' is ambiguous: it could be job-end, job-start"),
    (["P-0001", "goal-set", "-d", "someday"],
     "error: date 'someday' not understood: use today, yesterday, a weekday (monday), -3d or YYYY-MM-DD"),
]


@pytest.mark.parametrize("args,message", REFUSALS, ids=[m.split(":")[1].strip()[:40] for _, m in REFUSALS])
def test_milestone_refuses_bad_input_with_one_line_and_writes_nothing(cli, program_db, args, message):
    before = snapshot(program_db)
    result = cli("milestone", *args, "-n", "a private detail")
    assert result.exit_code == 1
    assert result.stderr == message + "\n"
    assert "private detail" not in result.output and "Traceback" not in result.output
    assert snapshot(program_db) == before


def test_milestones_lists_newest_first_filtered_and_without_detail(cli, program_db):
    cli.ok("milestone", "P-0001", "goal", "-d", days_ago(100))
    cli.ok("milestone", "P-0002", "appl", "-d", days_ago(20), "-n", "hidden words")
    cli.ok("milestone", "P-0001", "job-s", "-d", days_ago(2))
    rows = json.loads(cli.ok("milestones", "--format", "json").stdout)
    assert [(r["date"], r["participant_id"], r["kind"]) for r in rows] == [
        (days_ago(2), "P-0001", "job-start"), (days_ago(20), "P-0002", "application"), (days_ago(100), "P-0001", "goal-set")]
    assert list(rows[0]) == ["id", "date", "participant_id", "kind", "entered_at", "entered_by"]
    assert len(rows[0]["id"]) == 32
    rows = json.loads(cli.ok("milestones", "--participant", "p-0001", "--format", "json").stdout)
    assert [r["kind"] for r in rows] == ["job-start", "goal-set"]
    rows = json.loads(cli.ok("milestones", "--since", days_ago(30), "--until", "-3d", "--format", "json").stdout)
    assert [r["kind"] for r in rows] == ["application"]
    csv_out = cli.ok("milestones", "--format", "csv").stdout.splitlines()
    assert csv_out[0] == "id,date,participant_id,kind,entered_at,entered_by" and len(csv_out) == 4
    table = cli.ok("milestones").stdout
    assert "application" in table and days_ago(100) in table
    for listing in (table, "\n".join(csv_out)):
        assert "hidden words" not in listing


def test_milestones_refuses_an_unknown_participant(cli, program_db):
    result = cli("milestones", "--participant", "P-0099")
    assert result.exit_code == 1
    assert result.stderr == "error: unknown participant 'P-0099'; did you mean P-0001 or P-0002?\n"


@pytest.mark.parametrize("args,table,text_field,fields", [
    (["supervision", "log", "PS1", "45", "--supervisor", "Supervisor A"], "supervision", "note", 12),
    (["milestone", "P-0001", "job-start"], "milestone", "detail", 9),
], ids=["supervision note", "milestone detail"])
def test_free_text_is_audited_as_a_digest_and_history_finds_the_record(cli, program_db, args, table, text_field, fields):
    cli.ok(*args, "-n", "private words")
    [row] = table_rows(program_db, table)
    history = json.loads(cli.ok("history", row["id"][:8], "--format", "json").stdout)
    assert [(e["action"], e["changes"]) for e in history] == [("insert", f"created ({fields} fields)")]
    audit = snapshot(program_db)["audit"]
    assert "private words" not in repr(audit)
    [after] = [json.loads(entry[7]) for entry in audit if entry[4] == table]
    assert after["id"] == row["id"] and after[text_field] and after[text_field] != "private words"
    assert cli.ok("audit", "verify").stdout.startswith("audit trail verified:")


def test_history_refuses_an_id_that_names_nothing(cli, program_db):
    result = cli("history", "zzzz")
    assert result.exit_code == 1
    assert result.stderr == ("error: no session, supervision, milestone, participant, specialist or site "
                             "matches 'zzzz'\n")
