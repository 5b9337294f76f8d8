"""The store: connect, migrate, write with audit, read.

One SQLite file. Every connection enforces foreign keys, runs in WAL mode with
synchronous=FULL and waits up to 60 s for a lock. Every read-then-write runs
inside BEGIN IMMEDIATE, so concurrent writers queue instead of losing work.
Writes go through `insert`/`update`, which append the audit entry in the same
transaction. sqlite-utils serves the read side (listings, counts, schema).
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from vpslog.audit import (
    CHAINED, EVENT_ACTIONS, NO_RECORD_CHANGED, chained, first_break, image, replay, stored_image, verifies,
    witness_problem,
)
from vpslog.errors import InputError, SavedUnwitnessed, StoreError, system_refused
from vpslog.files import (
    PLAIN_HEADER, create_private_file, create_private_temp_file, fsync_path, new_file_refusal, write_private,
)
from vpslog.parsing import pick_prefix, utc_stamp
from vpslog.store import schema
from vpslog.store.research import ResearchQueries
from vpslog.store.review import ReviewRecords
from vpslog.store.staging import Staging
from vpslog.store.sql import where as _where

TYPE_CHECKING = False
if TYPE_CHECKING:  # quick entry does not pay for vpslog.keys (dataclasses, secrets) on a plain store
    from vpslog.keys import Key

BUSY_TIMEOUT_MS = 60_000
"""How long a command waits for another's write to end: the last step of a 1M-row import holds
the lock for about 20 s (docs/benchmarks.md), and a `log` started meanwhile must wait, not fail."""
SQLITE_BUSY, SQLITE_LOCKED = 5, 6
WAIT_STEP_MS = 200
"""A write waits for another's in steps this long, so that Ctrl-C stops it at once."""
SHOWN_PROBLEMS = 50


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


def file_refusal(path: Path) -> StoreError | None:
    """Why what is at `path` cannot be a store: a folder (the store is a file in it), or a pipe or a
    device (reading one would wait forever); None for a regular file or nothing at all."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISDIR(mode):
        return StoreError(f"{path} is a folder, not a store: name the store's file (e.g. {Path(path) / 'vpslog.db'})")
    if not stat.S_ISREG(mode):
        return StoreError(f"{path} is not a regular file (a pipe or a device), so it cannot be a store")
    return None


def encrypted(path: Path) -> bool:
    """Whether the store file at `path` is encrypted: a plain SQLite file begins with a 16-byte
    header, a SQLCipher one with a random salt, and is whole pages (of 512 bytes or a multiple).
    An empty or missing file is a store yet to be made; any other file is not a store."""
    if (refusal := file_refusal(path)) is not None:
        raise refusal
    try:
        with open(path, "rb") as file:
            head = file.read(16)
            size = os.fstat(file.fileno()).st_size
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise StoreError(f"{path} cannot be read ({exc.strerror})") from None
    return size > 0 and size % 512 == 0 and head != PLAIN_HEADER


def not_a_store(path: Path) -> str | None:
    """Why the plain SQLite file at `path` is no vpslog store, as SQLite itself reads it (read only):
    "an SQLite database of another program", or "an empty file" (an empty database, as a stopped
    `init` leaves one); None for a store, an encrypted file or one that cannot be read."""
    try:
        with open(path, "rb") as file:
            if file.read(len(PLAIN_HEADER)) != PLAIN_HEADER:
                return None
        conn = connect(path, readonly=True)
    except (OSError, StoreError):
        return None
    try:
        return _not_a_store(conn)
    except sqlite3.DatabaseError:
        return None
    finally:
        conn.close()


def file_identity(path: Path) -> tuple[int, int] | None:
    """Which file is at `path` (device, inode): another one once a store was swapped for its copy."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return info.st_dev, info.st_ino


class WrongKey(StoreError):
    """A key that does not open the store (or a file that is not a store)."""


def open_connection(path: Path, key: Key | None = None, key_file: Path | None = None, *, readonly: bool = False,
                    cipher: bool = False):
    """A connection to the store at `path` and the key that opened it: `key` when given; for an
    encrypted store without one, each key its sources offer in turn (vpslog.keys.store_keys) until
    one opens it, refused as a wrong key when none does."""
    if key is not None or cipher or not encrypted(path):
        return connect(path, key, readonly=readonly, cipher=cipher), key
    from vpslog.keys import store_keys

    refusal = None
    for offered in store_keys(path, key_file):
        try:
            return connect(path, offered, readonly=readonly), offered
        except WrongKey as exc:
            refusal = exc
    raise refusal


