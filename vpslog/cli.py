"""The typer app: global options, command registration, and the one place
where errors become exit codes (see vpslog.errors for the codes)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer import _click
from typer.core import TyperGroup, TyperOption

from vpslog.errors import EXIT_REFUSED, EXIT_USAGE, VpslogError, describe_failure, error_line


class VpslogGroup(TyperGroup):
    """Reports every error as one `error:` line and its exit code; a traceback only with --debug."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """Usage errors as one line (typer draws them as a box under the usage), and arguments
        that are not UTF-8 text refused before they reach a parser or the store."""
        from vpslog.parsing import refuse_undecodable

        args = sys.argv[1:] if args is None else list(args)
        try:
            refuse_undecodable(args)
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _click.exceptions.NoArgsIsHelpError:
            code = EXIT_USAGE  # the help was printed
        except _click.ClickException as exc:
            hint = f" (see {exc.ctx.command_path} --help)" if getattr(exc, "ctx", None) else ""
            _error(f"{_usage_message(exc.format_message(), args)}{hint}")
            code = exc.exit_code
        except typer.Abort:
            typer.echo("error: aborted; nothing was written", err=True)
            code = EXIT_REFUSED
        except SystemExit as exc:  # rich exits 1 when the reader of --help leaves (`| head`): it ends
            # well, as every other output does
            if exc.code != 1 or not isinstance(exc.__context__, BrokenPipeError):
                raise
            from vpslog.quick import quiet_stdout

            quiet_stdout()
            code = 0
        except VpslogError as exc:
            _error(str(exc))
            code = exc.exit_code
        except OSError as exc:  # while --help or --version printed (a full disk: exit 74; typer's own
            # handling turns a reader gone, EPIPE, into exit 1 before it reaches here)
            if "--debug" in args:  # a command's own error, which invoke raised again for its traceback
                raise
            message, code = describe_failure(exc)
            _error(message)
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # usage errors and exits: typer reports them (exit 2 for usage)
        except BrokenPipeError:  # the reader went away (`vpslog sessions | head`): stop quietly
            from vpslog.quick import quiet_stdout

            quiet_stdout()
            raise typer.Exit(0) from None
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            message, code = describe_failure(exc)
            _error(message)
            raise typer.Exit(code) from None


def _usage_message(message: str, args: list[str]) -> str:
    """click's usage error in one line, keeping the README's promise on what was typed: extra
    arguments are not shown (a note typed without -n would be), text with a space inside is not
    shown either, and anything longer than 40 characters is cut, as every other error does
    (parsing.quoted), however the message escapes it."""
    from vpslog.parsing import quoted, spaced

    if message.startswith("Got unexpected extra argument"):
        return ("Got unexpected extra argument(s), not shown (they may be a note: a note goes after -n, "
                "in quotes)")
    typed = {*args, *(part for arg in args if arg.startswith("-")
                      for part in (*arg.partition("=")[::2], arg[2:]))}  # --opt=VALUE, -oVALUE too
    for text in sorted((text for text in typed if len(text) > 40 or spaced(text)), key=len, reverse=True):
        for form in _shown_forms(text):
            at = message.find(form[:40])
            if at >= 0:  # shown: cut, and what follows dropped where the rest is shown another way
                end = at + len(form) if message.startswith(form, at) else len(message)
                message = f"{message[:at]}{quoted(text) if spaced(text) else form[:37] + '...'}{message[end:]}"
    # typer validates a choice through pydantic, whose "Value error, " means nothing to a user
    return " ".join(message.replace(": Value error, ", ": ").split())


def _shown_forms(text: str) -> list[str]:
    """How a message may show `text`: as typed, or escaped as click, Python's repr or json escape it."""
    from json import dumps

    from typer._click.utils import _escape_control_characters

    return list(dict.fromkeys([text, _escape_control_characters(text), text.encode("unicode_escape").decode("ascii"),
                               repr(text)[1:-1], dumps(text, ensure_ascii=False)[1:-1]]))


def _error(message: str) -> None:
    typer.echo(error_line(message), err=True)


def _no_type_for_flags(self: TyperOption, ctx) -> str | None:
    """typer 0.29 shows `<bool>` beside flags in --help, as if they took a value."""
    return None if self.is_flag else _typed_display(self, ctx)


_typed_display = TyperOption.display_type_rich
TyperOption.display_type_rich = _no_type_for_flags


app = typer.Typer(
    cls=VpslogGroup,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Session logger and fidelity checker for vocational peer support (VPS).",
    epilog="Exit codes: 0 ok, 1 input refused (nothing written), 2 usage error, "
    "3 store problem, 4 fidelity --strict found a failure, 70 a bug (rerun with --debug), "
    "74 the system refused a read or write (a full disk).",
)


def _show_version(wanted: bool) -> None:
    if wanted:
        from vpslog import __version__

        typer.echo(f"vpslog {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    db: Annotated[Optional[Path], typer.Option(
        "--db", envvar="VPSLOG_DB", help="Store file (default: vpslog.db in your user data folder).",
        show_default=False)] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
    version: Annotated[bool, typer.Option(
        "--version", help="Show the version and exit.", is_eager=True, callback=_show_version)] = False,
) -> None:
    from vpslog.commands.common import Settings

    ctx.obj = Settings(db=db, debug=debug)


def _register() -> None:
    from vpslog.commands import (
        audit, config, data, demo, encryption, enroll, export, fidelity, init, log, milestone, participant, report,
        review, schema, sessions, site, specialist, supervision,
    )

    from vpslog.commands.common import CodesInHelp

    app.command("init")(init.init)
    app.command("log", cls=CodesInHelp)(log.log)
    app.command("amend", cls=CodesInHelp)(log.amend)
    app.command("sessions")(sessions.sessions)
    app.command("show")(sessions.show)
    app.command("void")(sessions.void)
    app.command("history")(sessions.history)
    app.command("milestone", cls=CodesInHelp)(milestone.milestone)
    app.command("milestones")(milestone.milestones)
    app.command("screen")(enroll.screen)
    app.command("enroll")(enroll.enroll)
    app.command("fidelity", cls=CodesInHelp)(fidelity.fidelity)
    app.command("due")(fidelity.due)
    app.command("export")(export.export)
    app.command("import")(data.import_)
    app.command("merge")(data.merge)
    app.command("backup")(data.backup)
    app.command("doctor")(data.doctor)
    app.command("encrypt")(encryption.encrypt)
    app.command("rekey")(encryption.rekey)
    app.command("decrypt")(encryption.decrypt)
    app.command("demo")(demo.demo)
    app.add_typer(site.app, name="site")
    app.add_typer(specialist.app, name="specialist")
    app.add_typer(supervision.app, name="supervision")
    app.add_typer(participant.app, name="participant")
    app.add_typer(config.app, name="config")
    app.add_typer(audit.app, name="audit")
    app.add_typer(schema.app, name="schema")
    app.add_typer(report.app, name="report")
    app.add_typer(review.app, name="review")


_register()


def run() -> None:
    """Console-script entry point."""
    sys.exit(app())
