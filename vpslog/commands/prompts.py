"""The prompted form of `vpslog log`: each field in turn, with the accepted
choices shown, re-asking until the answer is understood."""

from __future__ import annotations

from collections.abc import Callable

from vpslog.errors import InputError
from vpslog.parsing import format_duration, parse_date, parse_duration, resolve_code, resolve_codes


def ask_session(prog, participant: str | None, fields: dict) -> tuple[str, dict]:
    from rich.console import Console
    from rich.prompt import Prompt

    console = Console(highlight=False)

    def ask(label: str, parse: Callable[[str], object], default: str | None = None, hint: str = ""):
        if hint:
            console.print(f"[dim]{hint}[/dim]")
        while True:
            answer = Prompt.ask(label, default=default, console=console, show_default=bool(default))
            try:
                return parse(answer or "")
            except InputError as exc:
                console.print(f"[red]{exc}[/red]")

    codes = prog.catalog.codes
    active = [row["id"] for row in prog.store.participants(status="active")]
    participant = ask("Participant", lambda a: prog.resolve("participant", a), participant,
                      hint=f"active: {', '.join(active[:12])}{' ...' if len(active) > 12 else ''}")
    minutes = fields.get("minutes")
    fields["minutes"] = ask("Duration", parse_duration, format_duration(minutes) if minutes else "45m",
                            hint="45, 45m, 1h, 1h15m or 1:15")
    fields["date"] = ask("Date", lambda a: parse_date(a, prog.today), fields["date"].isoformat(),
                         hint="today, yesterday, monday, -3d or YYYY-MM-DD")
    fields["type"] = ask("Type", lambda a: resolve_code(a, codes("session_type"), "session type"),
                         fields["type"], hint=" / ".join(codes("session_type")))
    fields["mode"] = ask("Mode", lambda a: resolve_code(a, codes("mode"), "mode"),
                         fields["mode"], hint=" / ".join(codes("mode")))
    fields["components"] = ask("Components", lambda a: resolve_codes([a], codes("component"), "component"),
                               ",".join(fields.get("components", ())) or None,
                               hint="comma list, any unique prefix: " + ", ".join(codes("component")))
    fields["supports"] = ask("Support types", lambda a: resolve_codes([a], codes("support_type"), "support type"),
                             ",".join(fields.get("supports", ())) or None,
                             hint="comma list: " + ", ".join(codes("support_type")))
    fields["phase"] = ask("Phase", lambda a: resolve_code(a, codes("phase"), "phase") if a.strip() else None,
                          fields.get("phase"), hint=" / ".join(codes("phase")) + " (blank for none)")
    fields["note"] = ask("Note", lambda a: a.strip() or None, None, hint="optional, kept private") or fields.get("note")
    return participant, fields
