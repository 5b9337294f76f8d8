"""The store: connect, migrate, write with audit, read.

One SQLite file. Every connection enforces foreign keys, runs in WAL mode with
synchronous=FULL and waits up to 10 s for a lock. Every read-then-write runs
inside BEGIN IMMEDIATE, so concurrent writers queue instead of losing work.
Writes go through `insert`/`update`, which append the audit entry in the same
transaction. sqlite-utils serves the read side (listings, counts, schema).
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from vpslog.audit import CHAINED, GENESIS, entry_hash, first_break, text_digest
from vpslog.errors import InputError, StoreError
from vpslog.parsing import pick_prefix
from vpslog.store import schema
from vpslog.store.research import ResearchQueries
from vpslog.store.sql import where as _where

BUSY_TIMEOUT_MS = 10_000
NOTE_FIELDS = frozenset({"note", "detail"})
"""Free text kept only in its own row: the audit trail records a keyed digest."""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def create_private_file(path: Path) -> None:
    """Create `path` readable by its owner only, and any missing folder 0700."""
    missing = [p for p in reversed(path.parents) if not p.exists()]
    for folder in missing:
        folder.mkdir(mode=0o700)
        os.chmod(folder, 0o700)  # mkdir's mode is filtered by the umask
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    os.chmod(path, 0o600)


def to_row(record) -> dict:
    """A model as a row: code lists joined with `;`, booleans as 0/1, mappings as JSON."""
    row = record.model_dump(mode="json")
    for key, value in row.items():  # in place: this runs once per imported row
        kind = type(value)
        if kind is list:
            row[key] = ";".join(value)
        elif kind is bool:
            row[key] = int(value)
        elif kind is dict:
            row[key] = json.dumps(value, sort_keys=True)
    return row

class Store(ResearchQueries):
    """An open vpslog store. Create with `Store.open`; close when done."""

    def __init__(self, path: Path, conn: sqlite3.Connection, secret: bytes | None):
        self.path = path
        self.conn = conn
        self._secret = secret

    # -- opening -----------------------------------------------------------

    @classmethod
    def open(cls, path: Path, secret: bytes | None = None, *, create: bool = False) -> Store:
        """Open (and migrate) the store at `path`; `create` makes a new 0600 file."""
        path = Path(path)
        if not path.exists():
            if not create:
                raise StoreError(f"no store at {path}: create one with `vpslog init` (or choose another with --db)")
            create_private_file(path)
        try:
            conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path} is not a vpslog store: {exc}") from None
        store = cls(path, conn, secret)
        store.migrate()
        return store

    def close(self) -> None:
        self.conn.close()

    def migrate(self) -> None:
        """Bring an older store up to SCHEMA_VERSION in one transaction; refuse a newer one."""
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > schema.SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {version}, newer than this vpslog understands "
                f"({schema.SCHEMA_VERSION}): upgrade vpslog"
            )
        if version == schema.SCHEMA_VERSION:
            return
        with self.transaction():
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]  # another process may have won
            for statements in schema.MIGRATIONS[version:]:
                for statement in statements:
                    self.conn.execute(statement)
            self.conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION}")
            if version == 0:
                self.conn.execute("INSERT INTO meta VALUES ('created_at', ?)", (_now(),))

    def others_can_read(self) -> bool:
        return bool(self.path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))

    @property
    def db(self):
        """A sqlite-utils view of the same connection, for the read side."""
        import sqlite_utils

        return sqlite_utils.Database(self.conn)

    # -- transactions and writes -------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back whole on any error.

        Inside an open transaction it joins that one, so a bulk job (the demo,
        an import) can wrap many changes into a single all-or-nothing commit.
        """
        if self.conn.in_transaction:
            yield
            return
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"{self.path} is busy or unwritable: {exc}") from None
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def secret(self) -> bytes:
        if self._secret is None:
            raise StoreError("the project secret is missing, so the audit trail cannot be written or checked")
        return self._secret

    def insert(self, table: str, record, *, actor: str, reason: str | None = None, action: str = "insert") -> None:
        row = to_row(record)
        columns = ", ".join(f'"{c}"' for c in row)
        marks = ", ".join("?" for _ in row)
        self._write(f'INSERT INTO "{table}" ({columns}) VALUES ({marks})', list(row.values()))
        self._audit(action, table, row["id"], None, row, actor, reason)

    def update(self, table: str, record, *, actor: str, reason: str | None, action: str = "amend") -> None:
        """Replace a row with `record`; the audit keeps only the fields that changed."""
        row = to_row(record)
        before = self.get(table, row["id"])
        changed = {k: v for k, v in row.items() if before[k] != v}
        if not changed:
            raise InputError(f"nothing to change in {table} {row['id'][:8]}: give at least one new value")
        sets = ", ".join(f'"{c}" = ?' for c in changed)
        self._write(f'UPDATE "{table}" SET {sets} WHERE id = ?', [*changed.values(), row["id"]])
        self._audit(action, table, row["id"], {k: before[k] for k in changed}, changed, actor, reason)

    def _write(self, sql: str, params: list) -> None:
        try:
            self.conn.execute(sql, params)
        except sqlite3.IntegrityError as exc:
            raise InputError(f"the store refused the record: {exc}") from None

    def _audit(self, action, table, record_id, before, after, actor, reason) -> None:
        secret = self.secret()

        def image(row):
            if row is None:
                return None
            row = {k: text_digest(secret, v) if k in NOTE_FIELDS and v else v for k, v in row.items()}
            return json.dumps(row, sort_keys=True, ensure_ascii=False)

        self._chain(_now(), actor, action, table, record_id, image(before), image(after), reason)

    def _chain(self, at, actor, action, table, record_id, before, after, reason) -> None:
        """Append one entry (stored values) to the hash chain and move the head."""
        secret = self.secret()
        head = self.audit_head()
        seq, prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS)
        values = [seq, at, actor, action, table, record_id, before, after, reason, prev_hash]
        digest = entry_hash(secret, values)
        self.conn.execute(f"INSERT INTO audit ({', '.join(CHAINED)}, hash) VALUES ({', '.join('?' * 11)})", [*values, digest])
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('audit_head', ?)", (f"{seq}:{digest}",))

    def adopt_audit(self, entry: dict) -> None:
        """Re-chain an audit entry brought from another store (merge), keeping its content and time."""
        self._chain(entry["at"], entry["actor"], entry["action"], entry["tbl"], entry["record_id"],
                    entry["before"], entry["after"], entry["reason"])

    def append_audit(self, action: str, table: str, record_id: str, after: dict, *, actor: str,
                     reason: str | None = None) -> None:
        """An audit entry for an event that is not a row (an export, an import)."""
        self._audit(action, table, record_id, None, after, actor, reason)

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # -- reads ---------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def audit_head(self) -> tuple[int, str] | None:
        head = self.meta("audit_head")
        if head is None:
            return None
        seq, digest = head.split(":")
        return int(seq), digest

    def get(self, table: str, record_id: str) -> dict | None:
        row = self.conn.execute(f'SELECT * FROM "{table}" WHERE id = ?', (record_id,)).fetchone()
        return dict(row) if row else None

    def resolve(self, table: str, text: str, what: str) -> str:
        """The id that `text` is, or uniquely begins; else a helpful refusal."""
        if self.conn.execute(f'SELECT 1 FROM "{table}" WHERE id = ?', (text,)).fetchone():
            return text
        matches = [r[0] for r in self.conn.execute(
            f'SELECT id FROM "{table}" WHERE id >= ? AND id < ? ORDER BY id LIMIT 6', (text, text + "\U0010ffff"))]
        universe = [] if matches else [r[0] for r in self.conn.execute(f'SELECT id FROM "{table}" ORDER BY id LIMIT 5000')]
        return pick_prefix(text, matches, universe, what)

    def count(self, table: str) -> int:
        return self.conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]

    def record_counts(self) -> dict[str, int]:
        return {table: self.count(table) for table in schema.TABLES}

    def rows(self, table: str, order: str = "id") -> list[dict]:
        return list(self.db.query(f'SELECT * FROM "{table}" ORDER BY {order}'))

    def participants(self, site: str | None = None, status: str | None = None) -> list[dict]:
        sql, params = _where({"site_id = ?": site, "status = ?": status})
        return list(self.db.query(f"SELECT * FROM participant{sql} ORDER BY id", params))

    def participant_summary(self, participant_id: str) -> dict:
        """Session counts and first/last contact of one participant (voided excluded)."""
        row = self.conn.execute(
            """SELECT count(*) AS sessions,
                      coalesce(sum(type = 'individual'), 0) AS individual,
                      coalesce(sum(minutes), 0) AS minutes,
                      min(date) AS first_session, max(date) AS last_session
               FROM session WHERE participant_id = ? AND voided = 0""",
            (participant_id,),
        ).fetchone()
        return dict(row)

    def latest_screening(self, participant_id: str) -> dict | None:
        row = self.conn.execute(
            "SELECT * FROM screening WHERE participant_id = ? ORDER BY date DESC, entered_at DESC LIMIT 1",
            (participant_id,)).fetchone()
        return dict(row) if row else None

    def allocations_at(self, site_id: str) -> int:
        return self.conn.execute("SELECT count(*) FROM allocation WHERE site_id = ?", (site_id,)).fetchone()[0]

    def last_session_date(self, participant_id: str) -> str | None:
        return self.participant_summary(participant_id)["last_session"]

    def sessions(
        self,
        *,
        participant: str | None = None,
        specialist: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int | None = None,
        include_voided: bool = False,
    ) -> list[dict]:
        """Sessions newest first, filtered; voided ones only when asked."""
        return self._logged("session", {"participant_id = ?": participant, "specialist_id = ?": specialist},
                            since, until, limit, include_voided)

    def supervisions(self, *, specialist: str | None = None, since: str | None = None, until: str | None = None,
                     limit: int | None = None, include_voided: bool = False) -> list[dict]:
        """Supervision meetings newest first, filtered; voided ones only when asked."""
        return self._logged("supervision", {"specialist_id = ?": specialist}, since, until, limit, include_voided)

    def milestones(self, *, participant: str | None = None, since: str | None = None, until: str | None = None,
                   limit: int | None = None, include_voided: bool = False) -> list[dict]:
        """Vocational milestones newest first, filtered; voided ones only when asked."""
        return self._logged("milestone", {"participant_id = ?": participant}, since, until, limit, include_voided)

    def _logged(self, table: str, conditions: dict, since: str | None, until: str | None,
                limit: int | None, include_voided: bool) -> list[dict]:
        """Rows of a table of logged events (dated, voidable) newest first, filtered by `conditions`
        and the dates `since`..`until` (both included)."""
        sql, params = _where({
            **conditions,
            "date >= ?": since,
            "date <= ?": until,
            "voided = 0": None if include_voided else True,
        })
        tail = f" LIMIT {int(limit)}" if limit else ""
        return list(self.db.query(f'SELECT * FROM "{table}"{sql} ORDER BY date DESC, entered_at DESC{tail}', params))

    def verify_audit(self) -> str | None:
        """None when the whole chain verifies, else why it breaks at the first bad entry."""
        return first_break(self.secret(), self.audit_entries(), self.audit_head())

    def audit_entries(self, table: str | None = None, record_id: str | None = None) -> Iterator[dict]:
        sql, params = _where({"tbl = ?": table, "record_id = ?": record_id})
        cursor = self.conn.execute(f"SELECT * FROM audit{sql} ORDER BY seq", params)
        return (dict(row) for row in cursor)

    # -- copies and health --------------------------------------------------------

    @classmethod
    def open_readonly(cls, path: Path) -> Store:
        """Another store, read only (for merge): never migrated or written."""
        if not Path(path).exists():
            raise StoreError(f"no store at {path}")
        try:
            conn = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True, isolation_level=None)
            conn.row_factory = sqlite3.Row
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path} is not a vpslog store: {exc}") from None
        if version != schema.SCHEMA_VERSION:
            conn.close()
            raise StoreError(f"{path} has schema version {version}; merge needs {schema.SCHEMA_VERSION} "
                             f"(open it once with this vpslog to migrate it)")
        return cls(Path(path), conn, None)

    def backup_to(self, dest: Path) -> None:
        """A consistent copy (SQLite's online backup API, safe while others write), created 0600."""
        if dest.exists():
            raise InputError(f"{dest} already exists; choose a new file for the backup")
        create_private_file(dest)
        target = sqlite3.connect(dest)
        try:
            self.conn.backup(target)
        finally:
            target.close()

    def health(self) -> list[tuple[str, str | None]]:
        """(check, problem or None) for integrity, foreign keys and the audit chain."""
        integrity = [row[0] for row in self.conn.execute("PRAGMA integrity_check")]
        keys = self.conn.execute("PRAGMA foreign_key_check").fetchall()
        return [
            ("integrity_check", None if integrity == ["ok"] else "; ".join(integrity[:5])),
            ("foreign_key_check", None if not keys else
             f"{len(keys)} rows refer to missing records (first: {keys[0][0]} row {keys[0][1]} -> {keys[0][2]})"),
            ("audit chain", self.verify_audit() if self._secret is not None else "the project secret is missing"),
        ]

