"""`vpslog import`, `backup`, `merge` and `doctor`: data in, copies out, health checks."""

from pathlib import Path
from typing import Annotated

import typer

from vpslog.commands.common import program, say


def import_(
    ctx: typer.Context,
    table: Annotated[str, typer.Argument(help="participants, sessions, supervision, milestones (or any exported table).")],
    file: Annotated[Path, typer.Argument(metavar="FILE.csv", help="A CSV with the export's header.")],
) -> None:
    """Import a CSV: every row validated, every bad row reported, nothing written unless all are good."""
    from vpslog.importer import import_csv
    from vpslog.tables import resolve_tables

    [spec] = resolve_tables([table])
    with program(ctx) as prog:
        result = import_csv(prog, spec, file)
    say(f"imported {result.inserted} {spec.name} from {file} ({result.skipped} identical rows already present)")
