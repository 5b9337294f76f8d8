"""The only module that speaks SQL: connect, migrate, write with audit, query.

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

BUSY_TIMEOUT_MS = 10_000
TABLES = ("site", "specialist", "participant", "session", "supervision", "milestone", "screening", "allocation")
NOTE_FIELDS = frozenset({"note", "detail"})
"""Free text kept only in its own row: the audit trail records a keyed digest."""

_DATE = "CHECK ({0} IS NULL OR date({0}) IS {0})"
_FLAG = "CHECK ({0} IN (0, 1))"
_ENTERED = f"""
  entered_at TEXT NOT NULL,
  entered_by TEXT NOT NULL,
  voided INTEGER NOT NULL DEFAULT 0 {_FLAG.format('voided')},
  void_reason TEXT,
  CHECK (voided = 0 OR void_reason IS NOT NULL)"""

MIGRATIONS: list[list[str]] = [
    [  # version 1
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT",
        "CREATE TABLE site (id TEXT PRIMARY KEY, name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200)) STRICT",
        f"""CREATE TABLE specialist (
  id TEXT PRIMARY KEY,
  site_id TEXT NOT NULL REFERENCES site(id),
  name TEXT,
  trained_on TEXT {_DATE.format('trained_on')},
  active INTEGER NOT NULL DEFAULT 1 {_FLAG.format('active')}
) STRICT""",
        f"""CREATE TABLE participant (
  id TEXT PRIMARY KEY,
  site_id TEXT NOT NULL REFERENCES site(id),
  enrolled_on TEXT NOT NULL {_DATE.format('enrolled_on')},
  arm TEXT CHECK (arm IN ('vps', 'control')),
  consent_on TEXT {_DATE.format('consent_on')},
  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'exited')),
  exited_on TEXT {_DATE.format('exited_on')} CHECK (exited_on >= enrolled_on),
  exit_reason TEXT,
  age INTEGER CHECK (age BETWEEN 16 AND 120),
  birth_year INTEGER CHECK (birth_year BETWEEN 1900 AND 2100),
  gender TEXT, race TEXT, residence TEXT, marital TEXT, education TEXT,
  working INTEGER {_FLAG.format('working')},
  ssdi_ssi INTEGER {_FLAG.format('ssdi_ssi')},
  psych_meds INTEGER {_FLAG.format('psych_meds')},
  CHECK ((status = 'exited') = (exited_on IS NOT NULL)),
  CHECK (age IS NULL OR birth_year IS NULL)
) STRICT""",
        f"""CREATE TABLE session (
  id TEXT PRIMARY KEY CHECK (length(id) = 32),
  participant_id TEXT NOT NULL REFERENCES participant(id),
  specialist_id TEXT NOT NULL REFERENCES specialist(id),
  date TEXT NOT NULL {_DATE.format('date')},
  start_time TEXT,
  minutes INTEGER NOT NULL CHECK (minutes BETWEEN 1 AND 480),
  type TEXT NOT NULL,
  mode TEXT NOT NULL,
  location TEXT,
  components TEXT NOT NULL DEFAULT '',
  supports TEXT NOT NULL DEFAULT '',
  phase TEXT,
  clinical INTEGER NOT NULL DEFAULT 0 {_FLAG.format('clinical')},
  note TEXT,{_ENTERED}
) STRICT""",
        "CREATE INDEX session_by_participant ON session (participant_id, date)",
        "CREATE INDEX session_by_specialist ON session (specialist_id, date)",
        f"""CREATE TABLE supervision (
  id TEXT PRIMARY KEY CHECK (length(id) = 32),
  specialist_id TEXT NOT NULL REFERENCES specialist(id),
  supervisor TEXT NOT NULL,
  date TEXT NOT NULL {_DATE.format('date')},
  minutes INTEGER NOT NULL CHECK (minutes BETWEEN 1 AND 480),
  "group" INTEGER NOT NULL DEFAULT 0 {_FLAG.format('"group"')},
  topics TEXT NOT NULL DEFAULT '',
  note TEXT,{_ENTERED}
) STRICT""",
        "CREATE INDEX supervision_by_specialist ON supervision (specialist_id, date)",
        f"""CREATE TABLE milestone (
  id TEXT PRIMARY KEY CHECK (length(id) = 32),
  participant_id TEXT NOT NULL REFERENCES participant(id),
  date TEXT NOT NULL {_DATE.format('date')},
  kind TEXT NOT NULL,
  detail TEXT,{_ENTERED}
) STRICT""",
        "CREATE INDEX milestone_by_participant ON milestone (participant_id, date)",
        """CREATE TABLE audit (
  seq INTEGER PRIMARY KEY,
  at TEXT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  tbl TEXT NOT NULL,
  record_id TEXT NOT NULL,
  before TEXT CHECK (before IS NULL OR json_valid(before)),
  after TEXT CHECK (after IS NULL OR json_valid(after)),
  reason TEXT,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE
) STRICT""",
        "CREATE INDEX audit_by_record ON audit (tbl, record_id)",
        """CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END""",
        """CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END""",
    ],
    [  # version 2: eligibility screening and randomized allocation
        f"""CREATE TABLE screening (
  id TEXT PRIMARY KEY CHECK (length(id) = 32),
  participant_id TEXT NOT NULL REFERENCES participant(id),
  date TEXT NOT NULL {_DATE.format('date')},
  answers TEXT NOT NULL CHECK (json_valid(answers)),
  eligible INTEGER NOT NULL {_FLAG.format('eligible')},
  reasons TEXT NOT NULL DEFAULT '',
  rules_version TEXT NOT NULL,
  entered_at TEXT NOT NULL,
  entered_by TEXT NOT NULL
) STRICT""",
        "CREATE INDEX screening_by_participant ON screening (participant_id, date)",
        """CREATE TABLE allocation (
  id TEXT PRIMARY KEY CHECK (length(id) = 32),
  participant_id TEXT NOT NULL UNIQUE REFERENCES participant(id),
  site_id TEXT NOT NULL REFERENCES site(id),
  number INTEGER NOT NULL CHECK (number >= 1),
  arm TEXT NOT NULL CHECK (arm IN ('vps', 'control')),
  allocated_at TEXT NOT NULL,
  UNIQUE (site_id, number)
) STRICT""",
    ],
    [  # version 3: a specialist's first and last delivered session read from the index alone
        "DROP INDEX session_by_specialist",
        "CREATE INDEX session_by_specialist ON session (specialist_id, voided, date)",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)


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


class Store:
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
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {version}, newer than this vpslog understands "
                f"({SCHEMA_VERSION}): upgrade vpslog"
            )
        if version == SCHEMA_VERSION:
            return
        with self.transaction():
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]  # another process may have won
            for statements in MIGRATIONS[version:]:
                for statement in statements:
                    self.conn.execute(statement)
            self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
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
        return {table: self.count(table) for table in TABLES}

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

    def audit_entries(self, table: str | None = None, record_id: str | None = None) -> Iterator[dict]:
        sql, params = _where({"tbl = ?": table, "record_id = ?": record_id})
        cursor = self.conn.execute(f"SELECT * FROM audit{sql} ORDER BY seq", params)
        return (dict(row) for row in cursor)

    # -- fidelity: streams and aggregates as of a date ------------------------

    @staticmethod
    def _scope(as_of: str, site: str | None, participant: str | None, specialist: str | None) -> dict:
        """Conditions (over participant p) for the participants a fidelity check covers."""
        return {
            "p.enrolled_on <= ?": as_of,
            "p.site_id = ?": site,
            "p.id = ?": participant,
            "p.id IN (SELECT participant_id FROM session WHERE specialist_id = ? AND voided = 0)": specialist,
        }

    def fidelity_participants(self, as_of: str, site=None, participant=None, specialist=None) -> list[tuple]:
        """(id, site, arm, enrolled, consent, exited, first eligible screening) as days, by id."""
        sql, params = _where(self._scope(as_of, site, participant, specialist))
        return self.conn.execute(
            f"""SELECT p.id, p.site_id, p.arm, {_day('p.enrolled_on')}, {_day('p.consent_on')},
                       CASE WHEN p.exited_on <= ? THEN {_day('p.exited_on')} END,
                       (SELECT min({_day('date')}) FROM screening
                        WHERE participant_id = p.id AND eligible = 1 AND date <= ?)
                FROM participant p{sql} ORDER BY p.id""", [as_of, as_of, *params]).fetchall()

    def fidelity_sessions(self, as_of: str, site=None, participant=None, specialist=None):
        """Every non-voided session dated on or before `as_of`, ordered by participant and date:
        (participant, id, date, type, components, specialist, clinical, entered date).
        A cursor, so memory stays flat; the participant table is joined only to filter by site."""
        sql, params = _where({
            "s.voided = 0": True, "s.date <= ?": as_of, "p.site_id = ?": site, "s.participant_id = ?": participant,
            "s.participant_id IN (SELECT participant_id FROM session WHERE specialist_id = ? AND voided = 0)": specialist,
        })
        join = " JOIN participant p ON p.id = s.participant_id" if site else ""
        return self.conn.execute(
            f"""SELECT s.participant_id, s.id, s.date, s.type, s.components, s.specialist_id, s.clinical,
                       substr(s.entered_at, 1, 10)
                FROM session s{join}{sql} ORDER BY s.participant_id, s.date""", params)

    def fidelity_specialists(self, as_of: str, site=None, specialist=None) -> list[tuple]:
        """(id, site, trained, first session, last session) as days, by id."""
        sql, params = _where({"sp.site_id = ?": site, "sp.id = ?": specialist})
        return self.conn.execute(
            f"""SELECT sp.id, sp.site_id, CASE WHEN sp.trained_on <= ? THEN {_day('sp.trained_on')} END,
                       {_day('min(s.date)')}, {_day('max(s.date)')}
                FROM specialist sp LEFT JOIN session s ON s.specialist_id = sp.id AND s.voided = 0 AND s.date <= ?
                {sql} GROUP BY sp.id ORDER BY sp.id""", [as_of, as_of, *params]).fetchall()

    def individual_supervision_days(self, as_of: str) -> list[tuple[str, int]]:
        return self.conn.execute(
            f"""SELECT specialist_id, {_day('date')} FROM supervision
                WHERE "group" = 0 AND voided = 0 AND date <= ? ORDER BY specialist_id, date""", [as_of]).fetchall()

    def caseloads(self, as_of: str, window_days: int) -> dict[str, int]:
        """Active participants (as of the date) seen by each specialist in the last `window_days` days."""
        rows = self.conn.execute(
            """SELECT s.specialist_id, count(DISTINCT s.participant_id)
               FROM session s JOIN participant p ON p.id = s.participant_id
               WHERE s.voided = 0 AND s.date <= ? AND s.date > date(?, ?)
                 AND p.enrolled_on <= ? AND (p.exited_on IS NULL OR p.exited_on > ?)
               GROUP BY s.specialist_id""", [as_of, as_of, f"-{window_days} days", as_of, as_of]).fetchall()
        return dict(rows)

    def caseload_of(self, specialist_id: str, as_of: str) -> set[str]:
        """Active participants (as of the date) whose latest session was with this specialist."""
        rows = self.conn.execute(
            """SELECT s.participant_id FROM session s JOIN participant p ON p.id = s.participant_id
               WHERE s.voided = 0 AND s.date <= ? AND p.enrolled_on <= ? AND (p.exited_on IS NULL OR p.exited_on > ?)
               GROUP BY s.participant_id HAVING max(s.date) = max(CASE WHEN s.specialist_id = ? THEN s.date END)""",
            [as_of, as_of, as_of, specialist_id]).fetchall()
        return {row[0] for row in rows}

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
        if version != SCHEMA_VERSION:
            conn.close()
            raise StoreError(f"{path} has schema version {version}; merge needs {SCHEMA_VERSION} "
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

    # -- research reports ------------------------------------------------------

    def participant_totals(self, as_of: str) -> dict[str, dict]:
        """Per participant: individual sessions and minutes of contact (non-voided, up to as_of)."""
        rows = self.conn.execute(
            """SELECT participant_id, coalesce(sum(type = 'individual'), 0), coalesce(sum(minutes), 0)
               FROM session WHERE voided = 0 AND date <= ? GROUP BY participant_id""", [as_of]).fetchall()
        return {pid: {"individual_sessions": n, "minutes": m} for pid, n, m in rows}

    def latest_screenings(self, as_of: str) -> list[dict]:
        """The latest screening (on or before as_of) of each participant screened."""
        return [dict(row) for row in self.conn.execute(
            """SELECT s.participant_id, s.eligible, s.reasons FROM screening s
               WHERE s.date <= ? AND s.rowid = (SELECT s2.rowid FROM screening s2 WHERE s2.participant_id = s.participant_id
                                               AND s2.date <= ? ORDER BY s2.date DESC, s2.rowid DESC LIMIT 1)""",
            [as_of, as_of])]

    def allocation_counts(self, as_of: str) -> list[tuple[str, str, int]]:
        return self.conn.execute(
            """SELECT site_id, arm, count(*) FROM allocation WHERE substr(allocated_at, 1, 10) <= ?
               GROUP BY site_id, arm ORDER BY site_id, arm""", [as_of]).fetchall()

    def units_by_month(self, as_of: str, minutes_per_unit: int, round_up_from: int, types) -> list[dict]:
        """Billable units per specialist and month (non-voided sessions up to as_of)."""
        units = _export_cell("units", (minutes_per_unit, round_up_from, types))
        return [dict(row) for row in self.conn.execute(
            f"""SELECT t.specialist_id AS specialist, substr(t.date, 1, 7) AS month, count(*) AS sessions,
                       sum(t.minutes) AS minutes, sum({units}) AS units
                FROM session t WHERE t.voided = 0 AND t.date <= ?
                GROUP BY t.specialist_id, month ORDER BY t.specialist_id, month""", [as_of])]

    # -- bulk: import ----------------------------------------------------------

    def prepare_bulk(self) -> None:
        """A 64 MiB page cache for this connection: a large insert touches many index pages."""
        self.conn.execute("PRAGMA cache_size = -65536")

    def ids(self, table: str) -> set[str]:
        return {row[0] for row in self.conn.execute(f'SELECT id FROM "{table}"')}

    def rows_by_id(self, table: str, ids: list[str]) -> dict[str, dict]:
        found = {}
        for start in range(0, len(ids), 500):  # stay under SQLite's bound-parameter limit
            chunk = ids[start:start + 500]
            marks = ", ".join("?" * len(chunk))
            found |= {row["id"]: dict(row) for row in self.conn.execute(
                f'SELECT * FROM "{table}" WHERE id IN ({marks})', chunk)}
        return found

    def insert_rows(self, table: str, rows: list[dict]) -> list[tuple[int, str]]:
        """Insert rows (inside the caller's transaction); returns (index, problem) for
        each row the constraints refused, having inserted all the others."""
        if not rows:
            return []
        columns = list(rows[0])
        sql = f'INSERT INTO "{table}" ({", ".join(f"{chr(34)}{c}{chr(34)}" for c in columns)}) VALUES ({", ".join("?" * len(columns))})'
        self.conn.execute("SAVEPOINT bulk")
        try:
            self.conn.executemany(sql, [tuple(row[c] for c in columns) for row in rows])
            self.conn.execute("RELEASE bulk")
            return []
        except sqlite3.IntegrityError:
            self.conn.execute("ROLLBACK TO bulk")
            self.conn.execute("RELEASE bulk")
        refused = []
        for index, row in enumerate(rows):  # find the culprits one by one
            try:
                self.conn.execute(sql, tuple(row[c] for c in columns))
            except sqlite3.IntegrityError as exc:
                refused.append((index, str(exc)))
        return refused

    # -- export ----------------------------------------------------------------

    def load_pseudonyms(self, participants: list[tuple[str, str, int]], staff: list[tuple[str, str]]) -> None:
        """Temporary (connection-only) maps for a de-identified export: never written to the file."""
        self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS deid_participant (id TEXT PRIMARY KEY, pseudonym TEXT, shift INTEGER)")
        self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS deid_staff (value TEXT PRIMARY KEY, pseudonym TEXT)")
        self.conn.executemany("INSERT OR REPLACE INTO temp.deid_participant VALUES (?, ?, ?)", participants)
        self.conn.executemany("INSERT OR REPLACE INTO temp.deid_staff VALUES (?, ?)", staff)

    def staff_values(self) -> list[str]:
        """Every specialist id and every actor that entered a record (for pseudonyms)."""
        rows = self.conn.execute(
            """SELECT id FROM specialist UNION SELECT entered_by FROM session UNION SELECT entered_by FROM supervision
               UNION SELECT entered_by FROM milestone UNION SELECT entered_by FROM screening""").fetchall()
        return [row[0] for row in rows]

    def export_lines(self, table: str, plan: list[tuple[str, object]], *, participant_column: str | None,
                     date_column: str | None, site=None, arm=None, since=None, until=None, batch: int = 20_000):
        """CSV lines (without the newline), built by SQLite itself for speed, in batches.

        `plan` is (kind, argument) per output column: text (quoted when needed, and
        a leading formula trigger neutralized with `'`), plain, participant or staff
        (pseudonyms), shift_date / shift_datetime (moved back by the participant's
        shift), age (top-coded), units (minutes_per_unit, round_up_from, types),
        flag (a component code). Streams: memory stays flat.
        """
        cells = [_export_cell(kind, argument) for kind, argument in plan]
        joins = ""
        if participant_column and (site or arm):
            joins += f" JOIN participant p ON p.id = t.{participant_column}"
        if participant_column and any(kind in ("participant", "shift_date", "shift_datetime") for kind, _ in plan):
            joins += f" LEFT JOIN temp.deid_participant dp ON dp.id = t.{participant_column}"
        by_site = {"specialist": "t.site_id = ?", "site": "t.id = ?",
                   "supervision": "t.specialist_id IN (SELECT id FROM specialist WHERE site_id = ?)"}
        conditions = {
            "p.site_id = ?" if participant_column else by_site.get(table): site,
            "p.arm = ?": arm if participant_column else None,
            f"substr(t.{date_column}, 1, 10) >= ?": since if date_column else None,
            f"substr(t.{date_column}, 1, 10) <= ?": until if date_column else None,
        }
        sql, params = _where({k: v for k, v in conditions.items() if k})
        line = "printf('" + ",".join("%s" for _ in cells) + "', " + ", ".join(cells) + ")"
        cursor = self.conn.execute(f'SELECT {line} FROM "{table}" t{joins}{sql} ORDER BY t.rowid', params)
        while rows := cursor.fetchmany(batch):
            yield [row[0] for row in rows]

    def verify_audit(self) -> str | None:
        """None when the whole chain verifies, else why it breaks at the first bad entry."""
        return first_break(self.secret(), self.audit_entries(), self.audit_head())


def _day(column: str) -> str:
    """SQL for a date column as a proleptic ordinal, Python's `date.toordinal()`."""
    return f"CAST(julianday({column}) - 1721424.5 AS INTEGER)"


def _where(conditions: dict[str, object]) -> tuple[str, list]:
    """A WHERE clause from `{"col = ?": value}`; None values are left out, and
    a condition without a placeholder is included when its value is true."""
    parts, params = [], []
    for condition, value in conditions.items():
        if value is None or value is False:
            continue
        parts.append(condition)
        if "?" in condition:
            params.append(value)
    return (" WHERE " + " AND ".join(parts) if parts else ""), params


_GUARDED = "[=+@'\t\r\n-]*"
"""GLOB: a cell starting with a formula trigger, or with the guard `'` itself (so import can undo it)."""
_QUOTED = '*[",\r\n]*'
"""GLOB: a cell that must be quoted in CSV."""


def _export_cell(kind: str, argument) -> str:
    """The SQL for one CSV cell of an export plan (see Store.export_lines); NULL prints as empty."""
    column = f't."{argument}"' if isinstance(argument, str) else None
    if kind == "text":
        guarded = f"{column} GLOB '{_GUARDED.replace(chr(39), chr(39) * 2)}'"
        return (f"CASE WHEN {guarded} OR {column} GLOB '{_QUOTED}' THEN '\"' || "
                f"CASE WHEN {guarded} THEN '''' ELSE '' END || replace({column}, '\"', '\"\"') || '\"' "
                f"ELSE {column} END")
    if kind == "plain":
        return column
    if kind == "participant":
        return "dp.pseudonym"
    if kind == "staff":
        return f"(SELECT pseudonym FROM temp.deid_staff WHERE value = {column})"
    if kind == "shift_date":
        return f"date({column}, '-' || dp.shift || ' days')"
    if kind == "shift_datetime":
        return f"strftime('%Y-%m-%dT%H:%M:%SZ', {column}, '-' || dp.shift || ' days')"
    if kind == "age":
        name, above = argument
        return f"CASE WHEN t.\"{name}\" > {int(above)} THEN {int(above) + 1} ELSE t.\"{name}\" END"
    if kind == "units":
        per, round_up, types = int(argument[0]), int(argument[1]), argument[2]
        listed = ", ".join("'" + code.replace("'", "''") + "'" for code in types) or "NULL"
        return f"CASE WHEN t.type IN ({listed}) THEN t.minutes / {per} + (t.minutes % {per} >= {round_up}) ELSE 0 END"
    if kind == "flag":
        return f"(instr(';' || t.components || ';', ';{argument.replace(chr(39), chr(39) * 2)};') > 0)"
    raise ValueError(f"unknown export cell kind {kind!r}")