def key_for(path: Path, key_file: Path | None = None) -> Key | None:
    """The key that opens the store at `path` when it is encrypted; else None."""
    if not encrypted(path):
        return None
    conn, key = open_connection(path, key_file=key_file, readonly=True)
    conn.close()
    return key


def _sqlcipher():
    try:
        from sqlcipher3 import dbapi2
    except ImportError:
        raise StoreError("this store is encrypted (or is not a vpslog store), and SQLCipher is not installed: "
                         "pip install 'vpslog[encrypt]' (Linux x86-64; elsewhere sqlcipher3 built against a "
                         "system SQLCipher)") from None
    return dbapi2


def dbapi_of(conn) -> object:
    """The DB-API module a connection was made by, whose exception classes it raises."""
    return sqlite3 if isinstance(conn, sqlite3.Connection) else _sqlcipher()


def connect(path: Path, key: Key | None = None, *, readonly: bool = False, cipher: bool = False):
    """The one place a connection to a store file is made (rows as Row, autocommit, the busy timeout).

    With a `key` (or `cipher`, for a plain file that is to be exported encrypted) through SQLCipher,
    checked at once: a wrong key is refused in one line, before anything is read or written.
    Without, through the standard sqlite3 module: a plain store never loads sqlcipher3 or keyring."""
    path = Path(path)
    # A URI's path is percent-decoded and ends at `?` or `#`: quoted, `o%41.db` is not `oA.db`.
    target, uri = (f"file:{quote(str(path.resolve()))}?mode=ro", True) if readonly else (str(path), False)
    dbapi = _sqlcipher() if key is not None or cipher else sqlite3
    try:
        conn = dbapi.connect(target, uri=uri, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000,
                             check_same_thread=False)
    except dbapi.DatabaseError as exc:
        raise StoreError(f"{path} cannot be opened: {exc}") from None
    conn.row_factory = dbapi.Row
    if dbapi is not sqlite3:
        conn.execute("PRAGMA cipher_log_level = NONE")  # SQLCipher would log a wrong key's failure on stderr
        if key is not None:
            conn.execute(f"PRAGMA key = {key.pragma}")
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except dbapi.DatabaseError:
            conn.close()
            raise WrongKey(f"{path}: wrong key or not a vpslog store") from None
    return conn


def _listed(actions: frozenset[str]) -> str:
    """Audit actions (names vpslog chose, never input) as an SQL list."""
    return ", ".join(f"'{action}'" for action in sorted(actions))


def _not_a_store(conn) -> str | None:
    """Why an existing file is no vpslog store (an SQLite database of another program, or an empty
    file), or None: a vpslog store has its schema version set from its first transaction on."""
    if conn.execute("PRAGMA user_version").fetchone()[0]:
        return None
    if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
        return "an SQLite database of another program"
    return "an empty file"


def _own_private(path: Path) -> bool:
    """Whether `path` is this user's and readable by nobody else, as vpslog creates every file."""
    info = os.stat(path)
    return info.st_uid == os.getuid() and not info.st_mode & 0o077


def _refuse_if_replaced(path: Path, opened: tuple[int, int] | None) -> None:
    """Say so when the file at `path` is no longer the one this command began with: `encrypt` or
    `rekey` renamed a new copy over it (the old key, or a write to the old file, then fails)."""
    if file_identity(path) != opened:
        raise StoreError(f"{path} was replaced while this command waited (by `vpslog encrypt` or "
                         "`rekey`); nothing was written: run it again")


@contextmanager
def _interrupts_held() -> Iterator[None]:
    """Ctrl-C (any number of times) held back until the block has ended, then taken: in a swap an
    interrupt between the rename and the key's source made final would part the store from its key.
    Held by a handler of its own, not by blocking the signal: a blocked thread's signal goes to any
    other thread of the process, and Python runs its handler in this one all the same."""
    import signal

    pressed = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: pressed.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pressed:  # not when the block failed: its error says what happened
        signal.raise_signal(signal.SIGINT)


