"""Session entry: what `vpslog log`, `amend` and `void` do with their options once parsed.

Shared by the typer commands (vpslog/commands/log.py) and quick entry (vpslog/quick.py), so both
paths apply the same rules in the same order; nothing here imports typer.
"""

from __future__ import annotations


def session_fields(prog, *, duration=None, date=None, mode=None, type=None, codes=None, support=None,
                   phase=None, note=None, specialist=None, clinical=None, at=None, location=None) -> dict:
    """The given options as session fields, with typed text parsed and codes resolved. A phase, note or
    location given empty (`-p ''`) is none: `log` records none, `amend` clears the field (an empty
    note was stored as '', and `--location ''` or `-p ''` could not clear a wrong one)."""
    from vpslog.parsing import parse_date, parse_duration, parse_time, resolve_code, resolve_codes

    blank = [name for name, text in (("phase", phase), ("note", note), ("location", location))
             if text is not None and not text.strip()]
    phase, note, location = (None if name in blank else text
                             for name, text in (("phase", phase), ("note", note), ("location", location)))
    codes_of = prog.catalog.codes
    fields = {
        "minutes": parse_duration(duration) if duration is not None else None,
        "date": parse_date(date, prog.today) if date is not None else None,
        "mode": resolve_code(mode, codes_of("mode"), "mode") if mode else None,
        "type": resolve_code(type, codes_of("session_type"), "session type") if type else None,
        "components": resolve_codes(codes, codes_of("component"), "component") if codes else None,
        "supports": resolve_codes(support, codes_of("support_type"), "support type") if support else None,
        "phase": resolve_code(phase, codes_of("phase"), "phase") if phase else None,
        "note": note,
        "specialist_id": specialist,
        "clinical": clinical,
        "location": location,
    }
    if at is not None:
        fields["start_time"] = parse_time(at)
    return {k: v for k, v in fields.items() if v is not None} | dict.fromkeys(blank)


def edit_note(initial: str | None) -> str | None:
    """Open $VISUAL or $EDITOR (else vi) on a private temporary file and return what was written;
    an editor that cannot start or fails, or a note that is not UTF-8, saves nothing."""
    import os
    import shlex
    import signal
    import subprocess
    import tempfile

    from vpslog.errors import InputError

    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    try:
        command = shlex.split(editor) or ["vi"]
    except ValueError:
        raise InputError(f"the editor command {editor!r} cannot be read (unbalanced quotes); nothing was saved") from None
    handle, name = tempfile.mkstemp(prefix="vpslog-note-", suffix=".txt")  # created 0600
    ending = [sig for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)) if sig is not None]
    previous = {sig: signal.signal(sig, _ended) for sig in ending}  # a closed terminal still removes the note
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
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ended(signum, frame) -> None:
    """SIGTERM or SIGHUP (the terminal closed) while the editor is open: end as the signal would,
    but through the `finally` that removes the note's temporary file (it stayed in /tmp, in clear)."""
    raise SystemExit(128 + signum)


def log(prog, settings: dict, participant: str | None, options: dict, ask=None) -> tuple[str, list[str]]:
    """Log one session from the options of `vpslog log` (`ask(prog, participant, fields)` prompts for
    the rest); returns the line to print and the advisory warnings."""
    from vpslog.errors import InputError

    options = dict(options)
    edit = options.pop("edit", False)
    fields = session_fields(prog, **options)
    fields.setdefault("specialist_id", settings.get("specialist"))
    fields.setdefault("mode", settings.get("mode") or prog.catalog.codes("mode")[0])
    fields.setdefault("type", settings.get("type") or prog.catalog.codes("session_type")[0])
    fields.setdefault("date", prog.today)
    if ask is not None:
        participant, fields = ask(prog, participant, fields)
    if "minutes" not in fields:
        raise InputError("the duration is missing: give it after the participant (45, 45m, 1h15m) or use -i")
    def logged():
        given = dict(fields)
        return prog.log_session(participant, specialist=given.pop("specialist_id"), minutes=given.pop("minutes"),
                                on=given.pop("date"), **given)

    if edit:  # every rule first: a note written for a session that is then refused would be lost
        with prog.rehearsal():
            logged()
        fields["note"] = edit_note(fields.get("note"))
    session = logged()
    line = (f"logged session {session.id[:8]}: {session.participant_id} {session.date} "
            f"{session.minutes} min {session.type} {session.mode}")
    return line, prog.advisories(session)


def amend(prog, session_id: str, reason: str, options: dict, participant: str | None = None) -> tuple[str, list[str]]:
    """Correct a session with the options of `vpslog amend` (only those given change); the line to print
    and the advisory warnings (as `log` gives them: a session moved to a control-arm participant)."""
    options = dict(options)
    edit = options.pop("edit", False)
    changes = session_fields(prog, **options)
    if participant is not None:
        changes["participant_id"] = participant
    if edit:  # every rule first (a voided session, a move to an exited participant), then the editor
        current = changes.get("note", prog.session(session_id)["note"])
        with prog.rehearsal():  # with a note that differs, as the edited one will
            prog.amend_session(session_id, {**changes, "note": "x" if current != "x" else "y"}, reason)
        changes["note"] = edit_note(current)
    session = prog.amend_session(session_id, changes, reason)
    return f"amended session {session.id[:8]}", prog.advisories(session)


def void(prog, session_id: str, reason: str) -> str:
    """Void a session (`vpslog void`); the line to print."""
    return f"voided session {prog.void_session(session_id, reason).id[:8]}"
