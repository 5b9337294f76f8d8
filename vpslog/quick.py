"""Quick entry: plain one-line `log`, `amend` and `void` without typer (the console script `vpslog:main`
runs it first).

typer and pydantic take about 100 ms to start and parse a command line, more than Watson takes for
a whole entry. So the command line is read here first: `vpslog [--db PATH] log P DURATION`, `amend
ID [DURATION] --reason R` or `void ID --reason R`, with the value options and flags of those
commands, runs through the same code as the typer commands (vpslog.entry, core.Program, the store),
the session validated by the checks compiled from its model (vpslog.modelchecks), with the same
output, messages and exit codes. Anything else (no participant, -i, -e, --help, --version,
--debug, `--`, an unknown or incomplete option, completion, any other command) goes to typer
unchanged; `vpslog --debug log ...` takes the full path."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from vpslog.core import Program
from vpslog.errors import shown

SESSION_OPTIONS = {
    "-d": "date", "--date": "date", "-m": "mode", "--mode": "mode", "-t": "type", "--type": "type",
    "-c": "codes", "--codes": "codes", "-s": "support", "--support": "support", "-p": "phase", "--phase": "phase",
    "-n": "note", "--note": "note", "--specialist": "specialist", "--at": "at", "--location": "location",
}
"""The options of `vpslog log` and `vpslog amend` (vpslog/commands/log.py) that take a value."""
COMMANDS = {  # (fewest and most arguments, options that take a value, whether the flags apply)
    "log": (1, 2, SESSION_OPTIONS, True),
    "amend": (1, 2, {**SESSION_OPTIONS, "--reason": "reason", "--participant": "participant"}, True),
    "void": (1, 1, {"--reason": "reason"}, False),
}
REQUIRED = {"amend": "reason", "void": "reason"}
REPEATED = {"codes", "support"}
FLAGS = {"--clinical": ("clinical", True), "--no-clinical": ("clinical", False)}
INTERRUPTED = 130
"""The exit code, with nothing printed, that typer gives a command stopped by Ctrl-C."""


class QuickProgram(Program):
    """The program, with sessions validated by the checks compiled from the Session model first."""

    def build_session(self, data: dict):
        from vpslog import config, modelchecks

        checks = modelchecks.checks_for("session", config.config_dir() / "cache")
        checked = modelchecks.accepted(checks, data, {"catalog": self.catalog})
        return checked if checked is not None else super().build_session(data)


def parse(args: list[str]) -> tuple[Path | None, str, list[str], dict] | None:
    """(--db, the command, its arguments, its options) when quick entry reads `args` exactly as
    typer would; None for anything it leaves to typer."""
    from vpslog.errors import InputError
    from vpslog.parsing import refuse_undecodable

    if "_VPSLOG_COMPLETE" in os.environ:
        return None
    try:
        refuse_undecodable(args)
    except InputError:
        return None  # typer refuses it, with its message
    db, at = None, 0
    while at < len(args) and args[at] not in COMMANDS:  # the group's options, before the command
        if args[at] == "--db" and at + 1 < len(args):
            db, at = args[at + 1], at + 2
        elif args[at].startswith("--db="):
            db, at = args[at][len("--db="):], at + 1
        else:
            return None
    if at == len(args) or db == "":
        return None
    command = args[at]
    fewest, most, value_options, flags = COMMANDS[command]
    options: dict = {}
    positional = []
    rest = iter(args[at + 1:])
    for arg in rest:
        if arg == "--":
            return None
        if len(arg) < 2 or arg[0] != "-":
            positional.append(arg)
            continue
        if arg.startswith("--"):
            name, equals, value = arg.partition("=")
            if flags and name in FLAGS and not equals:
                key, flag = FLAGS[name]
                options[key] = flag
                continue
            attached = value if equals else None
        else:
            name, attached = arg[:2], arg[2:] or None  # click reads -cvalue (even -c=value) as -c with the rest
        if name not in value_options:
            return None
        value = attached if attached is not None else next(rest, None)
        if value is None:
            return None
        key = value_options[name]
        if key in REPEATED:
            options.setdefault(key, []).append(value)
        else:
            options[key] = value
    required = REQUIRED.get(command)
    if not fewest <= len(positional) <= most or (required and required not in options):
        return None
    return (Path(db) if db is not None else None), command, positional, options


def run(args: list[str], out=None, err=None) -> int | None:
    """Run the `log`, `amend` or `void` that `args` describe, printing as its typer command does; the
    exit code, or None when the command line is typer's to read."""
    from vpslog import config
    from vpslog.errors import describe_failure, error_line

    parsed = parse(args)
    if parsed is None:
        return None
    out, err = out or sys.stdout, err or sys.stderr
    db, command, positional, options = parsed
    try:
        settings = config.load() if command == "log" else None  # as the typer command reads it, first
        prog = QuickProgram.open(config.db_path(db))
        try:
            for notice in prog.notices():
                echo(f"warning: {notice}", err)
            line, warnings = _run(prog, settings, command, positional, options)
        finally:
            prog.close()
        echo(line, out)
        for warning in warnings:
            echo(f"warning: {warning}", err)
    except BrokenPipeError:
        quiet_stdout()
    except KeyboardInterrupt:  # Ctrl-C, e.g. while waiting for a lock: the store rolled back
        return INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - reported as the typer CLI reports it
        message, code = describe_failure(exc)
        echo(error_line(message), err)
        return code
    return 0


def _run(prog, settings: dict | None, command: str, positional: list[str], options: dict) -> tuple[str, list[str]]:
    """The command's work, through the same functions as its typer command: the line and the warnings."""
    from vpslog import entry

    first, *duration = positional
    if duration:
        options["duration"] = duration[0]
    if command == "log":
        return entry.log(prog, settings, first, options)
    reason = options.pop("reason")
    if command == "amend":
        participant = options.pop("participant", None)
        return entry.amend(prog, first, reason, options, participant)
    return entry.void(prog, first, reason), []


def echo(message: str, stream) -> None:
    """A line as the typer path writes it: control characters shown escaped (errors.shown), flushed, and
    in UTF-8 (characters it cannot encode replaced) where the stream says ASCII (PYTHONIOENCODING=ascii,
    the C locale), as click does where Python would fail or write `\\xe9`. No stream (started with its descriptor closed, `>&-`):
    nothing, as click writes nothing (the session was saved: exit 0, not 70)."""
    if stream is None:
        return
    message = shown(message)  # a control character is shown escaped, as on the typer path
    buffer = getattr(stream, "buffer", None)
    if buffer is not None and _ascii(getattr(stream, "encoding", None) or "ascii"):
        stream.flush()
        buffer.write((message + "\n").encode("utf-8", "replace"))
        buffer.flush()
    else:
        stream.write(message + "\n")
        stream.flush()


def _ascii(encoding: str) -> bool:
    import codecs

    try:
        return codecs.lookup(encoding).name == "ascii"
    except LookupError:
        return False


def quiet_stdout() -> None:
    """The reader went away (`vpslog ... | head`): later output goes nowhere, and the command ends well."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def main() -> None:
    """What the console script (`vpslog:main`) runs: quick entry, else the typer CLI. Ctrl-C while the
    typer CLI is still being imported ends as it does later (exit 130, no message), not with a traceback."""
    try:
        code = run(sys.argv[1:])
        if code is None:
            from vpslog.cli import run as full

            full()
    except KeyboardInterrupt:
        code = INTERRUPTED
    sys.exit(code)
