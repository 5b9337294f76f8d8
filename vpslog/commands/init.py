"""`vpslog init`: create the store and the project secret."""

import typer

from vpslog.commands.common import program, say


def init(ctx: typer.Context) -> None:
    """Create a store (0600) and the project secret, and print where they are."""
    from vpslog import config

    existed = ctx.find_root().obj.db_path.exists()
    with program(ctx, create=True) as prog:
        prog.store.check_key()  # an existing store: the secret here must be the one its trail was written with
        verb = "store already exists at" if existed else "created store at"
        say(f"{verb} {prog.store.path}")
        say(f"project secret: {config.secret_path()} (keep it safe: the audit trail is keyed with it)")
