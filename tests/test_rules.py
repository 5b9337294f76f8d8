"""One set of rules, wherever a record comes from: what `log`, `participant`, `specialist`,
`supervision` and `site` refuse, `import` refuses too, with nothing written."""

from __future__ import annotations

import csv
import sqlite3
import sys
from datetime import date

import pytest

from conftest import days_ago, session_rows, snapshot, tamper

TODAY = date.today()


def _header(cli, table: str) -> list[str]:
    """The columns `vpslog export` gives the table (an export is audited: ask before a snapshot)."""
    return cli.ok("export", table, "--out", "-").stdout.splitlines()[0].split(",")


def _import(cli, tmp_path, table: str, *rows: dict, header: list[str] | None = None):
    """Write `rows` under the table's export header, and import the file."""
    header = header or _header(cli, table)
    path = tmp_path / f"{table}.csv"
    with open(path, "w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, header)
        writer.writeheader()
        writer.writerows(rows)
    return cli("import", table, str(path)), path


def _session(n: int, **fields) -> dict:
    return {"id": f"{n:032x}", "participant_id": "P-0001", "specialist_id": "PS1", "date": days_ago(5),
            "minutes": "45", "type": "individual", "mode": "phone", "entered_at": f"{days_ago(4)}T17:00:00Z",
            "entered_by": "PS1", "voided": "0", "clinical": "0", **fields}


def _supervision(n: int, **fields) -> dict:
    return {"id": f"{n:032x}", "specialist_id": "PS1", "supervisor": "Supervisor A", "date": days_ago(5),
            "minutes": "60", "group": "0", "entered_at": f"{days_ago(4)}T17:00:00Z", "entered_by": "PS1",
            "voided": "0", **fields}


def _participant(pid: str, **fields) -> dict:
    return {"id": pid, "site_id": "S1", "enrolled_on": days_ago(30), "status": "active", **fields}


IMPORT_REFUSALS = [
    ("participants", _participant("Zed Example"),  # a name typed for a study code: never echoed
     "id: [text with spaces, not shown] is not a study code: use a pseudonymous code like P-0017 "
     "(pattern [A-Z]+-?[0-9]+), never a name"),
    ("participants", _participant("P-0101", enrolled_on="2099-01-01"),
     f"enrollment date 2099-01-01 is in the future (today is {TODAY})"),
    ("participants", _participant("P-0102", status="exited", exited_on="2099-01-01", exit_reason="moved away"),
     f"exit date 2099-01-01 is in the future (today is {TODAY})"),
    ("participants", _participant("P-0103", arm="vps", consent_on="2099-01-01"),
     f"consent date 2099-01-01 is in the future (today is {TODAY})"),
    ("specialists", {"id": "PS7", "site_id": "S1", "trained_on": "2099-01-01", "active": "1"},
     f"training date 2099-01-01 is in the future (today is {TODAY})"),
    ("supervision", _supervision(1, date="2099-01-01"),
     f"supervision date 2099-01-01 is in the future (today is {TODAY})"),
    ("sessions", _session(1, entered_at="2099-01-01T09:00:00Z"), "entered_at 2099-01-01T09:00:00+00:00 is in the future"),
    ("sessions", _session(2, entered_by="front desk"),
     "entered_by: not a user or specialist id (letters, digits and . _ @ -, no spaces); "
     "set yours with `vpslog config set specialist ID`"),
    ("sessions", _session(3, type="no-show", components="career-exploration", phase="get"),
     "a no-show session records no content: leave out its components, support types and phase"),
]


@pytest.mark.parametrize("table,row,message", IMPORT_REFUSALS,
                         ids=[m.split(" ")[0] + "-" + t for t, _, m in IMPORT_REFUSALS])
def test_import_refuses_what_the_cli_refuses_and_writes_nothing(cli, program_db, tmp_path, table, row, message):
    header = _header(cli, table)
    before = snapshot(program_db)
    result, path = _import(cli, tmp_path, table, row, header=header)
    assert result.exit_code == 1
    assert result.stderr == f"error: 1 bad row in {path}; nothing was imported:\n{path}:2: {message}\n"
    assert snapshot(program_db) == before


def test_a_row_the_store_itself_refuses_is_named_by_its_file_line(cli, program_db, tmp_path):
    """A constraint the models do not check (a program's own trigger, here) refused the import naming
    the row's id only; the line of the file is what a researcher opens."""
    header = _header(cli, "sessions")
    tamper(program_db, "CREATE TRIGGER no_77 BEFORE INSERT ON session WHEN NEW.minutes = 77 "
                       "BEGIN SELECT RAISE(ABORT, 'no 77-minute sessions here'); END")
    cli.ok("sessions")  # (the tamper's own trace, the audit triggers, is mended at the first open)
    before = snapshot(program_db)
    result, path = _import(cli, tmp_path, "sessions", _session(1), _session(2, minutes="77"), header=header)
    assert (result.exit_code, result.stderr) == (1, (
        f"error: {path}:3: the store refused the imported row with id {2:032x} (no 77-minute sessions here); "
        "nothing was imported\n"))
    assert snapshot(program_db) == before


def test_import_refuses_a_session_by_a_specialist_who_is_not_active(cli, program_db, tmp_path):
    result, _ = _import(cli, tmp_path, "specialists", {"id": "PS8", "site_id": "S1", "trained_on": days_ago(90),
                                                       "active": "0"})
    assert result.exit_code == 0, result.stderr
    assert cli("log", "P-0001", "45", "--specialist", "PS8").stderr == "error: specialist PS8 is not active\n"
    header = _header(cli, "sessions")
    before = snapshot(program_db)
    result, path = _import(cli, tmp_path, "sessions", _session(1, specialist_id="PS8"), header=header)
    assert result.exit_code == 1
    assert result.stderr == (f"error: 1 bad row in {path}; nothing was imported:\n"
                             f"{path}:2: specialist PS8 is not active\n")
    assert snapshot(program_db) == before


def test_import_matches_site_and_specialist_ids_whatever_their_case(cli, program_db, tmp_path):
    result, _ = _import(cli, tmp_path, "participants", _participant("P-0104", site_id="s1"))
    assert result.exit_code == 0, result.stderr
    result, _ = _import(cli, tmp_path, "sites", {"id": "north", "name": "North site"})
    assert result.exit_code == 0, result.stderr
    conn = sqlite3.connect(program_db)
    assert conn.execute("SELECT site_id FROM participant WHERE id = 'P-0104'").fetchone() == ("S1",)
    assert [r[0] for r in conn.execute("SELECT id FROM site ORDER BY id")] == ["NORTH", "S1"]
    conn.close()


def test_log_refuses_a_note_with_a_nul_from_the_editor_and_writes_nothing(cli, program_db, tmp_path, monkeypatch):
    editor = tmp_path / "editor.py"
    editor.write_text("import sys\nopen(sys.argv[1], 'w').write('met\\x00at the library')\n")
    monkeypatch.setenv("EDITOR", f"{sys.executable} {editor}")
    before = snapshot(program_db)
    result = cli("log", "P-0001", "45", "-e")
    assert result.exit_code == 1
    assert result.stderr == "error: note: contains a NUL character (\\x00), which no text field may hold\n"
    assert "library" not in result.output
    assert snapshot(program_db) == before


@pytest.mark.parametrize("args,message", [
    (["log", "P-0001", "45", "-c", ",,"], "error: no component in ',,': give one or more codes, comma-separated"),
    (["log", "P-0001", "45", "-s", " , "], "error: no support type in ' , ': give one or more codes, comma-separated"),
    (["log", "P-0001", "30", "-t", "no-show", "-c", "career"],
     "error: a no-show session records no content: leave out its components, support types and phase"),
    (["log", "P-0001", "30", "-t", "no-show", "-p", "get"],
     "error: a no-show session records no content: leave out its components, support types and phase"),
    (["specialist", "add", "PS3", "--site", "S1", "--trained", "2099-01-01"],
     f"error: training date 2099-01-01 is in the future (today is {TODAY})"),
    (["participant", "add", "P-0009", "--site", "S1", "--enrolled", days_ago(5), "--consent", "2099-01-01"],
     f"error: consent date 2099-01-01 is in the future (today is {TODAY})"),
    (["site", "add", "s1", "--name", "Site one again"], "error: site S1 already exists"),
    (["specialist", "add", "ps1", "--site", "S1"], "error: specialist PS1 already exists"),
])
def test_commands_refuse_what_import_refuses_and_write_nothing(cli, program_db, args, message):
    before = snapshot(program_db)
    result = cli(*args)
    assert result.exit_code == 1
    assert result.stderr == message + "\n"
    assert snapshot(program_db) == before


def test_site_and_specialist_ids_are_upper_case_and_found_in_any_case(cli, program_db):
    assert cli.ok("site", "add", "north", "--name", "North site").stdout == "added site NORTH\n"
    assert cli.ok("specialist", "add", "ps3", "--site", "north").stdout == "added specialist PS3 at site NORTH\n"
    cli.ok("log", "P-0001", "45", "--specialist", "ps3")
    assert session_rows(program_db)[0]["specialist_id"] == "PS3"


@pytest.mark.parametrize("typed", ["straße", "\ufb01eld"])
def test_an_id_that_upper_case_would_make_another_is_refused_as_typed(cli, program_db, typed):
    """Upper-cased first, `straße` became the site STRASSE and the ligature `ﬁeld` FIELD: ids nobody typed."""
    before = snapshot(program_db)
    for args in (["site", "add", typed, "--name", "x"], ["specialist", "add", typed, "--site", "S1"]):
        result = cli(*args)
        assert (result.exit_code, result.stderr) == (
            1, f"error: id: string should match pattern '^[A-Za-z0-9][A-Za-z0-9_.-]{{0,31}}$' (got '{typed}')\n")
    assert snapshot(program_db) == before
    assert cli("participant", "list", "--site", typed).stderr == f"error: unknown site '{typed}'; accepted: S1\n"


def test_an_older_stores_lower_case_ids_still_work_and_block_an_upper_case_twin(cli, program_db):
    conn = sqlite3.connect(program_db)  # as an earlier vpslog would have stored them
    conn.execute("INSERT INTO site (id, name) VALUES ('south', 'South site')")
    conn.execute("INSERT INTO specialist (id, site_id, active) VALUES ('ps9', 'south', 1)")
    conn.commit()
    conn.close()
    cli.ok("log", "P-0001", "45", "--specialist", "PS9")
    assert session_rows(program_db)[0]["specialist_id"] == "ps9"
    assert cli("site", "add", "SOUTH", "--name", "Again").stderr == "error: site south already exists\n"
    assert "ps9" in cli.ok("fidelity", "--site", "SOUTH", "--format", "json").stdout


def test_amending_a_session_into_a_no_show_drops_what_did_not_happen(cli, program_db):
    cli.ok("log", "P-0001", "45", "-c", "career", "-s", "emotional", "-p", "get")
    session_id = session_rows(program_db)[0]["id"]
    cli.ok("amend", session_id[:8], "-t", "no-show", "--reason", "the participant did not come")
    row = session_rows(program_db)[0]
    assert (row["type"], row["components"], row["supports"], row["phase"]) == ("no-show", "", "", None)
