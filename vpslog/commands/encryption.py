"""`vpslog encrypt`, `rekey` and `decrypt`: a store's encryption at rest changed, each time through a
new file verified (integrity_check, audit chain, record counts) before it replaces anything."""

from pathlib import Path
from typing import Annotated

import typer

from vpslog.commands.common import program, say, warn

OLD_BLOCKS = ("the old file's blocks on disk are not overwritten (file systems, SSDs and snapshots keep "
              "them): older copies of the store, its backups and the disk itself need the same care")


def encrypt(ctx: typer.Context) -> None:
    """Encrypt a plain store: an encrypted copy is written and verified, then replaces it."""
    from vpslog import keys

    path = _store(ctx, encrypted_already=False)
    with program(ctx, cipher=True) as prog:
        key = keys.new_key(path)
        prog.store.reencrypt(key, lambda: keys.keep(path, key))
    say(f"encrypted {path} (key: {key.describe()})")
    warn(f"note: {OLD_BLOCKS}")


def rekey(ctx: typer.Context) -> None:
    """Change the key of an encrypted store: a copy under the new key replaces it; the new key is kept
    where the old one was (key file, keyring) or typed twice."""
    from vpslog import keys

    path = _store(ctx, encrypted_already=True)
    with program(ctx) as prog:
        key = keys.new_key(path, like=prog.store.key)
        prog.store.reencrypt(key, lambda: keys.keep(path, key))
    say(f"rekeyed {path} (key: {key.describe()}); the old key no longer opens it")


def decrypt(ctx: typer.Context,
            out: Annotated[Path, typer.Option("--out", metavar="FILE", help="A new file for the plain copy (0600).")]
            ) -> None:
    """Write a plain (unencrypted) copy of an encrypted store, for a program that must hand one over;
    the store itself stays encrypted. Recorded in the audit trail as an export."""
    path = _store(ctx, encrypted_already=True)
    with program(ctx) as prog:
        prog.store.backup_to(out, plain=True, what="plain copy")
        with prog.store.transaction():
            prog.store.append_audit("export", "store", out.name, {"plain_copy": str(out)}, actor=prog.actor)
    warn(f"warning: {out} holds every record in clear, notes included; hand it over only as your program's "
         "policy allows, and delete it when done")
    say(f"wrote a plain copy of {path} to {out}")


def _store(ctx: typer.Context, *, encrypted_already: bool) -> Path:
    """The store's path, refused unless it is (or is not yet) encrypted."""
    from vpslog.errors import InputError
    from vpslog.store.base import encrypted

    path = ctx.find_root().obj.db_path
    if path.exists() and encrypted(path) != encrypted_already:
        raise InputError(f"{path} is already encrypted; `vpslog rekey` changes its key" if not encrypted_already
                         else f"{path} is not encrypted; `vpslog encrypt` encrypts it")
    return path
