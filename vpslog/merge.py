"""`vpslog merge`: bring another store's records (and their audit history) in.

The other store's chain and records are verified against its trail first (with
its project's secret), so a forged entry is refused, not adopted. Each new record
then meets the same model and rules as one typed or imported (a date in the
future, a session by an inactive specialist or outside enrollment, ...), against
this store and the records merged with it; one refused record refuses the whole
merge. New records are inserted, identical ones skipped; a record with the same id and different
content is a conflict, and any conflict refuses the whole merge. The other
store's audit entries for the records brought in are re-chained into this
store's trail, keeping their time, actor and content (note digests re-keyed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from vpslog.audit import rekey_notes
from vpslog.config import read_secret
from vpslog.errors import InputError, StoreError
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


def merge(prog, other_path: Path, secret_file: Path | None = None, key_file: Path | None = None) -> MergeResult:
    """Bring in `other_path`'s new records once its trail verifies, under its own secret
    (`secret_file`) or, by default, this project's; an encrypted one opened with the key in `key_file`,
    else from the same sources as this store's."""
    store = prog.store
    prog.check_actor()  # the merge's own entry names who merged
    if Path(other_path).resolve() == store.path.resolve():
        raise InputError("a store cannot be merged into itself")
    other_secret = _other_secret(store, secret_file)
    other = Store.open_readonly(other_path, other_secret, key_file)
    try:
        with other.snapshot():  # what was verified is what is copied, without our write lock meanwhile
            _verified(other, other_path, secret_file)
            with store.transaction():
                inserted, skipped, conflicts, brought = {}, {}, [], {}
                known = _Known(store)
                for spec in TABLES.values():
                    theirs = other.rows(spec.table, order="rowid")
                    ours = store.rows_by_id(spec.table, [row["id"] for row in theirs])
                    new = []
                    for row in theirs:
                        mine = ours.get(row["id"])
                        if mine is None:
                            new.append(_checked(prog, spec.table, row, other_path, known))
                        elif mine != row:
                            changed = next(k for k in row if mine.get(k) != row[k])
                            conflicts.append(f"{spec.name} {row['id']}: differs in {changed}")
                    inserted[spec.name], skipped[spec.name] = len(new), len(theirs) - len(new)
                    if not conflicts:
                        refused = store.insert_rows(spec.table, new)
                        if refused:
                            raise InputError(f"{other_path}: {spec.name} {new[refused[0][0]]['id']}: {refused[0][1]}")
                        brought |= {(spec.table, row["id"]): row for row in new}
                if conflicts:
                    more = [f"... and {len(conflicts) - SHOWN} more"] if len(conflicts) > SHOWN else []
                    shown = conflicts[:SHOWN] + more
                    raise MergeConflicts(f"{len(conflicts)} conflicts with {other_path}; nothing was merged:\n"
                                         + "\n".join(shown))
                entries = [e for e in other.audit_entries() if (e["tbl"], e["record_id"]) in brought]
                for entry in entries:
                    store.adopt_audit(rekey_notes(entry, brought[(entry["tbl"], entry["record_id"])], other_secret,
                                                  store.secret()))
                store.append_audit("merge", "store", other_path.name, {"file": str(other_path), "inserted": inserted,
                                                                       "skipped": skipped}, actor=prog.actor)
    finally:
        other.close()
    return MergeResult(inserted, skipped, len(entries))


def _other_secret(store, secret_file: Path | None) -> bytes:
    if secret_file is None:
        return store.secret()
    secret = read_secret(secret_file)
    if secret is None:
        raise InputError(f"--secret {secret_file}: no such file")
    return secret


def _verified(other: Store, other_path: Path, secret_file: Path | None) -> None:
    """The other store's chain and every record against its trail, before anything is brought in:
    a forged entry there must not become a genuine-looking one here."""
    if not other.keyed_with_secret():
        if secret_file is None:
            raise StoreError(f"{other_path}: its audit trail is not keyed with this project's secret; pass the "
                             "secret of the project it comes from with --secret FILE; nothing was merged")
        raise StoreError(f"{other_path}: the secret in {secret_file} does not verify its audit trail; "
                         "nothing was merged")
    if problems := other.verify(witness=False):
        more = f" (and {len(problems) - 1} more: run `vpslog --db {other_path} audit verify`)" if len(problems) > 1 else ""
        raise StoreError(f"{other_path}: its audit trail does not verify: {problems[0]}{more}; nothing was merged")


class _Known:
    """The sites, specialists and participants a merged record may name: this store's, and
    those the merge brings in before it (tables are merged sites first, logged events last)."""

    def __init__(self, store: Store):
        self.rows = {table: {row["id"]: row for row in store.rows(table)} for table in ("site", "specialist",
                                                                                      "participant")}
        self.folded = {table: {record_id.upper(): record_id for record_id in self.rows[table]}
                       for table in _STAFF}
        self.opened: dict[str | None, str] = {}
        """The open reviews the merge brings in, by site (one open review per site)."""

    def named(self, column: str, row: dict) -> dict | None:
        """The row that `column` of `row` names (None when it names none: a whole-program review has
        no site); refused when it names one that is not there."""
        table = column.removesuffix("_id")
        if row[column] is None:
            return None
        if (found := self.rows[table].get(row[column])) is None:
            raise InputError(f"{column}: unknown {table} {row[column]!r}")
        return found

    def add(self, table: str, row: dict) -> None:
        """A new record of `table`; a site or specialist id that differs from one already known
        only in case is refused, as `site add` and `specialist add` refuse it."""
        if table in _STAFF:
            if (taken := self.folded[table].get(row["id"].upper())) is not None:
                raise InputError(f"{table} {taken} already exists (ids that differ only in case name one {table})")
            self.folded[table][row["id"].upper()] = row["id"]
        if table in self.rows:
            self.rows[table][row["id"]] = row


_STAFF = ("site", "specialist")


def _checked(prog, table: str, row: dict, other_path: Path, known: _Known) -> dict:
    """A new row from the other store, validated by the same model (its codes must be in our
    curriculum) and the same rules as `log`, `import` and the rest (core.Program.check_record),
    against this store plus what the merge brings in; refused naming the table and id."""
    try:
        record = RECORDS[table].model_validate(row, context={"catalog": prog.catalog})
        checked = to_row(record)
        names = {column: known.named(column, checked) for column in ("site_id", "specialist_id", "participant_id")
                 if column in checked and table != column.removesuffix("_id")}
        prog.check_record(table, record, person=names.get("participant_id"), specialist=names.get("specialist_id"),
                          opened=known.opened)
        known.add(table, checked)
    except ValidationError as exc:
        raise InputError(f"{other_path}: {table} {row['id']}: {describe(exc)}; nothing was merged") from None
    except InputError as exc:
        raise InputError(f"{other_path}: {table} {row['id']}: {exc}; nothing was merged") from None
    return checked
