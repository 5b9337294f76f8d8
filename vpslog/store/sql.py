"""SQL fragments the store builds queries from (pure string functions), and the check of the
CSV lines that the export's fragments build."""

from __future__ import annotations

from vpslog.deid import GUARDED


def day(column: str) -> str:
    """SQL for a date column as a proleptic ordinal, Python's `date.toordinal()`."""
    return f"CAST(julianday({column}) - 1721424.5 AS INTEGER)"


def where(conditions: dict[str, object], prefix: str = " WHERE ") -> tuple[str, list]:
    """A WHERE clause from `{"col = ?": value}`; None values are left out, and
    a condition without a placeholder is included when its value is true. `prefix=" AND "`: the
    same conditions to follow others."""
    parts, params = [], []
    for condition, value in conditions.items():
        if value is None or value is False:
            continue
        parts.append(condition)
        if "?" in condition:
            params.append(value)
    return (prefix + " AND ".join(parts) if parts else ""), params


GUARDED_GLOB = "[" + "".join(c for c in GUARDED if c != "-") + "-]*"  # `-` last: a range elsewhere
"""GLOB: a cell starting with a formula trigger, or with the guard `'` itself (so import can undo it)."""
QUOTED_GLOB = '*[",\r\n]*'
"""GLOB: a cell that must be quoted in CSV."""


def _shift(row: str = "dp") -> str:
    """The participant's date shift (`row`: their temp.deid_participant row), as a date modifier."""
    return f"'-' || {row}.shift || ' days'"


def shifted_day(column: str) -> str:
    """SQL for the day of a date or date-time column moved back by its participant's shift."""
    return f"date({column}, {_shift()})"


def _day_moment(day: str) -> str:
    """A date-time of a de-identified export that is no participant's: its day only. A shift of whole
    days keeps the time of day, and a real time written in the same sitting (a supervision, a review
    signed) has the same: the pair gave a participant's offset to the day."""
    return f"strftime('%Y-%m-%dT00:00:00Z', {day})"


def ranks(plan: list[tuple[str, object]], participant_column: str) -> list[str]:
    """The ranks a de-identified plan reads (`_rank_<column>`, `_rank_order`), as SQL over the whole
    table (u, its participant's shift du): the export ranks before it filters, so an export filtered by
    date or arm gives each row the value an unfiltered one does (two exports of one store import
    together). A date-time's rank: among its participant's of that day, from 0; an allocation's: its
    order within the site on the shifted timeline."""
    found = []
    for kind, argument in plan:
        if kind == "shift_datetime":
            found.append(f'row_number() OVER (PARTITION BY u."{participant_column}", date(u."{argument}") '
                         f'ORDER BY u."{argument}", u.id) - 1 AS "_rank_{argument}"')
        elif kind == "shifted_rank":
            partition, moment, record = (f'u."{name}"' for name in argument)
            shifted = f"strftime('%Y-%m-%dT%H:%M:%SZ', {moment}, {_shift('du')})"
            found.append(f'row_number() OVER (PARTITION BY {partition} ORDER BY {shifted}, '
                         f'{_pseudonym("record", record)}) AS "_rank_order"')
    return found


def _shifted_ordinal_moment(column: str, name: str) -> str:
    """A participant's date-time, de-identified: its shifted day, and as many seconds as entries of
    theirs came before it that day (`ranks`), so their order stays (fidelity reads a day's sessions
    in the order they were entered) and no time of day is left to match."""
    return f"strftime('%Y-%m-%dT%H:%M:%SZ', {shifted_day(column)}, '+' || t.\"_rank_{name}\" || ' seconds')"


def _pseudonym(kind: str, column: str) -> str:
    return f"(SELECT pseudonym FROM temp.deid_code WHERE kind = '{kind}' AND value = {column})"


def _text(value: str, sentinel: str) -> str:
    """SQL for a text cell of `value` (text without NUL): quoted when it needs it, `'` before a trigger."""
    guarded = f"{value} GLOB '{GUARDED_GLOB.replace(chr(39), chr(39) * 2)}'"
    return (f"CASE WHEN {guarded} OR {value} GLOB '{QUOTED_GLOB}' THEN '{sentinel}\"' || "
            f"CASE WHEN {guarded} THEN '''' ELSE '' END || replace({value}, '\"', '\"\"') || '\"{sentinel}' "
            f"ELSE {value} END")


