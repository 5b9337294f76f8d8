"""`vpslog demo`: build a synthetic program and summarise it."""

from typing import Annotated

import typer

from vpslog.commands.common import program, say


def demo(
    ctx: typer.Context,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same program.")] = 1,
    force: Annotated[bool, typer.Option("--force", help="Add the demo even to a store with real records.")] = False,
) -> None:
    """Build a realistic synthetic VPS program in the store (default store unless --db)."""
    from vpslog.demo import build_demo
    from vpslog.errors import InputError
    from vpslog.fidelity.engine import evaluate
    from vpslog.fidelity.rules import load_rules
    from vpslog.fidelity.report import render_summary
    from vpslog.render import Format

    path = ctx.find_root().obj.db_path
    if path.exists():
        with program(ctx) as prog:
            records = sum(prog.store.record_counts().values())
            is_demo = prog.store.meta("demo") is not None
        if records and not is_demo and not force:
            raise InputError(f"{path} already holds {records} records that are not demo data; "
                             "use another --db, or --force to add the demo program to it")
        if records and is_demo:
            say(f"replacing the earlier demo program in {path}")
            for suffix in ("", "-wal", "-shm"):
                path.with_name(path.name + suffix).unlink(missing_ok=True)
    with program(ctx, create=True) as prog:
        summary = build_demo(prog, seed=seed)
        counts = prog.store.record_counts()
        head = prog.store.audit_head()
        report = evaluate(prog.store, prog.catalog, load_rules(prog.catalog), prog.today)
    arms = ", ".join(f"{n} {arm}" for arm, n in sorted(summary.participants.items()))
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(summary.sessions.items()))
    say(f"demo program (seed {seed}) in {path}")
    say(f"  {counts['site']} sites, {counts['specialist']} specialists; {summary.screened} screened, "
        f"{sum(summary.participants.values())} enrolled and randomized ({arms})")
    say(f"  {counts['session']} sessions ({kinds}) from {summary.first_date} to {summary.last_date}")
    say(f"  {summary.supervisions} supervisions, {summary.milestones} milestones, {summary.exits} exits, "
        f"{summary.late_entries} sessions entered more than 3 days late, {head[0]} audit entries")
    say("")
    render_summary(report, Format.table)
    say(f"next: vpslog --db {path} fidelity   (or: due --specialist PS01, sessions --limit 5)")
