"""`vpslog report dose|flow|baseline|units|allocation|html`."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from vpslog.commands.common import FormatOption, filtered, parse_day, program, refuse_disjoint
from vpslog.render import Format

app = typer.Typer(help="Trial reports: dose, enrollment flow, baseline table, billing units, allocation; "
                       "the supervisor's HTML report.",
                  no_args_is_help=True)
AsOf = Annotated[Optional[str], typer.Option("--as-of", help="Records dated on or before this date (default today).")]
REPORTS = {
    "dose": ("Dose per participant",
             "Per participant: individual sessions, best 182-day window, date the dose was reached, minutes."),
    "flow": ("Enrollment flow",
             "Screened, eligible, ineligible by reason, enrolled, allocated per arm, reached the dose, exited by reason."),
    "baseline": ("Baseline characteristics",
                 "Baseline characteristics per arm and overall: age mean ± SD, n (%) per category."),
    "units": ("Billable units per specialist and month",
              "Billable units (HCPCS H0038 style: 15 minutes each unless schemas/reports.toml says otherwise) "
              "per specialist and month."),
    "allocation": ("Allocation balance per site", "Randomized allocations per site and arm."),
}


def _command(name: str, title: str, help_text: str):
    def command(ctx: typer.Context, as_of: AsOf = None, fmt: FormatOption = Format.table) -> None:
        from vpslog.render import emit
        from vpslog.reports import REPORTS as BUILDERS

        with program(ctx) as prog:
            day = parse_day(as_of, prog.today) or prog.today
            rows = BUILDERS[name](prog, day)
        if fmt is Format.json:  # as schemas/report-<name>.listing.schema.json describes it
            from vpslog.shapes import REPORT_ROWS, as_json

            rows = as_json(REPORT_ROWS[name], rows)
        emit(rows, list(rows[0]) if rows else [], fmt, f"{title} as of {day}")

    command.__doc__ = help_text
    return command


for _name, (_title, _help) in REPORTS.items():
    app.command(_name)(_command(_name, _title, _help))


@app.command("html")
def html(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="The new HTML file to write.", show_default=False)],
    as_of: AsOf = None,
    site: Annotated[Optional[str], typer.Option("--site", help="Only this site.")] = None,
    specialist: Annotated[Optional[str], typer.Option("--specialist", help="Only this specialist and the participants they saw.")] = None,
    deidentify: Annotated[bool, typer.Option("--deidentify", help="Pseudonyms and shifted dates, as in exports.")] = False,
    jobs: Annotated[Optional[int], typer.Option(
        "--jobs", min=1, metavar="N", show_default=False,
        help="Processes drawing the charts at once (default: one per CPU, at most 4; 1: least memory).")] = None,
) -> None:
    """The supervisor's fidelity report as one self-contained HTML file (charts and tables; opens offline, prints on A4 and Letter)."""
    from vpslog.commands.common import say, sweep_leftovers, warn_clear_output
    from vpslog.core import Program
    from vpslog.report.forked import apart
    from vpslog.report.gather import View, gather
    from vpslog.report.html import refuse_target, render, write

    refuse_target(out)
    with program(ctx) as prog:
        warn_clear_output(prog, deidentify)
        day, key = parse_day(as_of, prog.today) or prog.today, prog.store.key
        site = filtered(prog, "site", site)
        specialist = filtered(prog, "specialist", specialist)
        refuse_disjoint(prog, {"site": site, "specialist": specialist, "participant": None})

    def evaluated() -> View:  # in a child process (forked.apart), with a store of its own (notices said above)
        child = Program.open(prog.store.path, key=key)
        try:
            return gather(child, day, site=site, specialist=specialist, deidentify=deidentify)
        finally:
            child.close()

    sweep_leftovers(out)  # a report killed before it was linked into place left its temp file
    write(out, render(apart(evaluated), jobs))
    say(f"wrote {out}")
