"""One set of rules, wherever a record comes from: what `log`, `import` and the rest refuse,
`merge` refuses too, against this store and the records merged with it, with nothing written.

The bad records are written into the other store through vpslog's own library (audited), so
that its trail verifies and the rule, not the trail check, is what refuses them."""

from __future__ import annotations

import json
import uuid
from datetime import date
from shutil import copyfile

import pytest

from conftest import days_ago, snapshot
from vpslog.core import Program
from vpslog.models import RECORDS

TODAY = date.today()


@pytest.fixture
def laptop(program_db, tmp_path):
    """A copy of the program's store on a specialist's laptop (same project, same secret)."""
    path = tmp_path / "laptop.db"
    copyfile(program_db, path)
    return path


def _write(db, table: str, data: dict) -> str:
    """Write a record into `db` the way vpslog does (model, insert, audit entry) but without the
    rules of core.Program: what an older or a modified vpslog could have let in."""
    prog = Program.open(db)
    try:
        record = RECORDS[table].model_validate(data)
        with prog.store.transaction():
            prog.store.insert(table, record, actor=prog.actor)
    finally:
        prog.close()
    return data["id"]


def _entered(**fields) -> dict:
    return {"id": uuid.uuid4().hex, "entered_at": f"{days_ago(1)}T17:00:00Z", "entered_by": "PS1", **fields}


def _session(**fields) -> dict:
    return _entered(**{"participant_id": "P-0001", "specialist_id": "PS1", "date": days_ago(5), "minutes": 45,
                       "type": "individual", "mode": "phone", **fields})


def _supervision(**fields) -> dict:
    return _entered(**{"specialist_id": "PS1", "supervisor": "Supervisor A", "date": days_ago(5), "minutes": 60,
                       **fields})


def _milestone(**fields) -> dict:
    return _entered(**{"participant_id": "P-0001", "kind": "goal-set", "date": days_ago(5), **fields})


def _screening(**fields) -> dict:
    return _entered(**{"participant_id": "P-0001", "date": days_ago(5), "answers": {"smi": True},
                       "eligible": True, "rules_version": "test", **fields})


MERGE_REFUSALS = [
    ("session", _session(date="2099-01-01"), f"session date 2099-01-01 is in the future (today is {TODAY})"),
    ("session", _session(date=days_ago(130)),
     f"session date {days_ago(130)} is before P-0001 enrolled on {days_ago(120)}"),
    ("session", _session(type="no-show", components=("career-exploration",)),
     "a no-show session records no content: leave out its components, support types and phase"),
    ("session", _session(entered_at="2099-01-01T09:00:00Z"), "entered_at 2099-01-01T09:00:00+00:00 is in the future"),
    ("session", _session(entered_by="front desk"),
     "entered_by: not a user or specialist id (letters, digits and . _ @ -, no spaces); "
     "set yours with `vpslog config set specialist ID`"),
    ("supervision", _supervision(date="2099-01-01"), f"supervision date 2099-01-01 is in the future (today is {TODAY})"),
    ("milestone", _milestone(date=days_ago(121)),
     f"milestone date {days_ago(121)} is before P-0001 enrolled on {days_ago(120)}"),
    ("screening", _screening(date="2099-01-01"), f"screening date 2099-01-01 is in the future (today is {TODAY})"),
    ("specialist", {"id": "PS7", "site_id": "S1", "trained_on": "2099-01-01"},
     f"training date 2099-01-01 is in the future (today is {TODAY})"),
    ("participant", {"id": "P-0071", "site_id": "S1", "enrolled_on": days_ago(10), "consent_on": "2099-01-01"},
     f"consent date 2099-01-01 is in the future (today is {TODAY})"),
]


@pytest.mark.parametrize("table,data,message", MERGE_REFUSALS,
                         ids=[f"{t}-{m.split(' ')[0]}-{i}" for i, (t, _, m) in enumerate(MERGE_REFUSALS)])
def test_merge_refuses_what_the_cli_and_import_refuse_and_writes_nothing(cli, program_db, laptop, table, data,
                                                                         message):
    record_id = _write(laptop, table, data)
    assert cli.ok("--db", str(laptop), "audit", "verify").stdout.startswith("audit trail verified")
    before = snapshot(program_db)
    result = cli("merge", str(laptop))
    assert result.exit_code == 1
    assert result.stderr == f"error: {laptop}: {table} {record_id}: {message}; nothing was merged\n"
    assert snapshot(program_db) == before