class Store(ResearchQueries, ReviewRecords, Staging):
    """An open vpslog store. Create with `Store.open`; close when done."""

    def __init__(self, path: Path, conn: sqlite3.Connection, secret: bytes | None, *,
                 secret_path: Path | None = None, witness: Path | None = None, key: Key | None = None,
                 earlier_witnesses: tuple[Path, ...] = ()):
        self.path = path
        self.conn = conn
        self.dbapi = dbapi_of(conn)
        """The DB-API module of the connection (sqlite3, or sqlcipher3's): its exception classes."""
        self.key = key
        """The key of an encrypted store; None for a plain one."""
        self._secret = secret
        self._secret_path = secret_path
        self._witness = witness
        self._earlier_witnesses = earlier_witnesses
        """Where earlier versions filed this path's witness: read while `witness` is not there yet."""
        self._key_checked = False
        self._new_head: tuple[int, str] | None = None
        self.repaired: list[str] = []
        """What opening the store found broken and mended (the caller tells the user)."""

    # -- opening -----------------------------------------------------------

    @classmethod
    def open(cls, path: Path, secret: bytes | None = None, *, create: bool = False,
             secret_path: Path | None = None, witness: Path | None = None, key: Key | None = None,
             cipher: bool = False, earlier_witnesses: tuple[Path, ...] = ()) -> Store:
        """Open (and migrate) the store at `path`; `create` makes a new 0600 file, encrypted with `key`.

        `secret_path` is where the secret came from (named in errors); `witness` is the
        file outside the store that keeps the audit head (updated after each write). An encrypted
        store's key comes from its sources (vpslog.keys) unless given; `cipher` opens a plain store
        through SQLCipher (to encrypt it)."""
        path = Path(path)
        made = not path.exists()
        if made:
            if not create:
                raise StoreError(f"no store at {path}: create one with `vpslog init` (or choose another with --db)")
            create_private_file(path)
        opened = file_identity(path)  # before the key is read: a swap after it gives the old key a new file
        if (names := os.stat(path).st_nlink) > 1:
            raise StoreError(f"{path} has {names} names (hard links): SQLite keeps a store's write-ahead log beside "
                             "the name it is opened by, so writes through two names can corrupt it, and each name "
                             f"has its own witness, so a trail cut through one goes unseen through the other; keep "
                             f"one name (the others: find / -samefile {path}; a .{path.name}.tmp-…-old beside it is "
                             "`vpslog encrypt` or `rekey` at work, or one killed, which `vpslog doctor` clears)")
        try:
            conn, key = open_connection(path, key, cipher=cipher)
        except StoreError:
            _refuse_if_replaced(path, opened)
            raise
        dbapi = dbapi_of(conn)
        try:
            why = None if made else _not_a_store(conn)  # before anything is written to it
            if why == "an empty file" and create and _own_private(path):
                why = None  # what an init stopped before its first commit left: init takes it up
            if why:
                conn.close()
                emptied = ", or remove it and run `vpslog init`" if why == "an empty file" else ""
                raise StoreError(f"{path} is not a vpslog store ({why}); vpslog makes a store only as a new file: "
                                 f"choose another --db{emptied}")
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
        except dbapi.DatabaseError as exc:
            conn.close()
            _refuse_if_replaced(path, opened)  # SQLite's "readonly database" on a file renamed over
            if system_refused(exc):  # a full or failing disk: exit 74, not a store said to be damaged
                raise
            if os.statvfs(path).f_flag & os.ST_RDONLY:  # WAL needs its -shm and -wal files beside the store
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path)) from None
            raise StoreError(f"{path} is not a vpslog store: {exc}") from None
        store = cls(path, conn, secret, secret_path=secret_path, witness=witness, key=key,
                    earlier_witnesses=earlier_witnesses)
        fresh = store.migrate()
        if fresh:
            store._forget_earlier_witness()
        store._restore_triggers()
        return store

    def _forget_earlier_witness(self) -> None:
        """A new store at a path that held another one: its witness no longer applies (said once)."""
        earlier = self.witness()
        if earlier is not None:
            for path in (self._witness, *self._earlier_witnesses):
                path.unlink(missing_ok=True)
            self.repaired.append(f"a store with {earlier[0]} audit entries was at {self.path} before; "
                                 "this new store replaces it there")

    def close(self) -> None:
        self.conn.close()

    def migrate(self) -> bool:
        """Bring an older store up to SCHEMA_VERSION in one transaction; refuse a newer one.
        True when the store was new (version 0)."""
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > schema.SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {version}, newer than this vpslog understands "
                f"({schema.SCHEMA_VERSION}): upgrade vpslog"
            )
        if version == schema.SCHEMA_VERSION:
            return False
        with self.transaction():
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]  # another process may have won
            for statements in schema.MIGRATIONS[version:]:
                for statement in statements:
                    self.conn.execute(statement)
            self.conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION}")
            if version == 0:
                self.conn.execute("INSERT INTO meta VALUES ('created_at', ?)", (utc_stamp(),))
                if self.key is not None:  # what doctor tells from a store encrypted later (an `encrypt` entry)
                    self.conn.execute("INSERT INTO meta VALUES ('made_encrypted', 'yes')")
        return version == 0

    def missing_triggers(self) -> list[str]:
        """The audit triggers not there as vpslog made them: dropped, or replaced by a look-alike of
        the same name that lets an UPDATE or DELETE through."""
        present = dict(self.conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall())
        return [name for name, sql in schema.AUDIT_TRIGGERS.items() if present.get(name) != sql]

    def _restore_triggers(self) -> None:
        """Recreate audit triggers dropped or altered outside vpslog, as an audit entry of its own.

        Without the secret nothing is written: `audit verify` and `doctor` report them missing."""
        missing = self.missing_triggers()
        if not missing or self._secret is None:
            return
        try:
            with self.transaction():
                for name in missing:
                    self.conn.execute(f'DROP TRIGGER IF EXISTS "{name}"')  # a look-alike goes first
                    self.conn.execute(schema.AUDIT_TRIGGERS[name])
                self.append_audit("repair", "audit", "triggers", {"recreated": missing}, actor="vpslog",
                                  reason="audit triggers were missing or altered (outside vpslog)")
        except StoreError:
            return  # a wrong secret or a busy store: leave it to `audit verify` to report
        self.repaired.append(f"the audit triggers ({', '.join(missing)}) were missing or altered outside "
                             f"vpslog; recreated (audit entry {self.audit_head()[0]})")

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
        self._begin_immediate()
        try:
            yield
        except BaseException:
            self._new_head = None
            if self.conn.in_transaction:  # SQLite rolls back by itself on a full disk: the real error is raised
                self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
        if self._new_head is not None:
            head, self._new_head = self._new_head, None
            try:
                self._write_witness(head)
            except OSError as exc:  # committed: said so, or a tired user logs the session again
                raise SavedUnwitnessed(f"the change was saved, but the witness file {self._witness} could not be "
                                       f"updated ({exc.strerror}); the next write updates it") from None

    def _begin_immediate(self) -> None:
        """Wait for another's write (up to BUSY_TIMEOUT_MS) in short steps: SQLite's own wait is one C
        call that a Ctrl-C cannot stop (it took effect after the whole minute); between steps it can."""
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        self.conn.execute(f"PRAGMA busy_timeout = {WAIT_STEP_MS}")
        try:
            while True:
                try:
                    self.conn.execute("BEGIN IMMEDIATE")
                    return
                except self.dbapi.OperationalError as exc:
                    busy = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF in (SQLITE_BUSY, SQLITE_LOCKED)
                    if not busy or time.monotonic() >= deadline:
                        raise StoreError(f"{self.path} is busy or unwritable: {exc}") from None
        finally:
            self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    def _write_witness(self, head: tuple[int, str]) -> None:
        """Keep the committed head outside the store too (a temp file renamed over: never half-written)."""
        if self._witness is None:
            return
        text = json.dumps({"store": str(self.path.resolve()), "seq": head[0], "hash": head[1], "at": utc_stamp()}) + "\n"
        write_private(self._witness, text)

    def witness(self) -> tuple[int, str] | None:
        """The head recorded in the witness file, or None when this machine has none for the store."""
        if self._witness is None:
            return None
        for path in (self._witness, *self._earlier_witnesses):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                continue
            except ValueError:
                break
            try:
                return int(data["seq"]), str(data["hash"])
            except (KeyError, TypeError, ValueError):
                break
        else:
            return None
        raise StoreError(f"{path}: the witness file is damaged; compare the store with a backup, then take its "
                         "trail as the one to keep with `vpslog audit accept-head --reason ...`")

    def _witness_cut(self, head: tuple[int, str] | None) -> str | None:
        """Why the trail no longer holds the entry the witness file recorded (None when it does)."""
        recorded = self.witness()
        entry = self.audit_entry(recorded[0]) if recorded else None
        return witness_problem(recorded, entry and entry["hash"], head)

    def secret(self) -> bytes:
        if self._secret is None:
            where = f" (expected at {self._secret_path})" if self._secret_path else ""
            raise StoreError(f"the project secret is missing{where}, so the audit trail cannot be written "
                             "or checked; restore it from your backup")
        return self._secret

    def check_key(self) -> None:
        """Refuse to extend a trail with a key that does not verify its head (the chain would
        break under both keys: a secret made anew, or another project's), or a trail that no
        longer holds the entry the witness recorded (writing would hide the cut)."""
        if self._key_checked:
            return
        head = self.audit_head()
        if cut := self._witness_cut(head):
            raise StoreError(f"{cut}; nothing was written. Run `vpslog audit verify`; if an older copy was "
                             "restored on purpose, accept it with `vpslog audit accept-head --reason ...`")
        if not self.keyed_with_secret():
            if self.keyed_with_secret(first=True):
                raise StoreError(f"the audit trail of {self.path} is broken at its head (entry {head[0]}); "
                                 "nothing was written: run `vpslog audit verify`")
            where = f" in {self._secret_path}" if self._secret_path else ""
            raise StoreError(f"the project secret{where} is not the one the audit trail of {self.path} "
                             f"was written with (it does not verify entry {head[0]}); nothing was written: "
                             "restore the secret that belongs to this store")
        self._key_checked = True

    def keyed_with_secret(self, *, first: bool = False) -> bool:
        """Whether the secret verifies the trail's head entry (or its first): true of an empty trail."""
        head = self.audit_head()
        if head is None:
            return True
        entry = self.audit_entry(1 if first else head[0])
        return entry is not None and verifies(self.secret(), entry)

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
        except self.dbapi.IntegrityError as exc:
            raise InputError(f"the store refused the record: {exc}") from None

    def _audit(self, action, table, record_id, before, after, actor, reason) -> None:
        secret = self.secret()
        self._chain(utc_stamp(), actor, action, table, record_id, stored_image(image(secret, before)),
                    stored_image(image(secret, after)), reason)

    def _chain(self, at, actor, action, table, record_id, before, after, reason) -> None:
        """Append one entry (stored values) to the hash chain and move the head."""
        secret = self.secret()
        self.check_key()
        [entry] = chained(secret, self.audit_head(), [(at, actor, action, table, record_id, before, after, reason)])
        self.conn.execute(f"INSERT INTO audit ({', '.join(CHAINED)}, hash) VALUES ({', '.join('?' * 11)})", entry)
        self.set_head(entry[0], entry[-1])

    def set_head(self, seq: int, digest: str) -> None:
        """Move the head kept in the store (and, after the commit, in the witness file)."""
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('audit_head', ?)", (f"{seq}:{digest}",))
        self._new_head = (seq, digest)

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

    def id_ignoring_case(self, table: str, text: str) -> str | None:
        """The id equal to `text` but for letter case (ASCII), if there is one."""
        row = self.conn.execute(f'SELECT id FROM "{table}" WHERE id = ? COLLATE NOCASE LIMIT 1', (text,)).fetchone()
        return row[0] if row else None

    def resolve(self, table: str, text: str, what: str) -> str:
        """The id that `text` is, or uniquely begins; else a helpful refusal."""
        if self.conn.execute(f'SELECT 1 FROM "{table}" WHERE id = ?', (text,)).fetchone():
            return text
        matches = [r[0] for r in self.conn.execute(
            f'SELECT id FROM "{table}" WHERE id >= ? AND id < ? ORDER BY id LIMIT 6', (text, text + "\U0010ffff"))]
        universe = [] if matches else [r[0] for r in self.conn.execute(f'SELECT id FROM "{table}" ORDER BY id LIMIT 5000')]
        return pick_prefix(text, matches, universe, what)

    def ids(self, table: str) -> list[str]:
        """Every id of `table`, sorted (for the shortest unique prefixes a listing shows)."""
        return [r[0] for r in self.conn.execute(f'SELECT id FROM "{table}" ORDER BY id')]

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

    def allocation_of(self, participant_id: str) -> dict | None:
        row = self.conn.execute("SELECT * FROM allocation WHERE participant_id = ?", (participant_id,)).fetchone()
        return dict(row) if row else None

    def first_milestone_date(self, participant_id: str) -> str | None:
        return self.conn.execute("SELECT min(date) FROM milestone WHERE participant_id = ?",
                                 (participant_id,)).fetchone()[0]

    def last_allocation_number(self, site_id: str) -> int:
        """The highest allocation number of the site (0: none yet); not a count, which an allocation
        imported with a later number would make a number already taken."""
        return self.conn.execute("SELECT coalesce(max(number), 0) FROM allocation WHERE site_id = ?",
                                 (site_id,)).fetchone()[0]

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

    def changes_since(self, seq: int) -> int:
        """Audit entries after `seq` that may have changed a record (not exports, encrypt or rekey)."""
        unchanged = _listed(NO_RECORD_CHANGED)
        return self.conn.execute(f"SELECT count(*) FROM audit WHERE seq > ? AND action NOT IN ({unchanged})",
                                 (seq,)).fetchone()[0]

    def audit_entry(self, seq: int) -> dict | None:
        row = self.conn.execute("SELECT * FROM audit WHERE seq = ?", (seq,)).fetchone()
        return dict(row) if row else None

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads that see the store as of one moment (joining one already open): a merge verifies the
        other store and copies it from the same snapshot, so nothing written between is brought in."""
        if self.conn.in_transaction:
            yield
            return
        self.conn.execute("BEGIN")
        try:
            self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the snapshot starts at a read
            yield
        finally:
            self.conn.execute("COMMIT")

    def verify(self, *, witness: bool = True) -> list[str]:
        """Every problem the audit trail can show, in one read snapshot: the chain, the witness
        outside the store, the records against the state the trail gives them, the triggers."""
        secret = self.secret()
        problems = []
        with self.snapshot():
            head = self.audit_head()
            if broken := first_break(secret, self.audit_entries(), head):
                problems.append(f"audit chain: {broken}")
            if witness and (cut := self._witness_cut(head)):
                problems.append(cut)
            records = []
            for table in schema.TABLES:
                rows = (dict(row) for row in self.conn.execute(f'SELECT * FROM "{table}" ORDER BY id'))
                for problem in replay(secret, table, rows,
                                      self._record_entries(table)):
                    records.append(problem)
        if len(records) > SHOWN_PROBLEMS:
            records = records[:SHOWN_PROBLEMS] + [f"... and {len(records) - SHOWN_PROBLEMS} more record problems"]
        triggers = [f"the audit triggers are missing ({', '.join(names)}): the trail could be edited in place"
                    for names in [self.missing_triggers()] if names]
        return problems + records + triggers

    def _record_entries(self, table: str) -> Iterator[dict]:
        """The entries that change one record of `table`, by record then seq (for the replay)."""
        events = _listed(EVENT_ACTIONS)
        cursor = self.conn.execute(
            f"SELECT seq, record_id, before, after FROM audit WHERE tbl = ? AND action NOT IN ({events}) "
            "ORDER BY record_id, seq", (table,))
        return (dict(row) for row in cursor)

    def accept_head(self, actor: str, reason: str) -> tuple[int, str]:
        """Take the current trail as the one the witness keeps (after restoring an older copy on
        purpose): refused unless the chain verifies; recorded as an audit entry of its own."""
        if broken := first_break(self.secret(), self.audit_entries(), self.audit_head()):
            raise StoreError(f"the audit chain is broken, so its head cannot be accepted: {broken}")
        try:
            previous = self.witness()
        except StoreError:  # a damaged witness is one of the things accepting a head replaces
            previous = None
        self._key_checked = True  # the witness is what is being replaced
        with self.transaction():
            self.append_audit("accept-head", "audit", "witness", {
                "previous_witness": {"seq": previous[0], "hash": previous[1]} if previous else None}, actor=actor,
                reason=reason)
        return self.audit_head()

    def repairs(self) -> list[str]:
        """Repairs recorded in the trail (triggers recreated), for `doctor` and `audit verify` to mention."""
        return [f"audit entry {row['seq']} ({row['at']}): {row['reason']}" for row in self.conn.execute(
            "SELECT seq, at, reason FROM audit WHERE action = 'repair' ORDER BY seq")]

    def audit_events(self) -> list[dict]:
        """The trail's entries for events (imports, exports, merges, encrypt, rekey, ...), oldest first."""
        return [dict(row) for row in self.conn.execute(
            f"SELECT * FROM audit WHERE action IN ({_listed(EVENT_ACTIONS)}) ORDER BY seq")]

    def audit_entries(self, table: str | None = None, record_id: str | None = None) -> Iterator[dict]:
        sql, params = _where({"tbl = ?": table, "record_id = ?": record_id})
        cursor = self.conn.execute(f"SELECT * FROM audit{sql} ORDER BY seq", params)
        return (dict(row) for row in cursor)

    # -- copies and health --------------------------------------------------------

    @classmethod
    def open_readonly(cls, path: Path, secret: bytes | None = None, key_file: Path | None = None) -> Store:
        """Another store, read only (for merge): never migrated or written; `secret` checks its trail;
        its key (when encrypted) from `key_file`, else from the same sources as this store's."""
        if not Path(path).exists():
            raise StoreError(f"no store at {path}")
        conn, key = open_connection(path, key_file=key_file, readonly=True)
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        except dbapi_of(conn).DatabaseError as exc:
            conn.close()
            raise StoreError(f"{path} is not a vpslog store: {exc}") from None
        if why := _not_a_store(conn):
            conn.close()
            raise StoreError(f"{path} is not a vpslog store ({why})")
        if version != schema.SCHEMA_VERSION:
            conn.close()
            raise StoreError(f"{path} has schema version {version}; merge needs {schema.SCHEMA_VERSION} "
                             f"(open it once with this vpslog to migrate it)")
        return cls(Path(path), conn, secret, key=key)

    def backup_to(self, dest: Path, *, plain: bool = False, what: str = "backup", record=None) -> None:
        """A verified copy at `dest`, encrypted with the store's key (`plain`: not, for decrypt), or no
        file there at all; `what` names it in refusals. `record` (decrypt: the audit entry) is committed
        before the copy is linked to `dest`: the copy exists only if the entry does (a kill between
        leaves an entry for a copy that is not there, erring towards disclosure, as exports do).

        The copy goes to a private temp file beside `dest` and is checked against the same read
        snapshot (`_copy`); only then is it fsynced and linked to `dest`, which fails if `dest`
        appeared meanwhile.
        """
        dest = Path(dest)
        if refusal := new_file_refusal(dest):
            raise InputError(f"{refusal}; choose a new file for the {what}")
        tmp = create_private_temp_file(dest)
        try:
            if problem := self._copy(tmp, None if plain else self.key)[1]:
                raise StoreError(f"the {what.removesuffix(' copy')} copy did not verify ({problem}); nothing was written at {dest}")
            fsync_path(tmp)
            unwitnessed = None
            if record:  # committed before the copy is linked: killed between, the trail errs towards disclosure
                try:
                    with self.transaction():
                        record()
                except SavedUnwitnessed as exc:  # the entry is in: the copy goes in too, then that is said
                    unwitnessed = exc
            try:
                os.link(tmp, dest)
            except FileExistsError:
                recorded = " (its audit entry stays: the trail errs towards disclosure)" if record else ""
                raise InputError(f"{dest} appeared while the {what} was made; choose a new file for the "
                                 f"{what}{recorded}") from None
            fsync_path(dest.parent)
            if unwitnessed:
                raise unwitnessed
        finally:
            for leftover in (tmp, tmp.with_name(tmp.name + "-journal")):  # a failed copy leaves its journal
                leftover.unlink(missing_ok=True)

    def reencrypt(self, key: Key | None, keeping, *, action: str, details: dict, actor: str, then=None) -> None:
        """Replace the store file by a verified copy encrypted with `key` (encrypt, rekey); `keeping`
        (keys.kept) keeps the new key in its source around the swap and puts the source back if the
        old file is back in place.

        The change is recorded in the copy only (an audit entry `action` with `details`, by `actor`),
        so the trail holds it exactly when the store is the new file; the witness moves to that entry
        after the swap (until then it lags one entry behind, which it may). Refused first, as any write
        is, when the trail was cut behind the witness or the secret is not the trail's: the entry
        and the witness moved to it would hide that.

        `then()` runs once the change is final, before a Ctrl-C held through the swap is taken, so the
        command says what happened (where the new key is) even then.

        The copy is flushed first; the old file stays linked aside until the rename and the folder's
        flush have succeeded, and is put back on any failure before the key's source is: the store
        never ends under a key its source does not hold. Ctrl-C is held back from the key's keeping
        until the aside is removed (`_interrupts_held`). Refused, with nothing
        changed, while another connection has the store open (leaving WAL mode needs it alone) or
        when it changed since the copy. The old file's blocks are not
        overwritten: the file system frees them as it does any deleted file's."""
        self.check_key()
        tmp = create_private_temp_file(self.path)
        try:
            expected, problem, head = self._copy(tmp, key, record=lambda copy: copy.append_audit(
                action, "store", self.path.name, details, actor=actor))
            if problem:
                raise StoreError(f"the new copy of the store did not verify ({problem}); nothing was changed")
            self.conn.execute("PRAGMA busy_timeout = 2000")
            try:
                alone = self.conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0] == "delete"
            except self.dbapi.OperationalError:
                alone = False
            if not alone:
                raise StoreError(f"another vpslog command has {self.path} open; run this again when it has "
                                 "ended (nothing was changed)")
            self.conn.execute("BEGIN EXCLUSIVE")
            try:
                if self._figures() != expected:
                    raise StoreError(f"{self.path} changed while it was copied; run this again (nothing was changed)")
                fsync_path(tmp)
                with _interrupts_held():
                    with keeping:
                        aside = self._swap_in(tmp)
                    self._remove_aside(aside)
                    self._write_witness(head)
                    if then is not None:
                        then()
            finally:
                self.conn.execute("ROLLBACK")
        finally:
            tmp.unlink(missing_ok=True)

    def _swap_in(self, tmp: Path) -> Path:
        """Rename `tmp` over the store file, the old file back in place if the rename or the flush fails;
        the old file's other name (`-old`), for the caller to remove once the new key is final. When
        putting it back fails too, the aside stays: it may be the only copy the old key opens."""
        aside = tmp.with_name(tmp.name + "-old")
        os.link(self.path, aside)
        try:
            os.replace(tmp, self.path)
            fsync_path(self.path.parent)
        except BaseException:
            os.replace(aside, self.path)
            aside.unlink(missing_ok=True)  # left by that rename when the store file was still the old one
            raise
        return aside

    def _remove_aside(self, aside: Path) -> None:
        """Remove the old file after a swap; the swap stands if that fails (the new key is final)."""
        try:
            aside.unlink()
        except OSError as exc:
            raise StoreError(f"{self.path} was swapped for its new copy, which opens with the new key, but the old "
                             f"file could not be removed ({exc.strerror}): delete {aside}, which may hold the "
                             "records in clear") from None

    def _figures(self) -> tuple:
        """What a copy must match: the audit head and the record counts."""
        return self.meta("audit_head"), self.record_counts()

    def _copy(self, tmp: Path, key: Key | None, record=None) -> tuple[tuple, str | None, tuple[int, str] | None]:
        """Copy the store into the empty private file `tmp`, encrypted with `key` (None: plain), and check
        the copy against the read snapshot it was made from: integrity_check, audit head, record counts,
        then `record(copy)` (an audit entry the copy alone gets) and, when the key changes (encrypt,
        rekey, decrypt), the audit chain, that entry included. (figures, problem or None, the copy's head).

        A plain store copied plain uses SQLite's online backup API; any other copy SQLCipher's
        sqlcipher_export (which leaves out the schema version, set after it)."""
        reencrypted = (key and key.text) != (self.key and self.key.text)
        if self.dbapi is sqlite3 and key is None:
            target = connect(tmp)
            try:
                with self.snapshot():
                    expected = self._figures()
                    self.conn.backup(target)
            finally:
                target.close()
        else:
            self.conn.execute("ATTACH DATABASE ? AS copy KEY ?", (str(tmp), key.value if key else ""))
            try:
                with self.snapshot():  # inside ATTACH and DETACH, which SQLite refuses in a transaction
                    expected = self._figures()
                    self.conn.execute("SELECT sqlcipher_export('copy')")
                    version = self.conn.execute("PRAGMA main.user_version").fetchone()[0]
                    self.conn.execute(f"PRAGMA copy.user_version = {int(version)}")
            finally:
                self.conn.execute("DETACH DATABASE copy")
        copy = Store(tmp, connect(tmp, key), self._secret, key=key)
        try:
            integrity = [row[0] for row in copy.conn.execute("PRAGMA integrity_check")]
            if integrity != ["ok"]:
                return expected, f"integrity_check: {'; '.join(integrity[:3])}", None
            if copy._figures() != expected:
                return expected, "its audit head or record counts differ from the store's", None
            if record:
                with copy.transaction():
                    record(copy)
            head = copy.audit_head()
            if reencrypted and (broken := first_break(self.secret(), copy.audit_entries(), head)):
                return expected, f"audit chain: {broken}", head
            return expected, None, head
        finally:
            copy.close()

    def health(self) -> list[tuple[str, str | None]]:
        """(check, problem or None) for integrity, foreign keys and the audit chain."""
        integrity = [row[0] for row in self.conn.execute("PRAGMA integrity_check")]
        keys = self.conn.execute("PRAGMA foreign_key_check").fetchall()
        return [
            ("integrity_check", None if integrity == ["ok"] else "; ".join(integrity[:5])),
            ("foreign_key_check", None if not keys else
             f"{len(keys)} rows refer to missing records (first: {keys[0][0]} row {keys[0][1]} -> {keys[0][2]})"),
            *self._trail_health(),
        ]

    def _trail_health(self) -> list[tuple[str, str | None]]:
        try:
            problems = self.verify()
        except StoreError as exc:  # no secret, a damaged witness file: the trail cannot be checked
            return [("audit trail", str(exc))]
        return [("audit trail", problem) for problem in problems] or [("audit trail", None)]

