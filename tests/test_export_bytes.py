"""`vpslog export` writes the same bytes whatever is done to make it faster: each line of a
sessions export, on a store with awkward text (formulas, quotes, line breaks, control
characters, unicode), equals the line the documented rules give (codebook: a text cell that
starts with a formula trigger or `'` gets a `'` and quotes; one holding a comma, a double
quote or a line break is quoted, its quotes doubled; an empty value is an empty cell).
The rules hold for every text cell, codes and ids too: vpslog keeps awkward text out of
those, but a store edited with other tools may hold anything."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import days_ago, open_db
from vpslog.core import Program
from vpslog.curriculum import Catalog
from vpslog.deid import GUARDED
from vpslog.export import load_settings, plan
from vpslog.store.sql import plain_cells
from vpslog.tables import TABLES

AWKWARD = ["=SUM(A1:A9)", "a,\x00b", "=x\x00,y", "+1 555 0100", "-5 min late", "@library", "\tindented", "\rreturn", "\nnew line",
           "'quoted already", "''=x", 'said "fine", then left', "line one\r\nline two", "a,b", "é café ☕ עברית",
           "bell\x07 and del\x7f", "\x1b[31mred", "  padded  ", "plain"]
TEXT = st.one_of(st.none(), st.sampled_from(AWKWARD),
                 st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1,
                         max_size=12))


def _expected_cell(kind: str, value, row: dict, units) -> str:
    """One cell by the codebook's rules, computed here independently of the SQL that builds it."""
    if kind == "units":
        per, round_up, types = units
        return str(row["minutes"] // per + (row["minutes"] % per >= round_up) if row["type"] in types else 0)
    if value is None:
        return ""
    if isinstance(value, str):  # free text, or a code or id as another tool wrote it
        value = value.split("\x00", 1)[0]  # a NUL (never stored by vpslog) ends the cell
        guarded = value.startswith(GUARDED)
        if guarded or any(c in value for c in '",\r\n'):
            return '"' + ("'" if guarded else "") + value.replace('"', '""') + '"'
    return str(value)


FILLED = st.one_of(st.sampled_from(AWKWARD), st.sampled_from(["P-0001", "PS1", "P-0002", "phone", "hope;resume"]),
                   st.sampled_from(['"x"', '"x', 'x"', '",', ',"', "a,b", '\n"', "\x02", "\x03", 'x,\x00"=1', "\x00=2"]),
                   st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1,
                           max_size=12))
"""A text cell every session fills (participant_id, entered_by, mode, components): vpslog's checks
keep awkward ones out, but a store written by other tools, or an older vpslog, may hold anything:
quotes that would pass for a quoted cell, commas and line breaks that would shift the cells."""


def _sessions_as_written(db, rows, rowids=None) -> list[dict]:
    """Write `rows` (participant_id, entered_by, location, note, void_reason, type, kept, and
    optionally mode and components) as another tool would (raw SQL, foreign keys off, no audit; at
    `rowids` if given), removing those not kept afterwards so that the row ids have gaps; the rows
    left, in storage order."""
    conn = open_db(db)  # as the sqlite3 shell (or SQLCipher's) gives it: foreign keys off
    with conn:
        conn.execute("DELETE FROM session")
        for n, (participant, entered_by, location, note, void_reason, kind, _, *coded) in enumerate(rows):
            mode, components = coded or ("phone", "hope;resume")
            conn.execute(
                "INSERT INTO session (rowid, id, participant_id, specialist_id, date, minutes, type, mode, location, "
                "components, supports, note, entered_at, entered_by, voided, void_reason) "
                "VALUES (?, ?, ?, 'PS1', ?, ?, ?, ?, ?, ?, '', ?, ?, ?, ?, ?)",
                (rowids[n] if rowids else None, f"{n:032x}", participant, days_ago(5 + n % 3), 15 + n * 7, kind,
                 mode, location, components, note, f"{days_ago(4)}T10:00:00Z", entered_by,
                 int(void_reason is not None), void_reason))
        conn.executemany("DELETE FROM session WHERE id = ?", [(f"{n:032x}",) for n, row in enumerate(rows) if not row[-1]])
        cursor = conn.execute("SELECT * FROM session ORDER BY rowid")
        names = [c[0] for c in cursor.description]
        written = [dict(zip(names, values)) for values in cursor]
    conn.close()
    return written


def _expected_export(rows: list[dict]) -> str:
    catalog = Catalog()
    settings_ = load_settings(catalog)
    columns = plan(TABLES["sessions"], catalog, settings_, deidentify=False, wide=False)
    units = (settings_.minutes_per_unit, settings_.round_up_from, settings_.unit_types)
    return "\n".join([",".join(column.name for column, _, _ in columns)] + [
        ",".join(_expected_cell(kind, row.get(argument) if isinstance(argument, str) else None, row, units)
                 for _, kind, argument in columns) for row in rows]) + "\n"


@pytest.mark.both_stores  # SQLCipher brings its own SQLite (3.51 here): the lines' order must hold there too
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(FILLED, FILLED, TEXT, TEXT, TEXT, st.sampled_from(["individual", "group", "no-show"]),
                          st.booleans(), FILLED, FILLED), min_size=1, max_size=8), st.integers(1, 4))
def test_a_sessions_export_is_byte_for_byte_what_the_rules_give(cli, program_db, texts, batch):
    rows = _sessions_as_written(program_db, texts)
    expected = _expected_export(rows)
    assert cli.ok("export", "sessions", "--out", "-").stdout_bytes == expected.encode("utf-8")
    # the lines come in batches (2,000 lines at most from the CLI): any batch size gives the same lines
    batches = _batches(program_db, batch)
    assert all(count == batch for _, count in batches[:-1]) and sum(count for _, count in batches) == len(rows)
    assert "".join(text + "\n" for text, _ in batches) == expected.split("\n", 1)[1]


