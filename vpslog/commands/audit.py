"""`vpslog audit verify`."""

import typer

from vpslog.commands.common import program, say
from vpslog.errors import StoreError

app = typer.Typer(help="The audit trail.", no_args_is_help=True)


@app.command("verify")
def verify(ctx: typer.Context) -> None:
    """Recompute the hash chain; name the first bad entry and exit 3 if it breaks."""
    with program(ctx) as prog:
        problem = prog.store.verify_audit()
        head = prog.store.audit_head()
    if problem:
        raise StoreError(f"audit trail broken: {problem}")
    say(f"audit trail verified: {head[0] if head else 0} entries, head {head[1][:12] if head else '-'}")
