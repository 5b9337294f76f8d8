"""The import's compiled validator (vpslog.bulk) changes nothing a user sees: the same files,
imported with it and through the models alone, give the same refusals (exact stderr, exit
code, nothing written) or the same rows and audit entries."""

from __future__ import annotations

import csv
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import days_ago, snapshot
from vpslog import bulk
from vpslog.curriculum import Catalog
from vpslog.importer import _Parser
from vpslog.tables import TABLES

# Cells a file may hold, valid and not: each column drawn from its own list.
SESSION_CELLS = {
    "id": [f"{n:032x}" for n in range(1, 6)] + ["0" * 31, "G" * 32, ""],
    "participant_id": ["P-0001", "P-0002", "p-0001", " P-0001 ", "P-0099", "not a code", ""],
    "specialist_id": ["PS1", "ps1", "PS2", "PS9", "P S1", ""],
    "date": [days_ago(5), days_ago(70), days_ago(200), "2099-01-01", "2026-13-01", f" {days_ago(5)}", ""],
    "start_time": ["13:15:00", "13:15", "09:00:00.5", "25:00", ""],
    "minutes": ["45", "0", "500", "45.0", " 45", "+5", "'+5", "abc", ""],
    "type": ["individual", "no-show", "group", "chat", "Individual", " individual", ""],
    "mode": ["phone", "in-person", "fax", ""],
    "location": ["office", "'=A1", "'@library", "room 2, floor 3", "x" * 201, "'", ""],
    "components": ["career-exploration;hope", "hope", "hope;;resume", "hope; resume", "resume;", "job", ""],
    "supports": ["emotional", "emotional;linking", "moral", ""],
    "phase": ["get", "keep", "win", ""],
    "clinical": ["0", "1", "true", "no", "2", ""],
    "note": ["first line\nsecond line", "'=SUM(A1:A9)", "''=x", 'said "fine"', "bench note", ""],
    "entered_at": [f"{days_ago(4)}T17:00:00Z", f"{days_ago(4)}T17:00:00+00:00", f"{days_ago(4)}T17:00:00.5Z",
                   f"{days_ago(4)}T19:00:00+02:00", f"{days_ago(4)} 17:00", "2099-01-01T09:00:00Z", "yesterday", ""],
    "entered_by": ["PS1", "front desk", "coordinator@site", ""],
    "voided": ["0", "1", "yes", ""],
    "void_reason": ["entered in error", ""],
    "units": ["3", "x", ""],
}
REQUIRED = ["id", "participant_id", "specialist_id", "date", "minutes", "type", "mode", "entered_at", "entered_by"]
OPTIONAL = [name for name in SESSION_CELLS if name not in REQUIRED]


@st.composite
def session_files(draw) -> tuple[list[str], list[list[str]]]:
    """A header (the required columns and some others, in any order) and up to 6 rows, most
    of them valid, the others with a cell drawn from every kind of mistake."""
    header = draw(st.permutations(REQUIRED + draw(st.lists(st.sampled_from(OPTIONAL), unique=True))))
    rows = []
    for n in range(draw(st.integers(1, 6))):
        row = {"id": f"{n + 1:032x}", "participant_id": "P-0001", "specialist_id": "PS1", "date": days_ago(5),
               "minutes": "45", "type": "individual", "mode": "phone", "entered_at": f"{days_ago(4)}T17:00:00Z",
               "entered_by": "PS1"}
        for name in draw(st.lists(st.sampled_from(list(SESSION_CELLS)), max_size=3)):
            row[name] = draw(st.sampled_from(SESSION_CELLS[name]))
        rows.append([row.get(name, "") for name in header])
    return header, rows


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _copy(source: Path, target: Path) -> Path:
    """A private copy of a store at a new path (so no witness yet; same secret: same config
    folder), made through SQLite's backup API."""
    target.touch(mode=0o600, exist_ok=False)
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    return target


def _outcome(db: Path) -> dict[str, list[tuple]]:
    """Every table, the audit entries without what differs between two runs (their time, and the
    hashes that cover it)."""
    tables = snapshot(db)
    conn = sqlite3.connect(db)
    try:
        tables["audit"] = conn.execute("SELECT seq, actor, action, tbl, record_id, before, after, reason "
                                       "FROM audit ORDER BY seq").fetchall()
    finally:
        conn.close()
    del tables["meta"]  # the audit head: a hash
    return tables


