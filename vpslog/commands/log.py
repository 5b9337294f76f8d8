"""`vpslog log` (quick session entry, flags or prompts) and `vpslog amend`.

Both take the same options, defined once below; in `amend` an option that is
not given leaves that field as it was.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from vpslog.commands.common import program, say
from vpslog.completion import complete_component, complete_participant

Duration = Annotated[Optional[str], typer.Argument(help="45, 45m, 1h, 1h15m or 1:15.", show_default=False)]
DateOpt = Annotated[Optional[str], typer.Option("-d", "--date", help="today, yesterday, monday, -3d or YYYY-MM-DD.")]
Mode = Annotated[Optional[str], typer.Option("-m", "--mode", help="{mode} (any unique prefix).")]
Type = Annotated[Optional[str], typer.Option("-t", "--type", help="{session_type} (any unique prefix).")]
Codes = Annotated[Optional[list[str]], typer.Option(
    "-c", "--codes", help="Components addressed, comma list or repeated, any unique prefix: {component}.",
    autocompletion=complete_component)]
Supports = Annotated[Optional[list[str]], typer.Option(
    "-s", "--support", help="Support types given, comma list or repeated, any unique prefix: {support_type}.")]
Phase = Annotated[Optional[str], typer.Option("-p", "--phase", help="{phase} (any unique prefix).")]
Note = Annotated[Optional[str], typer.Option("-n", "--note", help="Free-text note (kept private).")]
Edit = Annotated[bool, typer.Option("-e", "--edit", help="Write the note in $EDITOR.")]
SpecialistOpt = Annotated[Optional[str], typer.Option("--specialist", help="Specialist id (default: config).")]
Clinical = Annotated[Optional[bool], typer.Option(
    "--clinical/--no-clinical", help="A clinical service was given (VPS must not; fidelity flags it).")]
At = Annotated[Optional[str], typer.Option("--at", help="Start time, HH:MM.")]
Location = Annotated[Optional[str], typer.Option("--location", help="Where the session took place.")]


def log(
    ctx: typer.Context,
    participant: Annotated[Optional[str], typer.Argument(
        help="Study code; leave out to be asked for every field.", autocompletion=complete_participant,
        show_default=False)] = None,
    duration: Duration = None,
    date: DateOpt = None,
    mode: Mode = None,
    type: Type = None,
    codes: Codes = None,
    support: Supports = None,
    phase: Phase = None,
    note: Note = None,
    edit: Edit = False,
    specialist: SpecialistOpt = None,
    clinical: Clinical = None,
    at: At = None,
    location: Location = None,
    interactive: Annotated[bool, typer.Option("-i", "--interactive", help="Ask for each field in turn.")] = False,
) -> None:
    """Log a session in one line: vpslog log P-0017 45m -c career,hope -s emotional"""
    from vpslog import config, entry

    settings = config.load()
    ask = None
    if interactive or participant is None:
        from vpslog.commands.prompts import ask_session as ask
    with program(ctx) as prog:
        line, warnings = entry.log(prog, settings, participant, dict(
            duration=duration, date=date, mode=mode, type=type, codes=codes, support=support, phase=phase,
            note=note, edit=edit, specialist=specialist, clinical=clinical, at=at, location=location), ask)
    _said(line, warnings)


def amend(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(metavar="ID", help="Session id or a unique prefix.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit trail).")],
    duration: Duration = None,
    date: DateOpt = None,
    mode: Mode = None,
    type: Type = None,
    codes: Codes = None,
    support: Supports = None,
    phase: Phase = None,
    note: Note = None,
    edit: Edit = False,
    specialist: SpecialistOpt = None,
    clinical: Clinical = None,
    at: At = None,
    location: Location = None,
    participant: Annotated[Optional[str], typer.Option("--participant", help="Move to another participant.")] = None,
) -> None:
    """Correct a session: the options given replace those fields; the reason is audited."""
    from vpslog import entry

    with program(ctx) as prog:
        line, warnings = entry.amend(prog, session_id, reason, dict(
            duration=duration, date=date, mode=mode, type=type, codes=codes, support=support, phase=phase,
            note=note, edit=edit, specialist=specialist, clinical=clinical, at=at, location=location), participant)
    _said(line, warnings)


def _said(line: str, warnings: list[str]) -> None:
    """What a log or an amendment did, then what fidelity will flag about the session (on stderr)."""
    say(line)
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)