def export_cell(kind: str, argument, sentinel: str = "") -> str:
    """The SQL for one CSV cell of an export plan (see Store.export_lines); NULL prints as empty.
    `sentinel` is written before and after a text cell that needed quotes (see `plain_cells`)."""
    column = f't."{argument}"' if isinstance(argument, str) else None
    if kind == "text":
        # NULL first: most free text is empty, and two GLOBs cost more than the test. A NUL (which vpslog
        # never stores) ends the cell, as printf ends a plain cell there; the closing quote was lost after it.
        cut = f"substr({column}, 1, instr({column}, char(0)) - 1)"
        return (f"CASE WHEN {column} IS NULL THEN NULL WHEN instr({column}, char(0)) THEN {_text(cut, sentinel)} "
                f"ELSE {_text(column, sentinel)} END")
    if kind == "plain":
        return column
    if kind == "any":  # a plain cell whatever the store holds: a number as it is, anything else as text
        return f"CASE WHEN typeof({column}) IN ('integer', 'real') THEN {column} ELSE {export_cell('text', argument)} END"
    if kind == "participant":
        return "dp.pseudonym"
    if kind == "pseudonym":
        code, name = argument
        return _pseudonym(code, f't."{name}"')
    if kind == "withheld":
        return f"CASE WHEN coalesce({column}, '') = '' THEN NULL ELSE 'withheld' END"
    if kind == "shift_date":
        return shifted_day(column)
    if kind == "shift_datetime":
        return _shifted_ordinal_moment(column, argument)
    if kind == "day_datetime":
        return _day_moment(column)
    if kind == "through_day":  # an observation: the day of the session it is of, shifted
        return _day_moment(shifted_day(f'(SELECT date FROM "{argument}" WHERE id = t."{argument}_id")'))
    if kind == "shifted_rank":  # an allocation's order within its site (`ranks`)
        return 't."_rank_order"'
    if kind == "age":
        name, above = argument
        return f"CASE WHEN t.\"{name}\" > {int(above)} THEN {int(above) + 1} ELSE t.\"{name}\" END"
    if kind == "units":
        per, round_up, types = int(argument[0]), int(argument[1]), argument[2]
        counted = " OR ".join("t.type = '" + code.replace("'", "''") + "'" for code in types) or "0"  # faster than IN
        return f"CASE WHEN {counted} THEN t.minutes / {per} + (t.minutes % {per} >= {round_up}) ELSE 0 END"
    if kind == "flag":
        return f"(instr(';' || t.components || ';', ';{argument.replace(chr(39), chr(39) * 2)};') > 0)"
    raise ValueError(f"unknown export cell kind {kind!r}")


_CELL_STARTS = str.maketrans(dict.fromkeys((c for c in GUARDED if c not in "\r\n"), "=") | {"\n": ","})
"""A character that has a cell guarded (CR aside) becomes `=`, and a line break a comma: a cell that
would need the guard then shows as `,=`, or as `=` at the very start."""


def plain_cells(text: str, cells: int, lines: int, sentinel: str) -> str | None:
    """`text` without its sentinels: `lines` lines of `cells` cells, built with the plain cells as
    stored and `sentinel` around each text cell that needed quotes. None unless every cell outside
    the sentinels is one the guard leaves as it is (no double quote, comma, CR or LF, no formula
    trigger or `'` first), as the codes, ids, dates and numbers of a store that only vpslog wrote are;
    the lines are then built again with every cell guarded, so the guard holds whatever the store
    holds. The sentinel is random for each export: no cell in the store can pass for a guarded one."""
    if sentinel in text:
        parts = text.split(sentinel)
        if len(parts) % 2 == 0:
            return None
        plain, text = "".join(parts[::2]), "".join(parts)
    else:
        plain = text
    if '"' in plain or "\r" in plain or plain.count("\n") != lines - 1 or plain.count(",") != (cells - 1) * lines:
        return None
    starts = plain.translate(_CELL_STARTS)
    return None if starts.startswith("=") or ",=" in starts else text
