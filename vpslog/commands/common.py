"""What the command modules share: settings from the global options, opening
the program, and the option types that several commands take."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from vpslog.render import Format

FormatOption = Annotated[Format, typer.Option("--format", help="Output format.")]
Since = Annotated[str | None, typer.Option("--since", help="From this date (inclusive).")]
Until = Annotated[str | None, typer.Option("--until", help="Up to this date (inclusive).")]


@dataclass(frozen=True)
class Settings:
    db: Path | None
    debug: bool

    @property
    def db_path(self) -> Path:
        from vpslog.config import db_path

        return db_path(self.db)


@contextmanager
def program(ctx: typer.Context, *, create: bool = False) -> Iterator:
    """The open Program for this command, closed afterwards; warns once about loose permissions."""
    from vpslog.core import Program

    settings: Settings = ctx.find_root().obj
    prog = Program.open(settings.db_path, create=create)
    try:
        if prog.store.others_can_read():
            path = prog.store.path
            warn(f"warning: {path} can be read by other users; fix with: chmod 600 {path}*")
        for repair in prog.store.repaired:
            warn(f"warning: {repair}")
        yield prog
    finally:
        prog.close()


def parse_day(text: str | None, today: date | None = None) -> date | None:
    from vpslog.parsing import parse_date

    return None if text is None else parse_date(text, today or date.today())


def iso_day(text: str | None, today: date) -> str | None:
    """A typed date (`-30d`, `monday`, `2026-03-01`) as the ISO text the store compares."""
    day = parse_day(text, today)
    return day.isoformat() if day else None


def say(message: str) -> None:
    typer.echo(message)


def warn(message: str) -> None:
    typer.echo(message, err=True)
