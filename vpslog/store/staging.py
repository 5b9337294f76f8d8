"""Staging a bulk import: validated rows and their chained audit entries wait in
connection-private TEMP tables, written without the store's write lock, until
one short transaction moves them into the store (`commit_staged`).

The entries are chained from the head the import started from; if others wrote
meanwhile, `restage_chain` numbers and links them again from the new head.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

from vpslog.audit import CHAINED, chained, image
from vpslog.errors import InputError

REFERENCE_TABLES = ("participant", "specialist", "site")
"""Tables an imported row is validated against: a change there means validating again."""
_AUDIT = ", ".join(CHAINED) + ", hash"


class Staging:
    """Mixed into Store: the staging side of `vpslog import`."""

    def begin_staging(self, table: str, head: tuple[int, str] | None, *, actor: str, reason: str) -> None:
        self.drop_staged()
        self.conn.execute(f'CREATE TEMP TABLE import_rows AS SELECT * FROM main."{table}" WHERE 0')
        self.conn.execute("CREATE UNIQUE INDEX temp.import_rows_id ON import_rows (id)")
        self.conn.execute(f"CREATE TEMP TABLE import_audit ({_AUDIT})")
        self._staging = {"table": table, "head": head, "actor": actor, "reason": reason,
                         "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}

    def stage_rows(self, rows: list[dict]) -> list[tuple[int, str]]:
        """Stage rows and their audit entries; (index, problem) for each row refused (an id twice)."""
        refused = self.insert_rows("import_rows", rows, schema="temp")
        skip = {index for index, _ in refused}
        staging, secret = self._staging, self.secret()
        entries = chained(secret, staging["head"], (
            (staging["at"], staging["actor"], "insert", staging["table"], row["id"], None,
             json.dumps(image(secret, row), sort_keys=True, ensure_ascii=False), staging["reason"])
            for index, row in enumerate(rows) if index not in skip))
        for entry in entries:  # one at a time, so the head moves on however the batch ends
            self.conn.execute(f"INSERT INTO temp.import_audit VALUES ({', '.join('?' * 11)})", entry)
            staging["head"] = (entry[0], entry[-1])
        return refused

    def changed_since(self, seq: int, table: str) -> bool:
        """Whether writes after entry `seq` could change the staged rows' validity: a participant,
        specialist or site changed, or a row with a staged id was added."""
        marks = ", ".join("?" * len(REFERENCE_TABLES))
        if self.conn.execute(f"SELECT EXISTS (SELECT 1 FROM audit WHERE seq > ? AND tbl IN ({marks}))",
                             (seq, *REFERENCE_TABLES)).fetchone()[0]:
            return True
        return bool(self.conn.execute(
            f'SELECT EXISTS (SELECT 1 FROM temp.import_rows s JOIN main."{table}" t ON t.id = s.id)').fetchone()[0])

    def restage_chain(self, head: tuple[int, str] | None) -> None:
        """Number and link the staged entries again, after `head` (others wrote meanwhile)."""
        self.conn.execute(f"CREATE TEMP TABLE import_audit_new ({_AUDIT})")
        old = self.conn.execute(f"SELECT {', '.join(CHAINED[1:-1])} FROM temp.import_audit ORDER BY seq")
        last = head
        for entry in chained(self.secret(), head, old):
            self.conn.execute(f"INSERT INTO temp.import_audit_new VALUES ({', '.join('?' * 11)})", entry)
            last = (entry[0], entry[-1])
        self.conn.execute("DROP TABLE temp.import_audit")
        self.conn.execute("ALTER TABLE temp.import_audit_new RENAME TO import_audit")
        self._staging["head"] = last

    def commit_staged(self, table: str) -> None:
        """Inside the caller's write transaction: the staged rows and their entries, and the new head."""
        columns = ", ".join(f'"{c}"' for c in self.columns(table))
        try:
            self.conn.execute(f'INSERT INTO main."{table}" ({columns}) SELECT {columns} FROM temp.import_rows '
                              "ORDER BY rowid")
        except sqlite3.IntegrityError:
            record_id, problem = self._first_refused(table, columns)
            raise InputError(f"the store refused the imported row with id {record_id} ({problem}); "
                             "nothing was imported") from None
        self.conn.execute(f"INSERT INTO main.audit ({_AUDIT}) SELECT {_AUDIT} FROM temp.import_audit ORDER BY seq")
        if self._staging["head"] is not None:
            self.set_head(*self._staging["head"])

    def _first_refused(self, table: str, columns: str) -> tuple[str, str]:
        """Which staged row the store's constraints refuse (rare: the models check the same), by id."""
        self.conn.execute("SAVEPOINT probe")
        try:
            for rowid, record_id in self.conn.execute("SELECT rowid, id FROM temp.import_rows ORDER BY rowid").fetchall():
                try:
                    self.conn.execute(f'INSERT INTO main."{table}" ({columns}) SELECT {columns} '
                                      "FROM temp.import_rows WHERE rowid = ?", (rowid,))
                except sqlite3.IntegrityError as exc:
                    return record_id, str(exc)
            return "?", "unknown"
        finally:
            self.conn.execute("ROLLBACK TO probe")
            self.conn.execute("RELEASE probe")

    def drop_staged(self) -> None:
        self.conn.execute("DROP TABLE IF EXISTS temp.import_rows")
        self.conn.execute("DROP TABLE IF EXISTS temp.import_audit")
        self.conn.execute("DROP TABLE IF EXISTS temp.import_audit_new")

    def columns(self, table: str) -> list[str]:
        return [row[1] for row in self.conn.execute(f'PRAGMA main.table_info("{table}")')]
