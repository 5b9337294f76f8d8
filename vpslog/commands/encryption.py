"""`vpslog encrypt`, `rekey` and `decrypt`: a store's encryption at rest changed, each time through a
new file verified (integrity_check, audit chain, record counts) before it replaces anything."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from vpslog.commands.common import program, say, sweep_leftovers, warn

OLD_BLOCKS = ("the old file's blocks on disk are not overwritten (file systems, SSDs and snapshots keep "
              "them): older copies of the store, its backups and the disk itself need the same care")


def encrypt(ctx: typer.Context) -> None:
    """Encrypt a plain store: an encrypted copy is written and verified, then replaces it."""
    from vpslog import keys

    path = _store(ctx, encrypted_already=False)
    sweep_leftovers(path, keys.key_file_path())
    with program(ctx, cipher=True) as prog:
        key = keys.new_key(path)

        def done() -> None:
            say(f"encrypted {path} (key: {key.describe()})")
            warn(f"note: {OLD_BLOCKS}")

        prog.store.reencrypt(key, keys.kept(path, key), action="encrypt", actor=prog.actor,
                             details={"encrypted": "SQLCipher", "key": key.describe()}, then=done)


def rekey(ctx: typer.Context,
          new_key_file: Annotated[Optional[Path], typer.Option(
              "--new-key-file", metavar="FILE", help="A new file (0600) for the new key, when the store's key "
                                                     "is in a key file (which is left as it was).")] = None
          ) -> None:
    """Change the key of an encrypted store: a copy under the new key replaces it; the new key is kept
    in a new key file (the old one may serve other stores), in the keyring, or typed twice. Backups
    made before open with the previous key only: it stays in the old key file or in a keyring entry
    of its own, and the output says where."""
    from vpslog import keys

    path = _store(ctx, encrypted_already=True)
    sweep_leftovers(path, keys.key_file_path(), new_key_file)
    with program(ctx) as prog:
        previous = prog.store.key
        key = keys.new_key(path, like=previous, new_key_file=new_key_file)
        aside = keys.previous_entry(path) if previous.source == "keyring" else None
        where = {"key file": f"the key file {previous.key_file}, left as it was",
                 "keyring": f"the OS keyring entry '{aside}' (service {keys.SERVICE})"
                 }.get(previous.source, "the key typed before")

        def done() -> None:
            say(f"rekeyed {path} (key: {key.describe()}); the old key no longer opens it")
            warn(f"note: backups made before this rekey open with the previous key only: {where}")
            if key.source == "key file":
                say(f"from now on this store opens with the new key file: set {keys.KEY_FILE_VARIABLE}={key.key_file}")

        prog.store.reencrypt(key, keys.kept(path, key, previous, aside), action="rekey", actor=prog.actor,
                             details={"key": key.describe(), "previous_key": where}, then=done)


def decrypt(ctx: typer.Context,
            out: Annotated[Path, typer.Option("--out", metavar="FILE", help="A new file for the plain copy (0600).")]
            ) -> None:
    """Write a plain (unencrypted) copy of an encrypted store, for a program that must hand one over;
    the store itself stays encrypted. Recorded in the audit trail as an export."""
    path = _store(ctx, encrypted_already=True)
    sweep_leftovers(path, out)
    with program(ctx) as prog:
        prog.store.backup_to(out, plain=True, what="plain copy", record=lambda: prog.store.append_audit(
            "export", "store", out.name, {"plain_copy": str(out)}, actor=prog.actor))
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

