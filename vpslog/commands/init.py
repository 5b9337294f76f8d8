"""`vpslog init`: create the store and the project secret."""

from typing import Annotated

import typer

from vpslog.commands.common import program, say


def init(ctx: typer.Context,
         encrypt: Annotated[bool, typer.Option(
             "--encrypt", help="Encrypt the new store (SQLCipher); its key from $VPSLOG_KEY_FILE, else the OS "
                               "keyring, else typed.")] = False) -> None:
    """Create a store (0600) and the project secret, and print where they are."""
    from vpslog import config

    path = ctx.find_root().obj.db_path
    existed = path.exists() and path.stat().st_size > 0  # an empty file (a stopped init) is taken up
    key = new_store_key(path) if encrypt else None
    with program(ctx, create=True, key=key) as prog:
        prog.store.check_key()  # an existing store: the secret here must be the one its trail was written with
        verb = "store already exists at" if existed else "created store at"
        kind = f"encrypted store (key: {prog.store.key.describe()})" if prog.store.key else ""
        say(f"{verb} {prog.store.path}" + (f": {kind}" if kind else ""))
        say(f"project secret: {config.secret_path()} (keep it safe: the audit trail is keyed with it)")


def new_store_key(path):
    """The key for `path` about to be made encrypted, kept in its source first (a store is never made
    with a key that is kept nowhere); None when an encrypted store is already there."""
    from vpslog import keys
    from vpslog.errors import StoreError
    from vpslog.store.base import another_programs, encrypted

    if path.exists() and path.stat().st_size > 0:
        if encrypted(path) or another_programs(path):
            return None  # one is opened with its key; the other is refused for what it is
        raise StoreError(f"{path} already exists and is not encrypted: `vpslog encrypt` encrypts it")
    key = keys.new_key(path)
    keys.keep(path, key)
    return key
