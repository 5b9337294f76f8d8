"""`vpslog export` writes the same bytes whatever is done to make it faster: each line of a
sessions export, on a store with awkward text (formulas, quotes, line breaks, control
characters, unicode), equals the line the documented rules give (codebook: a text cell that
starts with a formula trigger or `'` gets a `'` and quotes; one holding a comma, a double
quote or a line break is quoted, its quotes doubled; an empty value is an empty cell)."""

from __future__ import annotations

import sqlite3

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import days_ago
from vpslog.curriculum import Catalog
from vpslog.deid import GUARDED
from vpslog.export import load_settings, plan
from vpslog.tables import TABLES

AWKWARD = ["=SUM(A1:A9)", "+1 555 0100", "-5 min late", "@library", "\tindented", "\rreturn", "\nnew line",
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
    if kind == "text":
        guarded = value.startswith(GUARDED)
        if guarded or any(c in value for c in '",\r\n'):
            return '"' + ("'" if guarded else "") + value.replace('"', '""') + '"'
    return str(value)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(TEXT, TEXT, TEXT), min_size=1, max_size=8))
def test_a_sessions_export_is_byte_for_byte_what_the_rules_give(cli, program_db, texts):
    conn = sqlite3.connect(program_db)
    with conn:
        conn.execute("DELETE FROM session")  # rows written as any store may hold them (no audit needed here)
        for n, (location, note, void_reason) in enumerate(texts):
            conn.execute(
                "INSERT INTO session (id, participant_id, specialist_id, date, minutes, type, mode, location, "
                "components, supports, note, entered_at, entered_by, voided, void_reason) "
                "VALUES (?, 'P-0001', 'PS1', ?, ?, 'individual', 'phone', ?, 'hope;resume', '', ?, ?, 'PS1', ?, ?)",
                (f"{n:032x}", days_ago(5), 15 + n * 7, location, note, f"{days_ago(4)}T10:00:00Z",
                 int(void_reason is not None), void_reason))
        rows = [dict(zip([c[0] for c in cursor.description], values))
                for cursor in [conn.execute("SELECT * FROM session ORDER BY rowid")] for values in cursor]
    conn.close()
    catalog = Catalog()
    settings_ = load_settings(catalog)
    columns = plan(TABLES["sessions"], catalog, settings_, deidentify=False, wide=False)
    units = (settings_.minutes_per_unit, settings_.round_up_from, settings_.unit_types)
    expected = "\n".join([",".join(column.name for column, _, _ in columns)] + [
        ",".join(_expected_cell(kind, row.get(argument) if isinstance(argument, str) else None, row, units)
                 for _, kind, argument in columns) for row in rows]) + "\n"
    assert cli.ok("export", "sessions", "--out", "-").stdout_bytes == expected.encode("utf-8")
