"""`vpslog report dose|flow|baseline|units|allocation`."""

from typing import Annotated, Optional

import typer

from vpslog.commands.common import FormatOption, parse_day, program
from vpslog.render import Format

app = typer.Typer(help="Trial reports: dose, enrollment flow, baseline table, billing units, allocation.",
                  no_args_is_help=True)
AsOf = Annotated[Optional[str], typer.Option("--as-of", help="Records dated on or before this date (default today).")]
REPORTS = {
    "dose": ("Dose per participant",
             "Per participant: individual sessions, best 182-day window, date the dose was reached, minutes."),
    "flow": ("Enrollment flow",
             "Screened, eligible, ineligible by reason, enrolled, allocated per arm, reached the dose, exited by reason."),
    "baseline": ("Baseline characteristics",
                 "Baseline characteristics per arm and overall: age mean ± SD, n (%) per category."),
    "units": ("Billable 15-minute units per specialist and month",
              "Billable 15-minute units (HCPCS H0038 style) per specialist and month."),
    "allocation": ("Allocation balance per site", "Randomized allocations per site and arm."),
}


def _command(name: str, title: str, help_text: str):
    def command(ctx: typer.Context, as_of: AsOf = None, fmt: FormatOption = Format.table) -> None:
        from vpslog.render import emit
        from vpslog.reports import REPORTS as BUILDERS

        with program(ctx) as prog:
            day = parse_day(as_of, prog.today) or prog.today
            rows = BUILDERS[name](prog, day)
        emit(rows, list(rows[0]) if rows else [], fmt, f"{title} as of {day}")

    command.__doc__ = help_text
    return command


for _name, (_title, _help) in REPORTS.items():
    app.command(_name)(_command(_name, _title, _help))
