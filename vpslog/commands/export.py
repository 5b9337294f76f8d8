"""`vpslog export`: CSVs with a Data Package descriptor, a codebook and a manifest."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from vpslog.commands.common import Since, Until, filtered, iso_day, program, say, warn, warn_clear_output
from vpslog.commands.participant import Arm


def export(
    ctx: typer.Context,
    tables: Annotated[Optional[list[str]], typer.Argument(
        metavar="[TABLE]...", help="sites, specialists, participants, screenings, allocations, sessions, "
                                   "supervision, milestones (default: all).", show_default=False)] = None,
    out: Annotated[str, typer.Option("--out", help="A new, empty or earlier-export folder, replaced whole "
                                                  "(0700, files 0600); - for one table on stdout.")] = ...,
    deidentify: Annotated[bool, typer.Option("--deidentify", help="Pseudonyms, shifted dates, no free text.")] = False,
    wide: Annotated[bool, typer.Option("--wide", help="Add one 0/1 column per component to sessions.")] = False,
    since: Since = None,
    until: Until = None,
    site: Annotated[Optional[str], typer.Option("--site", help="Only this site.")] = None,
    arm: Annotated[Optional[Arm], typer.Option("--arm", case_sensitive=False, help="Only participants of this arm.")] = None,
) -> None:
    """Export research tables as CSV (UTF-8, stable column order) with datapackage.json and codebook.md."""
    from vpslog.export import export as run_export
    from vpslog.tables import resolve_tables

    with program(ctx) as prog:
        warn_clear_output(prog, deidentify)
        manifest = run_export(
            prog, resolve_tables(tables or []), None if out == "-" else Path(out), deidentify=deidentify, wide=wide,
            since=iso_day(since, prog.today), until=iso_day(until, prog.today),
            site=filtered(prog, "site", site), arm=arm.value if arm else None,
            notify=lambda text: warn(f"note: {text}"))
    if out != "-":
        rows = ", ".join(f"{n} {table}" for table, n in manifest["rows"].items())
        kind = "de-identified export" if manifest["deidentified"] else "export"
        say(f"{kind} written to {out}: {rows}; datapackage.json, codebook.md, manifest.json")
