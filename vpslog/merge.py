"""`vpslog merge`: bring another store's records (and their audit history) in.

New records are inserted, identical ones skipped; a record with the same id and
different content is a conflict, and any conflict refuses the whole merge. The
other store's audit entries for the records brought in are re-chained into this
store's trail, keeping their time, actor and content.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from vpslog.errors import InputError
from vpslog.models import RECORDS, describe
from vpslog.store import Store, to_row
from vpslog.tables import TABLES

SHOWN = 50


class MergeConflicts(InputError):
    """Records with the same id and different content; nothing was written."""


@dataclass(frozen=True)
class MergeResult:
    inserted: dict[str, int]
    skipped: dict[str, int]
    audit_entries: int


def merge(prog, other_path: Path) -> MergeResult:
    store = prog.store
    if Path(other_path).resolve() == store.path.resolve():
        raise InputError("a store cannot be merged into itself")
    other = Store.open_readonly(other_path)
    try:
        with store.transaction():
            inserted, skipped, conflicts, brought = {}, {}, [], set()
            for spec in TABLES.values():
                theirs = [dict(row) for row in other.conn.execute(f'SELECT * FROM "{spec.table}" ORDER BY rowid')]
                ours = store.rows_by_id(spec.table, [row["id"] for row in theirs])
                new = []
                for row in theirs:
                    mine = ours.get(row["id"])
                    if mine is None:
                        new.append(_checked(prog, spec.table, row, other_path))
                    elif mine != row:
                        changed = next(k for k in row if mine.get(k) != row[k])
                        conflicts.append(f"{spec.name} {row['id']}: differs in {changed}")
                inserted[spec.name], skipped[spec.name] = len(new), len(theirs) - len(new)
                if not conflicts:
                    refused = store.insert_rows(spec.table, new)
                    if refused:
                        raise InputError(f"{other_path}: {spec.name} {new[refused[0][0]]['id']}: {refused[0][1]}")
                    brought |= {(spec.table, row["id"]) for row in new}
            if conflicts:
                shown = conflicts[:SHOWN] + ([f"... and {len(conflicts) - SHOWN} more"] if len(conflicts) > SHOWN else [])
                raise MergeConflicts(f"{len(conflicts)} conflicts with {other_path}; nothing was merged:\n"
                                     + "\n".join(shown))
            entries = [e for e in other.audit_entries() if (e["tbl"], e["record_id"]) in brought]
            for entry in entries:
                store.adopt_audit(entry)
            store.append_audit("merge", "store", other_path.name, {"file": str(other_path), "inserted": inserted,
                                                                   "skipped": skipped}, actor=prog.actor)
    finally:
        other.close()
    return MergeResult(inserted, skipped, len(entries))


def _checked(prog, table: str, row: dict, other_path: Path) -> dict:
    """A row from the other store, validated by the same model (its codes must be in our curriculum)."""
    try:
        return to_row(RECORDS[table].model_validate(row, context={"catalog": prog.catalog}))
    except ValidationError as exc:
        raise InputError(f"{other_path}: {table} {row['id']}: {describe(exc)}") from None
