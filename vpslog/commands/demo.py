"""`vpslog demo`: build a synthetic program in a store of its own and summarise it."""

from typing import Annotated

import typer

from vpslog.commands.common import say


def demo(
    ctx: typer.Context,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same program.")] = 1,
    force: Annotated[bool, typer.Option("--force", hidden=True)] = False,
    encrypt: Annotated[bool, typer.Option(
        "--encrypt", help="Build it encrypted (SQLCipher), its key kept as `init --encrypt` keeps one; an "
                          "encrypted demo stays encrypted when rebuilt.")] = False,
) -> None:
    """Build a realistic synthetic VPS program in its own store (demo.db beside the default store, unless --db)."""
    import shlex

    from vpslog import config
    from vpslog.core import Program
    from vpslog.demo import build_demo_store
    from vpslog.errors import UsageError
    from vpslog.fidelity.engine import evaluate
    from vpslog.fidelity.report import render_summary
    from vpslog.fidelity.rules import load_rules
    from vpslog.render import Format

    if force:  # the option once mixed the demo into real records; kept only to say why it is gone
        raise UsageError("--force is no longer accepted: the demo never goes into a store with real records; "
                         "choose a new file with --db")
    chosen = ctx.find_root().obj.db  # --db or VPSLOG_DB
    path = chosen if chosen is not None else config.demo_db()
    replacing = path.exists()
    summary = build_demo_store(path, seed, encrypt=encrypt)
    if replacing:
        say(f"replaced the earlier demo program in {path}")
    prog = Program.open(path)
    try:
        counts = prog.store.record_counts()
        head = prog.store.audit_head()
        report = evaluate(prog.store, prog.catalog, load_rules(prog.catalog), prog.today)
    finally:
        prog.close()
    arms = ", ".join(f"{n} {arm}" for arm, n in sorted(summary.participants.items()))
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(summary.sessions.items()))
    key = prog.store.key
    say(f"demo program (seed {seed}) in {path}" + (f", encrypted (key: {key.describe()})" if key else ""))
    say(f"  {counts['site']} sites, {counts['specialist']} specialists; {summary.screened} screened, "
        f"{sum(summary.participants.values())} enrolled and randomized ({arms})")
    say(f"  {counts['session']} sessions ({kinds}) from {summary.first_date} to {summary.last_date}")
    say(f"  {summary.supervisions} supervisions, {summary.milestones} milestones, {summary.exits} exits, "
        f"{summary.late_entries} sessions entered more than 3 days late, {head[0]} audit entries")
    say("")
    render_summary(report, Format.table)
    quoted = shlex.quote(str(path))
    say(f"to use it: vpslog --db {quoted} fidelity (or due --specialist PS01, sessions --limit 5), "
        f"or for every command: export VPSLOG_DB={quoted}")