def test_merge_refuses_a_session_by_a_specialist_who_is_not_active(cli, program_db, laptop):
    _write(laptop, "specialist", {"id": "PS9", "site_id": "S1", "trained_on": days_ago(90), "active": False})
    session_id = _write(laptop, "session", _session(specialist_id="PS9"))
    before = snapshot(program_db)
    result = cli("merge", str(laptop))
    assert result.exit_code == 1
    assert result.stderr == f"error: {laptop}: session {session_id}: specialist PS9 is not active; nothing was merged\n"
    assert snapshot(program_db) == before


def test_merge_checks_a_session_against_a_participant_that_arrives_with_it(cli, program_db, laptop):
    """The participant is new to this store: its exit, merged with it, is what the session breaks."""
    cli.ok("--db", str(laptop), "participant", "add", "P-0070", "--site", "S1", "--enrolled", days_ago(40),
           "--arm", "vps", "--consent", days_ago(40))
    cli.ok("--db", str(laptop), "log", "P-0070", "45", "-d", days_ago(20))
    cli.ok("--db", str(laptop), "participant", "exit", "P-0070", "--on", days_ago(10), "--reason", "moved away")
    session_id = _write(laptop, "session", _session(participant_id="P-0070", date=days_ago(5)))
    before = snapshot(program_db)
    result = cli("merge", str(laptop))
    assert result.exit_code == 1
    assert result.stderr == (f"error: {laptop}: session {session_id}: P-0070 exited on {days_ago(10)}; no session "
                             f"can be logged after that (session date {days_ago(5)}); nothing was merged\n")
    assert snapshot(program_db) == before


def test_merge_refuses_a_site_whose_id_differs_only_in_case_from_this_stores(cli, program_db, laptop):
    cli.ok("site", "add", "NORTH", "--name", "North site")
    _write(laptop, "site", {"id": "north", "name": "North site"})  # as an earlier vpslog stored ids
    before = snapshot(program_db)
    result = cli("merge", str(laptop))
    assert result.exit_code == 1
    assert result.stderr == (f"error: {laptop}: site north: site NORTH already exists (ids that differ only in "
                             "case name one site); nothing was merged\n")
    assert snapshot(program_db) == before


def test_merge_refuses_a_specialist_whose_id_differs_only_in_case_within_the_other_store(cli, program_db, laptop):
    _write(laptop, "specialist", {"id": "ps1", "site_id": "S1"})
    before = snapshot(program_db)
    result = cli("merge", str(laptop))
    assert result.exit_code == 1
    assert result.stderr == (f"error: {laptop}: specialist ps1: specialist PS1 already exists (ids that differ only "
                             "in case name one specialist); nothing was merged\n")
    assert snapshot(program_db) == before


def test_merge_brings_a_new_participant_with_the_records_that_name_it(cli, program_db, laptop):
    """Records that meet the rules only with what arrives in the same merge (a new site, specialist
    and participant) are merged, and this store's trail still verifies."""
    cli.ok("--db", str(laptop), "site", "add", "EAST", "--name", "East site")
    cli.ok("--db", str(laptop), "specialist", "add", "PS5", "--site", "EAST", "--trained", days_ago(60))
    cli.ok("--db", str(laptop), "participant", "add", "P-0070", "--site", "EAST", "--enrolled", days_ago(30),
           "--arm", "vps", "--consent", days_ago(30))
    cli.ok("--db", str(laptop), "log", "P-0070", "45", "-d", days_ago(20), "--specialist", "PS5")
    cli.ok("--db", str(laptop), "milestone", "P-0070", "goal-set", "-d", days_ago(19))
    cli.ok("--db", str(laptop), "supervision", "log", "PS5", "1h", "-d", days_ago(18), "--supervisor", "Supervisor A")
    cli.ok("merge", str(laptop))
    [session] = json.loads(cli.ok("sessions", "--participant", "P-0070", "--format", "json").stdout)
    assert (session["specialist_id"], session["date"]) == ("PS5", days_ago(20))
    assert cli.ok("audit", "verify").stdout.startswith("audit trail verified")
