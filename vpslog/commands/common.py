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
from typer.core import TyperCommand

from vpslog.errors import shown
from vpslog.render import Format

FormatOption = Annotated[Format, typer.Option("--format", help="Output format.")]
Since = Annotated[str | None, typer.Option("--since", help="From this date (inclusive).")]
Until = Annotated[str | None, typer.Option("--until", help="Up to this date (inclusive).")]


class CodesInHelp(TyperCommand):
    """A command whose help names code lists as placeholders (`{mode}`, `{gender}`, `{rules}`):
    they are filled from schemas/ when the help is shown, since a program may extend the lists
    and reading them at every start would slow `vpslog log`."""

    def format_help(self, ctx: typer.Context, formatter) -> None:
        lists = _CodeLists()
        for param in self.params:
            if param.help and "{" in param.help:
                param.help = param.help.format_map(lists)
        super().format_help(ctx, formatter)


class _CodeLists(dict):
    """Code lists by name, comma-joined, read when first asked for; `rules` are the fidelity rule ids."""

    def __missing__(self, name: str) -> str:
        from vpslog.curriculum import Catalog

        catalog = Catalog()
        if name == "rules":
            from vpslog.fidelity.rules import load_rules

            codes = [rule.id for rule in load_rules(catalog).rules]
        else:
            codes = catalog.codes(name)
        self[name] = ", ".join(codes)
        return self[name]


@dataclass(frozen=True)
class Settings:
    db: Path | None
    debug: bool

    @property
    def db_path(self) -> Path:
        from vpslog.config import db_path

        return db_path(self.db)


@contextmanager
def program(ctx: typer.Context, *, create: bool = False, key=None, cipher: bool = False) -> Iterator:
    """The open Program for this command, closed afterwards; warns once about loose permissions.
    `key` and `cipher` as for Program.open."""
    from vpslog.core import Program

    settings: Settings = ctx.find_root().obj
    prog = Program.open(settings.db_path, create=create, key=key, cipher=cipher)
    try:
        for notice in prog.notices():
            warn(f"warning: {notice}")
        yield prog
    finally:
        prog.close()


def warn_clear_output(prog, deidentified: bool) -> None:
    """Said once by commands whose files leave an encrypted store in clear (CSV has no encryption)."""
    if prog.store.key is not None:
        advice = "" if deidentified else "; --deidentify leaves out free text and identifying dates"
        warn(f"warning: {prog.store.path} is encrypted, but what this writes is not: it leaves the store in "
             f"clear{advice}")


def filtered(prog, table: str, text: str | None) -> str | None:
    """The id a filter option (`--site`, `--participant`, `--specialist`) names, None when it is not
    given; an empty one is refused: a script's empty variable would otherwise list everyone."""
    if text is None:
        return None
    if not text.strip():
        from vpslog.errors import InputError

        raise InputError(f"--{table} is empty: give a {table} id, or leave the option out")
    return prog.resolve(table, text)


def parse_day(text: str | None, today: date | None = None) -> date | None:
    from vpslog.parsing import parse_date

    return None if text is None else parse_date(text, today or date.today())


def iso_day(text: str | None, today: date) -> str | None:
    """A typed date (`-30d`, `monday`, `2026-03-01`) as the ISO text the store compares."""
    day = parse_day(text, today)
    return day.isoformat() if day else None


def short_ids(prog, table: str, rows: list[dict]) -> list[dict]:
    """Rows whose ids are cut to the shortest prefix that still names one record of the store
    (8 characters at least, one length for the listing): what a table shows and `show` accepts."""
    from vpslog.parsing import unique_prefix_length

    length = unique_prefix_length((row["id"] for row in rows), prog.store.ids(table))
    return [{**row, "id": row["id"][:length]} for row in rows]


def say(message: str) -> None:
    typer.echo(shown(message))


def sweep_leftovers(*files: Path | None) -> None:
    """Remove, saying so, what vpslog commands killed mid-way left beside these files (a copy of the
    store, maybe in clear; a key): the commands that write such files clean up their own leftovers."""
    from vpslog.files import sweep_temp_files

    for file in filter(None, files):
        for leftover, plain in sweep_temp_files(file):
            warn(f"note: removed {leftover}, left by an interrupted vpslog command"
                 + (" (it held the records in clear)" if plain else ""))


def warn(message: str) -> None:
    typer.echo(shown(message), err=True)


def refuse_disjoint(prog, scope: dict) -> None:
    """Filters that each name records but none together, whatever the date (`--site NORTH
    --participant P-0009` of SOUTH, a specialist who never saw the participant or anyone at the site,
    and is not of it): refused, as one filter naming nothing is, rather than passed as "not scored"
    (a script under --strict would read it as a pass): by `fidelity`, its trend and `report html`.
    Filters that fit but find nothing judged yet (an early --as-of, a new specialist) are not refused."""
    from vpslog.errors import InputError

    given = [f"--{name} {value}" for name, value in scope.items() if value is not None]
    if len(given) < 2 or prog.store.fidelity_participants("9999-12-31", **scope):
        return
    site, specialist = scope["site"], scope["specialist"]
    if site and specialist and scope["participant"] is None and prog.store.get("specialist", specialist)["site_id"] == site:
        return  # the specialist's own rules are judged at their site
    raise InputError(f"nothing is both {' and '.join(given)}: each names records, but together they name "
                     "none to judge, on any date; drop one")
