"""Staging a bulk import: validated rows and their audit images wait in
connection-private TEMP tables, written without the store's write lock, until
one transaction moves them into the store (`commit_staged`), chaining one audit
entry per row after whatever head the trail has by then.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from vpslog.audit import CHAINED, chained, image, stored_image
from vpslog.errors import InputError

REFERENCE_TABLES = ("participant", "specialist", "site")
"""Tables an imported row is validated against: a change there means validating again."""


class Staging:
    """Mixed into Store: the staging side of `vpslog import`."""

    def begin_staging(self, table: str, *, actor: str, reason: str) -> None:
        self.drop_staged()
        self.conn.execute(f'CREATE TEMP TABLE import_rows AS SELECT * FROM main."{table}" WHERE 0')
        self.conn.execute("CREATE UNIQUE INDEX temp.import_rows_id ON import_rows (id)")
        self.conn.execute("CREATE TEMP TABLE import_audit (record_id TEXT, after TEXT)")
        self._staging = {"table": table, "actor": actor, "reason": reason,
                         "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}

    def stage_rows(self, rows: list[dict]) -> list[tuple[int, str]]:
        """Stage rows and their audit images; (index, problem) for each row refused (an id twice)."""
        refused = self.insert_rows("import_rows", rows, schema="temp")
        skip, secret = {index for index, _ in refused}, self.secret()
        self.conn.executemany("INSERT INTO temp.import_audit VALUES (?, ?)", (
            (row["id"], stored_image(image(secret, row))) for index, row in enumerate(rows) if index not in skip))
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

    def commit_staged(self, table: str) -> None:
        """Inside the caller's write transaction: the staged rows, then one chained entry each."""
        columns = ", ".join(f'"{c}"' for c in self.columns(table))
        try:
            self.conn.execute(f'INSERT INTO main."{table}" ({columns}) SELECT {columns} FROM temp.import_rows '
                              "ORDER BY rowid")
        except sqlite3.IntegrityError:
            record_id, problem = self._first_refused(table, columns)
            raise InputError(f"the store refused the imported row with id {record_id} ({problem}); "
                             "nothing was imported") from None
        self.check_key()
        staging, head = self._staging, self.audit_head()
        images = self.conn.execute("SELECT record_id, after FROM temp.import_audit ORDER BY rowid")
        entries = chained(self.secret(), head, (
            (staging["at"], staging["actor"], "insert", staging["table"], record_id, None, after, staging["reason"])
            for record_id, after in images))
        marks = ", ".join("?" * (len(CHAINED) + 1))
        self.conn.executemany(f"INSERT INTO main.audit ({', '.join(CHAINED)}, hash) VALUES ({marks})", entries)
        last = self.conn.execute("SELECT seq, hash FROM main.audit ORDER BY seq DESC LIMIT 1").fetchone()
        if last is not None and (head is None or last[0] > head[0]):
            self.set_head(last[0], last[1])

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

    def columns(self, table: str) -> list[str]:
        return [row[1] for row in self.conn.execute(f'PRAGMA main.table_info("{table}")')]
