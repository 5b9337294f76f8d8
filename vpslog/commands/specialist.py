"""`vpslog specialist add|list`."""

from typing import Annotated, Optional

import typer

from vpslog.commands.common import FormatOption, parse_day, program, say
from vpslog.render import Format, emit

app = typer.Typer(help="Peer specialists.", no_args_is_help=True)
COLUMNS = ("id", "site_id", "name", "trained_on", "active")


@app.command("add")
def add(
    ctx: typer.Context,
    specialist_id: Annotated[str, typer.Argument(metavar="ID")],
    site: Annotated[str, typer.Option("--site", help="Site id.")],
    name: Annotated[Optional[str], typer.Option("--name", help="Display name.")] = None,
    trained: Annotated[Optional[str], typer.Option("--trained", help="Date trained to criterion.")] = None,
) -> None:
    """Add a peer specialist."""
    with program(ctx) as prog:
        specialist = prog.add_specialist(specialist_id, site, name, parse_day(trained, prog.today))
    say(f"added specialist {specialist.id} at site {specialist.site_id}")


@app.command("list")
def list_(ctx: typer.Context, fmt: FormatOption = Format.table) -> None:
    """List peer specialists."""
    with program(ctx) as prog:
        rows = [{**row, "active": bool(row["active"])} for row in prog.store.rows("specialist")]
    emit(rows, COLUMNS, fmt, "specialists")
