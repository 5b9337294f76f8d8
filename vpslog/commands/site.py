"""`vpslog site add|list`."""

from typing import Annotated

import typer

from vpslog.commands.common import FormatOption, program, say
from vpslog.render import Format, emit

app = typer.Typer(help="Program sites.", no_args_is_help=True)


@app.command("add")
def add(ctx: typer.Context, site_id: Annotated[str, typer.Argument(metavar="ID")],
        name: Annotated[str, typer.Option("--name", help="Site name.")]) -> None:
    """Add a site."""
    with program(ctx) as prog:
        site = prog.add_site(site_id, name)
    say(f"added site {site.id}")


@app.command("list")
def list_(ctx: typer.Context, fmt: FormatOption = Format.table) -> None:
    """List sites."""
    with program(ctx) as prog:
        emit(prog.store.rows("site"), ("id", "name"), fmt, "sites")
