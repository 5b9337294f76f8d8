"""The prompted form of `vpslog log`: each field in turn, with the accepted
choices shown, re-asking until the answer is understood; the date is checked
against the participant at its prompt, and a summary is confirmed before saving.

Nothing typed is read as rich markup; end of input (Ctrl-D) ends the command
with nothing logged.
"""

from __future__ import annotations

from collections.abc import Callable

from vpslog.errors import InputError
from vpslog.parsing import format_duration, parse_date, parse_minutes, resolve_code, resolve_codes


def ask_session(prog, participant: str | None, fields: dict) -> tuple[str, dict]:
    from rich.console import Console
    from rich.prompt import Confirm, Prompt
    from rich.text import Text

    console = Console(highlight=False)

    def ask(label: str, parse: Callable[[str], object], default: str | None = None, hint: str = ""):
        if hint:
            console.print(Text(hint, style="dim"))
        while True:
            answer = _read(f"the {label} prompt", lambda: Prompt.ask(label, default=default, console=console,
                                                      show_default=bool(default)))
            try:
                return parse(answer or "")
            except InputError as exc:
                console.print(Text(str(exc), style="red"))

    def session_date(answer: str):
        day = parse_date(answer, prog.today)
        prog.check_session_date(person, day)
        return day

    codes = prog.catalog.codes
    active = [row["id"] for row in prog.store.participants(status="active")]
    person = ask("Participant", prog.participant, participant,
                 hint=f"active: {', '.join(active[:12])}{' ...' if len(active) > 12 else ''}")
    minutes = fields.get("minutes")
    fields["minutes"] = ask("Duration", parse_minutes, format_duration(minutes) if minutes else "45m",
                            hint="45, 45m, 1h, 1h15m or 1:15")
    fields["date"] = ask("Date", session_date, fields["date"].isoformat(),
                         hint="today, yesterday, monday, -3d or YYYY-MM-DD")
    fields["type"] = ask("Type", lambda a: resolve_code(a, codes("session_type"), "session type"),
                         fields["type"], hint=" / ".join(codes("session_type")))
    fields["mode"] = ask("Mode", lambda a: resolve_code(a, codes("mode"), "mode"),
                         fields["mode"], hint=" / ".join(codes("mode")))
    if fields["type"] not in prog.catalog.delivered_types and {"components", "supports", "phase"} & fields.keys():
        for content in ("components", "supports", "phase"):  # given as options, then the type said no-show
            fields.pop(content, None)
        console.print(Text(f"a {fields['type']} records no content: the components, support types and phase "
                           "given are left out", style="dim"))
    if fields["type"] in prog.catalog.delivered_types:  # a no-show records no content
        fields["components"] = ask("Components", lambda a: resolve_codes([a], codes("component"), "component"),
                                   ",".join(fields.get("components", ())) or None,
                                   hint="comma list, any unique prefix: " + ", ".join(codes("component")))
        fields["supports"] = ask("Support types", lambda a: resolve_codes([a], codes("support_type"), "support type"),
                                 ",".join(fields.get("supports", ())) or None,
                                 hint="comma list: " + ", ".join(codes("support_type")))
        fields["phase"] = ask("Phase", lambda a: resolve_code(a, codes("phase"), "phase") if a.strip() else None,
                              fields.get("phase"), hint=" / ".join(codes("phase")) + " (blank for none)")
    fields["note"] = ask("Note", lambda a: a.strip() or None, None, hint="optional, kept private") or fields.get("note")
    console.print(Text(summary(person["id"], fields)))
    if not _read("the summary", lambda: Confirm.ask("Save this session?", default=True, console=console)):
        raise InputError("not saved; nothing was logged")
    return person["id"], fields


def summary(participant: str, fields: dict) -> str:
    """The session about to be saved, in one line; the note is said to be there, never shown."""
    content = [", ".join(fields.get(key) or ()) for key in ("components", "supports")]
    parts = [participant, fields["date"].isoformat(), format_duration(fields["minutes"]), fields["type"],
             fields["mode"], f"specialist {fields.get('specialist_id') or '(none set)'}",
             *(f"{label}: {text}" for label, text in zip(("components", "support types"), content) if text),
             *([f"phase: {fields['phase']}"] if fields.get("phase") else []),
             *(["with a note"] if fields.get("note") else [])]
    return "to save: " + "; ".join(parts)


def _read(where: str, prompt: Callable[[], object]):
    """One answer; the end of input, or bytes that are not UTF-8, end the command with nothing logged."""
    try:
        answer = prompt()
        if isinstance(answer, str):
            answer.encode("utf-8")  # standard input decodes bad bytes as lone surrogates, which no store takes
        return answer
    except EOFError:
        raise InputError(f"input ended at {where}; nothing was logged") from None
    except (UnicodeDecodeError, UnicodeEncodeError):
        raise InputError(f"the answer at {where} is not valid UTF-8 text; nothing was logged") from None
