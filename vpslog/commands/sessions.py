"""`vpslog sessions`, `show`, `void` and `history`."""

from typing import Annotated, Optional

import typer

from vpslog.commands.common import FormatOption, Since, Until, filtered, iso_day, program, say, short_ids
from vpslog.completion import complete_participant
from vpslog.render import Format, emit, emit_record

NARROW = ("supports", "phase", "mode", "specialist_id", "voided", "clinical", "components", "type")
"""The order in which a table too wide for the terminal leaves columns out."""


def sessions(
    ctx: typer.Context,
    participant: Annotated[Optional[str], typer.Option("--participant", autocompletion=complete_participant)] = None,
    specialist: Annotated[Optional[str], typer.Option("--specialist")] = None,
    since: Since = None,
    until: Until = None,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, max=2**63 - 1)] = None,  # SQLite's largest
    all_: Annotated[bool, typer.Option("--all", help="Include voided sessions.")] = False,
    fmt: FormatOption = Format.table,
) -> None:
    """List sessions, newest first."""
    from vpslog.shapes import SESSIONS  # builds pydantic models: only when listing, never for `log`

    with program(ctx) as prog:
        rows = prog.store.sessions(
            participant=filtered(prog, "participant", participant),
            specialist=filtered(prog, "specialist", specialist),
            since=iso_day(since, prog.today), until=iso_day(until, prog.today),
            limit=limit, include_voided=all_)
        if fmt is Format.table:
            rows = short_ids(prog, "session", rows)
    if fmt is Format.json:
        emit(SESSIONS.records(rows), SESSIONS.columns, fmt)
        return
    short = fmt is Format.table
    emit([_listed(row, short) for row in rows], SESSIONS.table if short else SESSIONS.columns, fmt, "sessions",
         drop=NARROW)


def show(ctx: typer.Context, session_id: Annotated[str, typer.Argument(metavar="ID")],
         fmt: FormatOption = Format.table) -> None:
    """One session in full, with its note."""
    with program(ctx) as prog:
        row = prog.session(session_id)
    if fmt is Format.json:  # the whole record, as session.schema.json describes it
        from vpslog.models import Session

        emit_record(Session.model_validate(row).model_dump(mode="json"), fmt)
    else:
        emit_record(_listed(row, short=fmt is Format.table) | {"note": row["note"]}, fmt, f"session {row['id'][:8]}")


def void(ctx: typer.Context, session_id: Annotated[str, typer.Argument(metavar="ID")],
         reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit trail).")]) -> None:
    """Void a wrong session: it stays in the store and its history, hidden from lists."""
    from vpslog import entry

    with program(ctx) as prog:
        line = entry.void(prog, session_id, reason)
    say(line)


def history(ctx: typer.Context, record: Annotated[str, typer.Argument(metavar="ID")],
            fmt: FormatOption = Format.table) -> None:
    """The audit history of a session, supervision or milestone (id prefix), participant, specialist or site."""
    with program(ctx) as prog:
        entries = prog.history(record)
    columns = ("seq", "at", "actor", "action", "changes", "reason")
    rows = [{**{c: e.get(c) for c in columns}, "changes": _changes(e, spaced=fmt in (Format.table, Format.markdown))}
            for e in entries]
    if fmt is Format.json:  # as schemas/history.listing.schema.json describes it
        from vpslog.shapes import HistoryEntry, as_json

        rows = as_json(HistoryEntry, rows)
    emit(rows, columns, fmt, f"history of {record}")


def _listed(row: dict, short: bool) -> dict:
    """A session as listed; `short` (a table): code lists `, `-joined, so they wrap between codes (a
    `;`-joined list is one word, which a narrow table broke inside a code)."""
    row = {**row, "clinical": bool(row["clinical"]), "voided": bool(row["voided"])}
    for key in ("components", "supports"):
        row[key] = row[key].replace(";", ", " if short else ";")
    return row


def _changes(entry: dict, spaced: bool = False) -> str:
    """`field: before -> after` for each field an audit entry touched; `spaced` (a table, for people):
    code lists `, `-joined, as `show` has them, so they wrap between codes."""
    import json

    from vpslog.tables import TABLES

    lists = {c.name for spec in TABLES.values() if spec.table == entry["tbl"] for c in spec.columns if c.is_list}

    before = json.loads(entry["before"]) if entry["before"] else {}
    after = json.loads(entry["after"]) if entry["after"] else {}
    if not before:
        return f"created ({len(after)} fields)"
    def shown(key: str, value):
        return value.replace(";", ", ") if spaced and key in lists and isinstance(value, str) else value

    return "; ".join(f"{k}: {shown(k, before.get(k))} -> {shown(k, after.get(k))}" for k in after)
