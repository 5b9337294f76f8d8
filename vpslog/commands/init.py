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
    from vpslog.errors import InputError
    from vpslog.files import name_refusal
    from vpslog.store.base import not_a_store

    path = ctx.find_root().obj.db_path
    # an empty file or an empty database (what a stopped init leaves) is taken up, as a store made now
    existed = path.exists() and path.stat().st_size > 0 and not_a_store(path) != "an empty file"
    if not existed and (refusal := name_refusal(path)):  # (demo checks its own: it builds under a temp name)
        raise InputError(refusal)
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
    from vpslog.store.base import encrypted, not_a_store

    if path.exists() and path.stat().st_size > 0:
        what = not_a_store(path)
        if encrypted(path) or what == "an SQLite database of another program":
            return None  # one is opened with its key; the other is refused for what it is
        if what == "an empty file":
            raise StoreError(f"{path} is an empty database, as a stopped `vpslog init` leaves: remove it, then run "
                             "`vpslog init --encrypt`")
        raise StoreError(f"{path} already exists and is not encrypted: `vpslog encrypt` encrypts it")
    key = keys.new_key(path)
    keys.keep(path, key)
    return key
