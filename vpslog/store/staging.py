"""Staging a bulk import: validated rows wait in a connection-private TEMP table,
written without the store's write lock, until one transaction moves them into the
store (`commit_staged`), chaining one audit entry per row after whatever head the
trail has by then.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from vpslog.audit import CHAINED, chained, image, stored_image
from vpslog.errors import InputError
from vpslog.parsing import utc_stamp

REFERENCE_TABLES = ("participant", "specialist", "site")
"""Tables an imported row is validated against: a change there means validating again."""


class StagedRowRefused(InputError):
    """The store's constraints refused a staged row: the import names its file line from `position`."""

    def __init__(self, position: int, record_id: str, problem: str):
        super().__init__(f"the store refused the imported row with id {record_id} ({problem}); nothing was imported")
        self.position = position


class Staging:
    """Mixed into Store: the staging side of `vpslog import`."""

    @contextmanager
    def staging(self, table: str, *, actor: str, reason: str) -> Iterator[None]:
        """Stage rows of `table` (stage_rows) inside one savepoint: written batch by batch in
        autocommit, the temp table would commit (and spill its cache) once per batch."""
        self.drop_staged()
        self.conn.execute(f'CREATE TEMP TABLE import_rows AS SELECT * FROM main."{table}" WHERE 0')
        self._staging = {"table": table, "actor": actor, "reason": reason,
                         "at": utc_stamp()}
        self.conn.execute("SAVEPOINT staging")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK TO staging")
            raise
        finally:
            self.conn.execute("RELEASE staging")

    def stage_rows(self, rows: list[dict]) -> None:
        """Stage rows (the staging table has no constraints: index_staged finds an id given twice)."""
        self.insert_rows("import_rows", rows, schema="temp")

    def index_staged(self) -> list[tuple[int, str]]:
        """Index the staged rows by id once they are all in (one sort, where an index kept while
        staging costs a random insert per row). (position from 1, id) of each row whose id an
        earlier row has; then there is no index (the import is refused)."""
        try:
            self.conn.execute("CREATE UNIQUE INDEX temp.import_rows_id ON import_rows (id)")
            return []
        except self.dbapi.IntegrityError:
            pass
        seen, again = set(), []
        for position, record_id in self.conn.execute(
                "SELECT rowid, id FROM temp.import_rows WHERE id IN "
                "(SELECT id FROM temp.import_rows GROUP BY id HAVING count(*) > 1) ORDER BY rowid"):
            if record_id in seen:
                again.append((position, record_id))
            seen.add(record_id)
        return again

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
        except self.dbapi.IntegrityError:
            raise StagedRowRefused(*self._first_refused(table, columns)) from None
        self.check_key()
        staging, head, secret = self._staging, self.audit_head(), self.secret()
        rows = self.conn.cursor()
        rows.row_factory = None  # tuples: a Row per staged row costs more than its image
        rows.execute("SELECT * FROM temp.import_rows ORDER BY id")  # the order of the audit's index
        names = [column[0] for column in rows.description]
        entries = chained(secret, head, (
            (staging["at"], staging["actor"], "insert", staging["table"], row["id"], None,
             stored_image(image(secret, row)), staging["reason"]) for row in (dict(zip(names, values))
                                                                             for values in rows)))
        marks = ", ".join("?" * (len(CHAINED) + 1))
        self.conn.executemany(f"INSERT INTO main.audit ({', '.join(CHAINED)}, hash) VALUES ({marks})", entries)
        last = self.conn.execute("SELECT seq, hash FROM main.audit ORDER BY seq DESC LIMIT 1").fetchone()
        if last is not None and (head is None or last[0] > head[0]):
            self.set_head(last[0], last[1])

    def _first_refused(self, table: str, columns: str) -> tuple[int, str, str]:
        """Which staged row the store's constraints refuse (rare: the models check the same): its
        position among the staged rows (from 1), its id, and why."""
        self.conn.execute("SAVEPOINT probe")
        try:
            for rowid, record_id in self.conn.execute("SELECT rowid, id FROM temp.import_rows ORDER BY rowid").fetchall():
                try:
                    self.conn.execute(f'INSERT INTO main."{table}" ({columns}) SELECT {columns} '
                                      "FROM temp.import_rows WHERE rowid = ?", (rowid,))
                except self.dbapi.IntegrityError as exc:
                    return rowid, record_id, str(exc)
            return 0, "?", "unknown"
        finally:
            self.conn.execute("ROLLBACK TO probe")
            self.conn.execute("RELEASE probe")

    def drop_staged(self) -> None:
        self.conn.execute("DROP TABLE IF EXISTS temp.import_rows")

    def columns(self, table: str) -> list[str]:
        return [row[1] for row in self.conn.execute(f'PRAGMA main.table_info("{table}")')]
