"""`vpslog import`, `backup`, `merge` and `doctor`: data in, copies out, health checks."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from vpslog.commands.common import program, say


def import_(
    ctx: typer.Context,
    table: Annotated[str, typer.Argument(help="participants, sessions, supervision, milestones (or any exported table).")],
    file: Annotated[Path, typer.Argument(metavar="FILE.csv", help="A CSV with the export's header.")],
) -> None:
    """Import a CSV: every row validated, every bad row reported, nothing written unless all are good."""
    from vpslog.importer import import_csv
    from vpslog.tables import resolve_tables

    [spec] = resolve_tables([table])
    with program(ctx) as prog:
        result = import_csv(prog, spec, file)
    say(f"imported {result.inserted} {spec.name} from {file} ({result.skipped} identical rows already present)")


def backup(ctx: typer.Context,
           dest: Annotated[Path, typer.Argument(metavar="DEST", help="A new file for the copy (created 0600).")]) -> None:
    """Copy the store consistently (SQLite online backup), even while others are writing."""
    with program(ctx) as prog:
        prog.store.backup_to(dest)
    say(f"backed up {prog.store.path} to {dest}")


def merge(ctx: typer.Context,
          other: Annotated[Path, typer.Argument(metavar="OTHER.db", help="Another vpslog store, e.g. a laptop's.")],
          secret: Annotated[Optional[Path], typer.Option(
              "--secret", metavar="FILE", help="The other store's project secret file (default: this project's).")
          ] = None,
          key_file: Annotated[Optional[Path], typer.Option(
              "--key-file", metavar="FILE", help="The other store's key file (0600), when it is encrypted "
                                                 "(default: the key from $VPSLOG_KEY_FILE, the keyring or typed).")
          ] = None) -> None:
    """Verify another store's audit trail, then bring in its new records and their audit history;
    refuse on a trail that does not verify or on any conflict."""
    from vpslog.merge import merge as run_merge

    with program(ctx) as prog:
        result = run_merge(prog, other, secret, key_file)
    added = ", ".join(f"{n} {table}" for table, n in result.inserted.items() if n) or "nothing new"
    say(f"merged {other}: {added}; {sum(result.skipped.values())} identical records skipped; "
        f"{result.audit_entries} audit entries brought in")


def doctor(ctx: typer.Context) -> None:
    """Check integrity, foreign keys, the audit trail (chain, witness, every record against its trail,
    triggers) and file permissions (the key file's too); say whether the store is encrypted; list each
    problem and exit 3 on any. An encrypted store whose key file may not be used (others can read
    it, it is missing) is not opened: that is reported with the other files' permissions, and the
    rest is not checked. Temp files that vpslog commands killed mid-way left beside these files are
    removed and listed; a plain copy left beside an encrypted store is a problem (fixed, but its
    blocks may stay on disk)."""
    from vpslog import config
    from vpslog.errors import StoreError
    from vpslog.files import sweep_temp_files
    from vpslog.keys import key_file_path, key_file_problem
    from vpslog.render import Format, emit
    from vpslog.store.base import encrypted

    path = ctx.find_root().obj.db_path
    key_file = key_file_path()
    secured = encrypted(path)
    swept = [(leftover, secured and plain) for file in (path, config.secret_path(), config.witness_path(path), key_file)
             if file for leftover, plain in sweep_temp_files(file)]
    unusable = secured and key_file is not None and key_file_problem(key_file)
    if unusable:
        encryption = "encrypted (SQLCipher); not opened, as its key file may not be used: nothing else was checked"
        checks = [("key file", unusable)]
    else:
        with program(ctx) as prog:
            checks = prog.store.health()
            path = prog.store.path
            encryption = (f"encrypted (SQLCipher), key from {prog.store.key.describe()}; {_key_dates(prog.store)}"
                          if prog.store.key else
                          "not encrypted: whoever gets the file can read it (`vpslog encrypt` encrypts it)")
    files = [p for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"),
                         config.secret_path(), config.witness_path(path), None if unusable else key_file)
             if p and p.exists()]
    for file in files:
        loose = file.stat().st_mode & 0o077
        checks.append((f"permissions of {file.name}", f"readable by others; fix with: chmod 600 {file}" if loose else None))
    checks += [("leftover plain copy", f"removed {leftover}, a copy of the store in clear left by an interrupted "
                "vpslog command (its blocks may stay on disk)") for leftover, clear in swept if clear]
    removed = [{"check": "leftover temp file", "result": f"removed {leftover} (left by an interrupted vpslog command)"}
               for leftover, clear in swept if not clear]
    emit([{"check": "encryption", "result": encryption}] + removed +
         [{"check": name, "result": problem or "ok"} for name, problem in checks], ("check", "result"), Format.table,
         f"doctor: {path}")
    problems = [name for name, problem in checks if problem]
    if problems:
        raise StoreError(f"{len(problems)} problem{'s' if len(problems) != 1 else ''}: "
                         f"{', '.join(dict.fromkeys(problems))}")


def _key_dates(store) -> str:
    """When, and by whom, an encrypted store was encrypted (or that it was made so, as `init --encrypt`
    marks it) and its key last changed, from the latest `encrypt` and `rekey` entries of its trail."""
    latest = {e["action"]: e for e in store.audit_events() if e["action"] in ("encrypt", "rekey")}  # by seq
    encrypt, rekey = latest.get("encrypt"), latest.get("rekey")
    dates = [f"encrypted {encrypt['at']} by {encrypt['actor']}" if encrypt else
             f"encrypted since it was made ({store.meta('created_at')})" if store.meta("made_encrypted") else
             "its trail does not say when it was encrypted (made or encrypted by a vpslog older than that record)"]
    return "; ".join(dates + ([f"key last changed {rekey['at']} by {rekey['actor']}"] if rekey else []))
