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


def _changes(prog, *, duration=None, date=None, mode=None, type=None, codes=None, support=None,
             phase=None, note=None, edit=False, specialist=None, clinical=None, at=None, location=None) -> dict:
    """The given options as session fields, with typed text parsed and codes resolved."""
    from datetime import time

    from vpslog.errors import InputError
    from vpslog.parsing import parse_date, parse_duration, resolve_code, resolve_codes

    codes_of = prog.catalog.codes
    fields = {
        "minutes": parse_duration(duration) if duration is not None else None,
        "date": parse_date(date, prog.today) if date is not None else None,
        "mode": resolve_code(mode, codes_of("mode"), "mode") if mode else None,
        "type": resolve_code(type, codes_of("session_type"), "session type") if type else None,
        "components": resolve_codes(codes, codes_of("component"), "component") if codes else None,
        "supports": resolve_codes(support, codes_of("support_type"), "support type") if support else None,
        "phase": resolve_code(phase, codes_of("phase"), "phase") if phase else None,
        "note": _edit_note(note) if edit else note,
        "specialist_id": specialist,
        "clinical": clinical,
        "location": location,
    }
    if at is not None:
        try:
            fields["start_time"] = time.fromisoformat(at)
        except ValueError:
            raise InputError(f"start time {at!r} not understood: use HH:MM, e.g. 14:30") from None
    return {k: v for k, v in fields.items() if v is not None}


def _edit_note(initial: str | None) -> str | None:
    """Open $VISUAL or $EDITOR (else vi) on a private temporary file and return what was written;
    an editor that cannot start or fails, or a note that is not UTF-8, saves nothing."""
    import os
    import shlex
    import subprocess
    import tempfile

    from vpslog.errors import InputError

    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    try:
        command = shlex.split(editor) or ["vi"]
    except ValueError:
        raise InputError(f"the editor command {editor!r} cannot be read (unbalanced quotes); nothing was saved") from None
    handle, name = tempfile.mkstemp(prefix="vpslog-note-", suffix=".txt")  # created 0600
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(initial or "")
        try:
            status = subprocess.call([*command, name])
        except OSError as exc:
            raise InputError(f"the editor ({editor}) could not be started: {exc.strerror}; set $EDITOR, or give "
                             "the note with -n; nothing was saved") from None
        if status != 0:
            raise InputError(f"the editor ({editor}) exited with an error; nothing was saved")
        try:
            with open(name, encoding="utf-8") as file:
                return file.read().strip() or None
        except UnicodeDecodeError:
            raise InputError("the note is not valid UTF-8 text; nothing was saved") from None
    finally:
        os.unlink(name)


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
    from vpslog import config
    from vpslog.errors import InputError

    settings = config.load()
    with program(ctx) as prog:
        fields = _changes(prog, duration=duration, date=date, mode=mode, type=type, codes=codes,
                          support=support, phase=phase, note=note, edit=edit, specialist=specialist,
                          clinical=clinical, at=at, location=location)
        fields.setdefault("specialist_id", settings.get("specialist"))
        fields.setdefault("mode", settings.get("mode") or prog.catalog.codes("mode")[0])
        fields.setdefault("type", settings.get("type") or prog.catalog.codes("session_type")[0])
        fields.setdefault("date", prog.today)
        if interactive or participant is None:
            from vpslog.commands.prompts import ask_session

            participant, fields = ask_session(prog, participant, fields)
        if "minutes" not in fields:
            raise InputError("the duration is missing: give it after the participant (45, 45m, 1h15m) or use -i")
        session = prog.log_session(
            participant, specialist=fields.pop("specialist_id"), minutes=fields.pop("minutes"),
            on=fields.pop("date"), **fields)
        warnings = prog.advisories(session)
    say(f"logged session {session.id[:8]}: {session.participant_id} {session.date} "
        f"{session.minutes} min {session.type} {session.mode}")
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)


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
    with program(ctx) as prog:
        if edit and note is None:
            note = prog.session(session_id)["note"]
        changes = _changes(prog, duration=duration, date=date, mode=mode, type=type, codes=codes,
                           support=support, phase=phase, note=note, edit=edit, specialist=specialist,
                           clinical=clinical, at=at, location=location)
        if participant is not None:
            changes["participant_id"] = participant
        session = prog.amend_session(session_id, changes, reason)
    say(f"amended session {session.id[:8]}")
