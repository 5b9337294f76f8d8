"""`vpslog report dose|flow|baseline|units|allocation`."""

from typing import Annotated, Optional

import typer

from vpslog.commands.common import FormatOption, parse_day, program
from vpslog.render import Format

app = typer.Typer(help="Trial reports: dose, enrollment flow, baseline table, billing units, allocation.",
                  no_args_is_help=True)
AsOf = Annotated[Optional[str], typer.Option("--as-of", help="Records dated on or before this date (default today).")]
TITLES = {
    "dose": "Dose per participant",
    "flow": "Enrollment flow",
    "baseline": "Baseline characteristics",
    "units": "Billable 15-minute units per specialist and month",
    "allocation": "Allocation balance per site",
}


def _run(ctx: typer.Context, name: str, as_of: str | None, fmt: Format) -> None:
    from vpslog.reports import REPORTS
    from vpslog.render import emit

    with program(ctx) as prog:
        day = parse_day(as_of, prog.today) or prog.today
        rows = REPORTS[name](prog, day)
    columns = list(rows[0]) if rows else []
    emit(rows, columns, fmt, f"{TITLES[name]} as of {day}")


@app.command("dose")
def dose(ctx: typer.Context, as_of: AsOf = None, fmt: FormatOption = Format.table) -> None:
    """Per participant: individual sessions, best 182-day window, date the dose was reached, minutes."""
    _run(ctx, "dose", as_of, fmt)


@app.command("flow")
def flow(ctx: typer.Context, as_of: AsOf = None, fmt: FormatOption = Format.table) -> None:
    """Screened, eligible, ineligible by reason, enrolled, allocated per arm, reached the dose, exited by reason."""
    _run(ctx, "flow", as_of, fmt)


@app.command("baseline")
def baseline(ctx: typer.Context, as_of: AsOf = None, fmt: FormatOption = Format.table) -> None:
    """Baseline characteristics per arm and overall: age mean ± SD, n (%) per category."""
    _run(ctx, "baseline", as_of, fmt)


@app.command("units")
def units(ctx: typer.Context, as_of: AsOf = None, fmt: FormatOption = Format.table) -> None:
    """Billable 15-minute units (HCPCS H0038 style) per specialist and month."""
    _run(ctx, "units", as_of, fmt)


@app.command("allocation")
def allocation(ctx: typer.Context, as_of: AsOf = None, fmt: FormatOption = Format.table) -> None:
    """Randomized allocations per site and arm."""
    _run(ctx, "allocation", as_of, fmt)