def _import_both_ways(cli, monkeypatch, template: Path, folder: Path, table: str, file: Path):
    """(exit code, stdout, stderr, store before, store after) of importing `file` with the compiled
    validator, then through the models alone (the compiled validator switched off)."""
    outcomes = []
    folder = Path(tempfile.mkdtemp(dir=folder))  # new paths for each example
    for compiled in (True, False):
        db = _copy(template, folder / f"store-{compiled}.db")
        before = _outcome(db)
        with monkeypatch.context() as patch:
            if not compiled:
                patch.setattr(bulk, "compile_rows", lambda model, catalog: None)
            result = cli("--db", str(db), "import", table, str(file))
        outcomes.append((result.exit_code, result.stdout, result.stderr, before, _outcome(db)))
    return outcomes


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(session_files())
def test_sessions_import_alike_with_the_compiled_validator_and_through_the_model(cli, program_db, tmp_path,
                                                                                  monkeypatch, data):
    header, rows = data
    file = _write(tmp_path / "sessions.csv", header, rows)
    fast, model = _import_both_ways(cli, monkeypatch, program_db, tmp_path, "sessions", file)
    assert fast[:3] == model[:3]
    assert fast[4] == model[4]
    code, _, _, before, after = fast
    if code != 0:
        assert after == before  # nothing was written


OTHER_FILES = [
    ("supervision", ["id", "specialist_id", "supervisor", "date", "minutes", "group", "topics", "note", "entered_at",
                     "entered_by", "voided", "void_reason"],
     [[f"{1:032x}", "PS1", "'=Supervisor A", days_ago(3), "60", "0", "", "'+ talked", f"{days_ago(2)}T10:00:00Z",
       "PS1", "0", ""],
      [f"{2:032x}", "ps1", "Supervisor B", days_ago(3), "60", "true", "", "", f"{days_ago(2)}T10:00:00Z", "PS1", "", ""]]),
    ("supervision", ["id", "specialist_id", "supervisor", "date", "minutes", "entered_at", "entered_by"],
     [[f"{3:032x}", "PS1", "Supervisor A", "2099-01-01", "60", f"{days_ago(2)}T10:00:00Z", "PS1"],
      [f"{4:032x}", "PS1", "", days_ago(3), "600", f"{days_ago(2)}T10:00:00Z", "PS1"]]),
    ("milestones", ["id", "participant_id", "date", "kind", "detail", "entered_at", "entered_by"],
     [[f"{5:032x}", "P-0001", days_ago(10), "interview", "'-1 call back", f"{days_ago(9)}T10:00:00Z", "PS1"],
      [f"{6:032x}", "P-0002", days_ago(10), "interview", "", f"{days_ago(9)}T10:00:00Z", "PS1"]]),
    ("milestones", ["id", "participant_id", "date", "kind", "entered_at", "entered_by"],
     [[f"{7:032x}", "P-0001", days_ago(300), "interview", f"{days_ago(9)}T10:00:00Z", "PS1"],
      [f"{8:032x}", "P-0001", days_ago(10), "party", f"{days_ago(9)}T10:00:00Z", "PS1"]]),
    ("specialists", ["id", "site_id", "name", "trained_on", "active"],
     [["ps7", "s1", "'@Specialist C", days_ago(30), "1"], ["PS8", "S1", "", "", ""]]),
    ("specialists", ["id", "site_id", "trained_on"], [["PS9", "S2", days_ago(30)], ["PS1", "S1", "2099-01-01"]]),
    ("sites", ["id", "name"], [["north", "North site"], ["S1", "Site one"], ["S3", ""]]),
]


@pytest.mark.parametrize("table,header,rows", OTHER_FILES, ids=[f"{t}-{n}" for n, (t, _, _) in enumerate(OTHER_FILES)])
def test_other_tables_import_alike_with_the_compiled_validator_and_through_the_model(cli, program_db, tmp_path,
                                                                                     monkeypatch, table, header, rows):
    file = _write(tmp_path / f"{table}.csv", header, rows)
    fast, model = _import_both_ways(cli, monkeypatch, program_db, tmp_path, table, file)
    assert fast[:3] == model[:3]
    assert fast[4] == model[4]
    if fast[0] != 0:
        assert fast[4] == fast[3]


@pytest.mark.parametrize("table", ["sessions", "supervision", "milestones", "specialists", "sites", "screenings",
                                   "allocations", "review_items"])
def test_the_big_tables_have_a_compiled_validator_and_a_valid_row_takes_it(table):
    """Otherwise the equivalence above would hold trivially."""
    spec = TABLES[table]
    header = [c.name for c in spec.columns if not c.derived]
    parser = _Parser(spec, header, Catalog())
    assert parser.compiled is not None
    if table == "sessions":
        cells = [{"id": "a" * 32, "participant_id": "P-0001", "specialist_id": "PS1", "date": "2026-01-05",
                  "minutes": "45", "type": "individual", "mode": "phone", "components": "hope;resume",
                  "clinical": "0", "entered_at": "2026-01-06T10:00:00Z", "entered_by": "PS1", "voided": "0"
                  }.get(name, "") for name in header]
        record, row = parser.parse(cells)
        assert type(record) is parser.compiled.record
        assert row["components"] == "hope;resume" and row["clinical"] == 0 and row["entered_at"] == "2026-01-06T10:00:00Z"


def test_a_model_with_a_rule_across_fields_has_no_compiled_validator():
    from vpslog.models import Participant, Review

    assert bulk.compile_rows(Participant, Catalog()) is None
    assert bulk.compile_rows(Review, Catalog()) is None
