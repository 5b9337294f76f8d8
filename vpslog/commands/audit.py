"""`vpslog audit verify`."""

from typing import Annotated

import typer

from vpslog.commands.common import program, say, warn
from vpslog.errors import StoreError

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
