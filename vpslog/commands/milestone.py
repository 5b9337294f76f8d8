"""`vpslog milestone` and `vpslog milestones`: a participant's vocational milestones.

The kinds come from the curriculum's `milestone_kind` list (goal-set,
application, interview, job-start, ...).
"""

from typing import Annotated, Optional

import typer

from vpslog.commands.common import (FormatOption, Since, Until, filtered, iso_day, parse_day, program, say,
                                   short_ids)
from vpslog.commands.log import DateOpt
from vpslog.completion import complete_participant
from vpslog.render import Format, emit


def milestone(
    ctx: typer.Context,
    participant: Annotated[str, typer.Argument(help="Study code.", autocompletion=complete_participant,
                                               show_default=False)],
    kind: Annotated[str, typer.Argument(help="{milestone_kind} (any unique prefix).", show_default=False)],
    date: DateOpt = None,
    detail: Annotated[Optional[str], typer.Option("-n", "--detail", help="Free detail (kept private).")] = None,
) -> None:
    """Record a vocational milestone: vpslog milestone P-0017 interview -d yesterday"""
    from vpslog.parsing import resolve_code

    with program(ctx) as prog:
        kind = resolve_code(kind, prog.catalog.codes("milestone_kind"), "milestone kind")
        event = prog.log_milestone(participant, kind, on=parse_day(date, prog.today) or prog.today, detail=detail)
    say(f"logged milestone {event.id[:8]}: {event.participant_id} {event.date} {event.kind}")


def milestones(
    ctx: typer.Context,
    participant: Annotated[Optional[str], typer.Option("--participant", autocompletion=complete_participant)] = None,
    since: Since = None,
    until: Until = None,
    fmt: FormatOption = Format.table,
) -> None:
    """List vocational milestones, newest first."""
    from vpslog.shapes import MILESTONES  # builds pydantic models: only when listing, never for `log`

    with program(ctx) as prog:
        rows = prog.store.milestones(
            participant=filtered(prog, "participant", participant),
            since=iso_day(since, prog.today), until=iso_day(until, prog.today))
        if fmt is Format.table:
            rows = short_ids(prog, "milestone", rows)
    if fmt is Format.json:
        rows = MILESTONES.records(rows)
    emit(rows, MILESTONES.table if fmt is Format.table else MILESTONES.columns, fmt, "milestones")
