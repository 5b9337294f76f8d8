"""The typer app: global options, command registration, and the one place
where errors become exit codes (see vpslog.errors for the codes)."""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from vpslog.errors import EXIT_INTERNAL, EXIT_STORE, VpslogError


class VpslogGroup(TyperGroup):
    """Reports a VpslogError as one line and its exit code; a traceback only with --debug."""

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # usage errors and exits: typer reports them (exit 2 for usage)
        except BrokenPipeError:  # the reader went away (`vpslog sessions | head`): stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(0) from None
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            message, code = _describe(exc)
            typer.echo(f"error: {message}", err=True)
            raise typer.Exit(code) from None


def _describe(exc: Exception) -> tuple[str, int]:
    if isinstance(exc, VpslogError):
        return str(exc), exc.exit_code
    if isinstance(exc, sqlite3.Error):
        return f"store problem: {exc}", EXIT_STORE
    return f"internal error ({type(exc).__name__}); rerun with --debug for the traceback", EXIT_INTERNAL


app = typer.Typer(
    cls=VpslogGroup,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Session logger and fidelity checker for vocational peer support (VPS).",
    epilog="Exit codes: 0 ok, 1 input refused (nothing written), 2 usage error, "
    "3 store problem, 4 fidelity --strict found a failure.",
)


@app.callback()
def main(
    ctx: typer.Context,
    db: Annotated[Optional[Path], typer.Option(
        "--db", envvar="VPSLOG_DB", help="Store file (default: vpslog.db in your user data folder).",
        show_default=False)] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    from vpslog.commands.common import Settings

    ctx.obj = Settings(db=db, debug=debug)


def _register() -> None:
    from vpslog.commands import (
        audit, config, data, demo, enroll, export, fidelity, init, log, milestone, participant, report, schema, sessions,
        site, specialist, supervision,
    )

    app.command("init")(init.init)
    app.command("log")(log.log)
    app.command("amend")(log.amend)
    app.command("sessions")(sessions.sessions)
    app.command("show")(sessions.show)
    app.command("void")(sessions.void)
    app.command("history")(sessions.history)
    app.command("milestone")(milestone.milestone)
    app.command("milestones")(milestone.milestones)
    app.command("screen")(enroll.screen)
    app.command("enroll")(enroll.enroll)
    app.command("fidelity")(fidelity.fidelity)
    app.command("due")(fidelity.due)
    app.command("export")(export.export)
    app.command("import")(data.import_)
    app.command("merge")(data.merge)
    app.command("backup")(data.backup)
    app.command("doctor")(data.doctor)
    app.command("demo")(demo.demo)
    app.add_typer(site.app, name="site")
    app.add_typer(specialist.app, name="specialist")
    app.add_typer(supervision.app, name="supervision")
    app.add_typer(participant.app, name="participant")
    app.add_typer(config.app, name="config")
    app.add_typer(audit.app, name="audit")
    app.add_typer(schema.app, name="schema")
    app.add_typer(report.app, name="report")


_register()


def run() -> None:
    """Console-script entry point."""
    sys.exit(app())
