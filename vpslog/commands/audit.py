"""`vpslog audit verify`, `accept-head` and `events`."""

from typing import Annotated

import typer

from vpslog.commands.common import FormatOption, program, say, warn
from vpslog.errors import StoreError
from vpslog.render import Format

app = typer.Typer(help="The audit trail.", no_args_is_help=True)


@app.command("verify")
def verify(ctx: typer.Context) -> None:
    """Check the hash chain, the witness kept outside the store and every record against the
    state the trail gives it; list each problem and exit 3 if there is any."""
    with program(ctx) as prog:
        problems = prog.store.verify()
        repairs = [] if prog.store.repaired else prog.store.repairs()  # a repair just made was said already
        head = prog.store.audit_head()
        witnessed = prog.store.witness() is not None
    for problem in problems:
        say(problem)
    for repair in repairs:
        warn(f"note: repaired before: {repair}")
    if problems:
        more = f" (and {len(problems) - 1} more, listed above)" if len(problems) > 1 else ""
        raise StoreError(f"audit trail: {problems[0]}{more}")
    if head and not witnessed:
        warn("note: this machine keeps no witness of this store yet (it was copied here, or not written "
             "here since the upgrade): a cut trail is detected only once it has one")
    say(f"audit trail verified: {head[0] if head else 0} entries, head {head[1][:12] if head else '-'}; "
        "every record matches its trail")


@app.command("accept-head")
def accept_head(
    ctx: typer.Context,
    reason: Annotated[str, typer.Option("--reason", help="Why the trail is shorter than the witness (required).")],
) -> None:
    """After restoring an older copy of the store on purpose: take its trail as the one the
    witness keeps. Refused unless the chain verifies; recorded in the trail with the reason."""
    from vpslog.core import _reason

    with program(ctx) as prog:
        head = prog.store.accept_head(prog.actor, _reason(reason))
    say(f"the witness now keeps entry {head[0]} ({head[1][:12]}) of {prog.store.path}")


@app.command("events")
def events(ctx: typer.Context, fmt: FormatOption = Format.table) -> None:
    """What happened to the store as a whole, oldest first: imports, exports (and `decrypt`'s plain copies),
    merges, encryption and key changes, repairs, accepted heads; `vpslog history ID` lists a record's."""
    import json

    from vpslog.render import emit
    from vpslog.shapes import AuditEvent, as_json

    with program(ctx) as prog:
        entries = prog.store.audit_events()
    columns = ("seq", "at", "actor", "action", "subject", "details", "reason")
    rows = [{**{c: e.get(c) for c in columns}, "subject": f"{e['tbl']} {e['record_id']}",
             "details": json.loads(e["after"]) if e["after"] else {}} for e in entries]
    if fmt is Format.json:  # as schemas/audit-events.listing.schema.json describes it
        rows = as_json(AuditEvent, rows)
    else:
        rows = [{**row, "details": "; ".join(f"{k}: {v if isinstance(v, str) else json.dumps(v)}"
                                             for k, v in row["details"].items())} for row in rows]
    emit(rows, columns, fmt, "audit events", drop=("subject", "reason", "actor"))
