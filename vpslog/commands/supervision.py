"""`vpslog supervision log|list`: supervision meetings of peer specialists.

DURATION and -d parse exactly as in `vpslog log`; topics come from the
curriculum's `supervision_topic` list.
"""

from typing import Annotated, Optional

import typer

from vpslog.commands.common import (CodesInHelp, FormatOption, Since, Until, filtered, iso_day, parse_day, program,
                                   say, short_ids)
from vpslog.commands.log import DateOpt, Duration, Note
from vpslog.render import Format, emit

app = typer.Typer(help="Supervision meetings of peer specialists.", no_args_is_help=True)

Topics = Annotated[Optional[list[str]], typer.Option(
    "-c", "--topics", help="Supervision topics, comma list or repeated, any unique prefix: {supervision_topic}.")]


@app.command("log", cls=CodesInHelp)
def log(
    ctx: typer.Context,
    specialist: Annotated[str, typer.Argument(help="Specialist id.", show_default=False)],
    duration: Duration = None,
    date: DateOpt = None,
    supervisor: Annotated[Optional[str], typer.Option("--supervisor", help="Who supervised (required).")] = None,
    group: Annotated[bool, typer.Option("--group", help="A group meeting (default: individual).")] = False,
    topics: Topics = None,
    note: Note = None,
) -> None:
    """Log a supervision meeting: vpslog supervision log PS01 1h --supervisor "Supervisor A" -c bound"""
    from vpslog.errors import InputError
    from vpslog.parsing import parse_duration, resolve_codes

    with program(ctx) as prog:
        if duration is None:
            raise InputError("the duration is missing: give it after the specialist (45, 45m, 1h15m)")
        meeting = prog.log_supervision(
            specialist, supervisor=supervisor, minutes=parse_duration(duration),
            on=parse_day(date, prog.today) or prog.today, group=group, note=note,
            topics=resolve_codes(topics or (), prog.catalog.codes("supervision_topic"), "supervision topic"))
    say(f"logged supervision {meeting.id[:8]}: {meeting.specialist_id} {meeting.date} {meeting.minutes} min "
        f"{'group' if meeting.group else 'individual'}")


@app.command("list")
def list_(
    ctx: typer.Context,
    specialist: Annotated[Optional[str], typer.Option("--specialist")] = None,
    since: Since = None,
    until: Until = None,
    fmt: FormatOption = Format.table,
) -> None:
    """List supervision meetings, newest first."""
    from vpslog.shapes import SUPERVISION  # builds pydantic models: only when listing, never for `log`

    with program(ctx) as prog:
        rows = prog.store.supervisions(
            specialist=filtered(prog, "specialist", specialist),
            since=iso_day(since, prog.today), until=iso_day(until, prog.today))
        short = fmt is Format.table
        if short:
            rows = short_ids(prog, "supervision", rows)
    if fmt is Format.json:
        emit(SUPERVISION.records(rows), SUPERVISION.columns, fmt)
        return
    rows = [{**row, "group": bool(row["group"]),
             "topics": row["topics"].replace(";", ", ") if short else row["topics"]} for row in rows]
    emit(rows, SUPERVISION.table if short else SUPERVISION.columns, fmt, "supervision")
