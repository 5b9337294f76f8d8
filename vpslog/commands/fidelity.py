"""`vpslog fidelity` (the supervisor's report) and `vpslog due` (who needs a contact)."""

from enum import Enum
from typing import Annotated, Optional

import typer

from vpslog.commands.common import FormatOption, filtered, parse_day, program, refuse_disjoint, warn
from vpslog.completion import complete_participant
from vpslog.render import Format

AsOf = Annotated[Optional[str], typer.Option("--as-of", help="Evaluate as of this date (default today).")]


class Period(str, Enum):
    month = "month"
    quarter = "quarter"


def fidelity(
    ctx: typer.Context,
    as_of: AsOf = None,
    site: Annotated[Optional[str], typer.Option("--site", help="Only this site.")] = None,
    specialist: Annotated[Optional[str], typer.Option("--specialist", help="Only this specialist and the participants they saw.")] = None,
    participant: Annotated[Optional[str], typer.Option(
        "--participant", help="Only this participant (study code).", autocompletion=complete_participant)] = None,
    explain: Annotated[Optional[str], typer.Option("--explain", metavar="RULE", help="Evidence for every subject of one rule: {rules}.")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 4 when a fail-severity rule fails.")] = False,
    by: Annotated[Optional[Period], typer.Option(
        "--by", help="Pass rates and scale at the end of each month or quarter, per site and overall.")] = None,
    since: Annotated[Optional[str], typer.Option("--since", help="With --by: from this date (default: a year of periods).")] = None,
    until: Annotated[Optional[str], typer.Option("--until", help="With --by: up to this date (default today).")] = None,
    matrix: Annotated[bool, typer.Option("--matrix", help="Specialists x rules: each specialist's pass rates beside the program's.")] = False,
    fmt: FormatOption = Format.table,
) -> None:
    """Check the program against the fidelity rules in schemas/fidelity.toml."""
    from vpslog.errors import EXIT_FIDELITY
    from vpslog.fidelity.engine import evaluate
    from vpslog.fidelity.rules import load_rules
    from vpslog.fidelity.report import Writer
    from vpslog.fidelity.report import explain as explain_rule

    _refuse_mixed_views(explain=explain, by=by, matrix=matrix, as_of=as_of, since=since, until=until,
                        participant=participant, specialist=specialist, strict=strict)
    if by:
        return _trend(ctx, by, since, until, site, specialist, fmt)
    if matrix:
        return _matrix(ctx, as_of, site, fmt)
    with program(ctx) as prog:
        book = load_rules(prog.catalog)
        if explain:
            book.get(explain)  # refuse an unknown rule before the work
        day = parse_day(as_of, prog.today) or prog.today
        scope = {"site": filtered(prog, "site", site),
                 "specialist": filtered(prog, "specialist", specialist),
                 "participant": filtered(prog, "participant", participant)}
        writer = None if explain else Writer(fmt)  # results written as they are judged
        refuse_disjoint(prog, scope)
        report = evaluate(prog.store, prog.catalog, book, day, **scope, sink=writer and writer.sink)
    if explain:
        explain_rule(report, explain, fmt)
    else:
        writer.finish(report)
    if strict and report.failed:
        warn(f"fidelity check failed: {failing_rules(report)}")
        raise typer.Exit(EXIT_FIDELITY)


def _refuse_mixed_views(*, explain, by, matrix, as_of, since, until, participant, specialist, strict) -> None:
    """One view per run: the report as of a date, --explain, --by (over time) or --matrix (side by side)."""
    from vpslog.errors import InputError, UsageError

    if explain is not None and not explain.strip():  # a script's empty variable: not the whole report
        raise InputError("--explain is empty: give a rule id, or leave the option out")
    views = [name for name, given in (("--explain", explain), ("--by", by), ("--matrix", matrix)) if given]
    if len(views) > 1:
        raise UsageError(f"{' and '.join(views)} are separate views; give one")
    if (since or until) and not by:
        raise UsageError("--since and --until need --by month or --by quarter")
    if by and as_of:
        raise UsageError("--by reads --since and --until, not --as-of")
    if views and views[0] != "--explain" and (participant or strict):
        raise UsageError(f"{views[0]} does not take {'--participant' if participant else '--strict'}")
    if matrix and specialist:
        raise UsageError("--matrix shows every specialist; it does not take --specialist")


def _trend(ctx, by: Period, since, until, site, specialist, fmt) -> None:
    from vpslog.fidelity.report import render_trend
    from vpslog.fidelity.rules import load_rules
    from vpslog.fidelity.trend import default_since, trend

    with program(ctx) as prog:
        last = parse_day(until, prog.today) or prog.today
        scope = {"site": filtered(prog, "site", site), "specialist": filtered(prog, "specialist", specialist),
                 "participant": None}
        refuse_disjoint(prog, scope)
        result = trend(prog.store, prog.catalog, load_rules(prog.catalog), by=by.value, until=last,
                       since=parse_day(since, prog.today) or default_since(by.value, last),
                       site=scope["site"], specialist=scope["specialist"])
    render_trend(result, fmt)


def _matrix(ctx, as_of, site, fmt) -> None:
    from vpslog.fidelity.matrix import matrix
    from vpslog.fidelity.report import render_matrix
    from vpslog.fidelity.rules import load_rules

    with program(ctx) as prog:
        result = matrix(prog.store, prog.catalog, load_rules(prog.catalog), parse_day(as_of, prog.today) or prog.today,
                        site=filtered(prog, "site", site))
    render_matrix(result, fmt)


def failing_rules(report) -> str:
    """`continuity (15 participants), no-clinical-services (6 sessions)`: what --strict failed on."""
    from vpslog.parsing import plural

    return ", ".join(f"{row['rule']} ({row['fail']} {plural(row['fail'], row['scope'])})"
                     for row in report.summary() if row["fail"])


def due(
    ctx: typer.Context,
    specialist: Annotated[Optional[str], typer.Option("--specialist", help="Whose caseload (default: config).")] = None,
    as_of: AsOf = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Active participants of a caseload who are overdue for a contact or off track for the dose."""
    from vpslog import config
    from vpslog.errors import InputError
    from vpslog.fidelity.engine import evaluate
    from vpslog.fidelity.rules import load_rules
    from vpslog.fidelity.due import due_list
    from vpslog.render import emit

    with program(ctx) as prog:
        chosen = specialist or config.load().get("specialist")
        if not chosen:
            raise InputError("whose caseload? pass --specialist ID or set `vpslog config set specialist ID`")
        chosen = prog.resolve("specialist", chosen)
        day = parse_day(as_of, prog.today) or prog.today
        report = evaluate(prog.store, prog.catalog, load_rules(prog.catalog), day, specialist=chosen)
        rows = due_list(report, prog.store.caseload_of(chosen, day.isoformat()))
    emit(rows, ("participant", "last_contact", "days_since", "needed", "why"), fmt,
         f"due for {chosen} as of {day}")