def _batches(db, batch: int, longest: int | None = None) -> list[tuple[str, int]]:
    """The sessions export's batches as the store gives them (with SQLite's longest string `longest`)."""
    prog = Program.open(db)
    try:
        if longest:
            prog.store.conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, longest)
        catalog = prog.catalog
        cells = [(kind, argument) for _, kind, argument in plan(TABLES["sessions"], catalog, load_settings(catalog),
                                                                deidentify=False, wide=False)]
        return list(prog.store.export_lines("session", cells, participant_column="participant_id",
                                            date_column="date", batch=batch))
    finally:
        prog.close()


@pytest.mark.both_stores
def test_rows_at_the_ends_of_the_rowid_range_are_exported(cli, program_db):
    """Rows are read in rowid order from the smallest rowid SQLite allows to the largest (another
    tool may store rows anywhere in that range): none is left out, whatever the batch size."""
    ends = [-(1 << 63), -5, 0, 7, (1 << 63) - 1]
    rows = _sessions_as_written(program_db, [("P-0001", "PS1", None, f"at {rowid}", None, "individual", True)
                                             for rowid in ends], rowids=ends)
    expected = _expected_export(rows)
    assert cli.ok("export", "sessions", "--out", "-").stdout == expected and expected.count("\n") == 6
    for batch in (1, 2, 5, 6):
        assert "".join(text + "\n" for text, _ in _batches(program_db, batch)) == expected.split("\n", 1)[1]


def test_a_batch_longer_than_sqlites_longest_string_goes_line_by_line(cli, program_db):
    """A batch's lines are joined by SQLite, in one string; when they would be longer than its
    longest string (a billion bytes by default; here 6,000), that batch comes line by line."""
    rows = _sessions_as_written(program_db, [("P-0001", "PS1", None, "é" * 1500 if n % 2 else "short", None,
                                              "individual", True) for n in range(9)])
    batches = _batches(program_db, 4, longest=6_000)
    assert "".join(text + "\n" for text, _ in batches) == _expected_export(rows).split("\n", 1)[1]
    assert [count for _, count in batches] == [1, 1, 1, 1, 1, 1, 1, 1, 1]
    assert [count for _, count in _batches(program_db, 4)] == [4, 4, 1]


CLEAN = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC0123456789-;:.TZ", max_size=10).filter(
    lambda value: not value.startswith("-"))
"""A code, id, date or time as vpslog writes it: nothing the guard would change."""


@settings(max_examples=300)
@given(st.lists(st.booleans(), min_size=1, max_size=6), st.data())
def test_plain_cells_pass_only_when_the_guard_would_change_nothing(free, data):
    """The check behind the fast export: lines built with the plain cells as stored and each free-text
    cell that needed quotes between sentinels are either exactly the lines with every cell guarded, or
    refused (and then built that way); a store that only vpslog wrote is never refused."""
    sentinel = "\x02" + data.draw(st.text("0123456789abcdef", min_size=16, max_size=16)) + "\x03"
    values = st.one_of(st.none(), CLEAN, FILLED, TEXT, st.integers(0, 480))
    rows = data.draw(st.lists(st.lists(values, min_size=len(free), max_size=len(free)), min_size=1, max_size=5))

    def fast(value, is_free):
        if isinstance(value, str):
            value = value.split("\x00", 1)[0]  # printf ends a plain cell at a NUL; SQL cuts a free one there
        guarded = _expected_cell("text", value, {}, None)
        if value is None or not isinstance(value, str) or not is_free or guarded == value:
            return "" if value is None else str(value)
        return sentinel + guarded + sentinel

    built = "\n".join(",".join(fast(value, f) for value, f in zip(row, free)) for row in rows)
    guarded = "\n".join(",".join(_expected_cell("text", value, {}, None) for value in row) for row in rows)
    checked = plain_cells(built, len(free), len(rows), sentinel)
    assert checked in (None, guarded)
    clean = all(not isinstance(value, str) or f or _expected_cell("text", value, {}, None) == value
                for row in rows for value, f in zip(row, free))
    if clean:
        assert checked == guarded


def test_long_notes_make_smaller_batches_so_memory_stays_flat(cli, program_db, monkeypatch):
    """A batch holds about BATCH_TEXT characters of lines, not a fixed number of lines: 2,000 lines of
    long notes would be hundreds of megabytes at once. The lines are the same whatever the batches."""
    import vpslog.store.research as research

    monkeypatch.setattr(research, "BATCH_TEXT", 4_000)
    long = [("P-0001", "PS1", None, "long note " * 100 if n % 3 else "short", None, "individual", True) for n in range(20)]
    short = [("P-0001", "PS1", None, "short", None, "individual", True)] * 26
    rows = _sessions_as_written(program_db, long + short + long)
    batches = _batches(program_db, 20)
    assert "".join(text + "\n" for text, _ in batches) == _expected_export(rows).split("\n", 1)[1]
    counts = [count for _, count in batches]
    assert sum(counts) == 66 and max(counts) <= 20 and len(counts) > 3, [(c, len(t)) for t, c in batches]
    assert all(later <= 2 * earlier for earlier, later in zip(counts, counts[1:]))  # long after short: not all at once
    assert all(len(text) <= 2 * 4_000 + 1_200 for text, _ in batches[1:3]), [(c, len(t)) for t, c in batches]
