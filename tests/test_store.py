"""The store: a real SQLite file that is private, strict, migrated and audited."""

from __future__ import annotations

import os
import sqlite3
import stat

import pytest

from conftest import open_db, snapshot, tamper
from vpslog.store import schema as store_schema
from vpslog.errors import StoreError
from vpslog.store import SCHEMA_VERSION, Store
from vpslog.store.base import dbapi_of

pytestmark = pytest.mark.both_stores


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_init_creates_a_private_store_secret_and_folders(cli, env):
    result = cli.ok("init")
    assert result.stdout.startswith(f"created store at {env}")
    config = env.parent.parent / "config"
    assert mode(env) == 0o600
    assert mode(env.parent) == 0o700
    assert mode(config / "secret") == 0o600
    assert mode(config) == 0o700
    assert cli.ok("init").stdout.startswith(f"store already exists at {env}")


def test_the_wal_file_of_an_open_store_is_private_too(program_db):
    store = Store.open(program_db, b"k" * 32)
    try:
        store.conn.execute("SELECT count(*) FROM session").fetchone()
        with store.transaction():
            store.set_meta("touched", "yes")
        wal = program_db.with_name(program_db.name + "-wal")
        assert wal.exists() and mode(wal) == 0o600
        assert mode(program_db.with_name(program_db.name + "-shm")) == 0o600
    finally:
        store.close()


def test_every_connection_enforces_keys_wal_full_sync_and_waits_for_locks(program_db):
    store = Store.open(program_db)
    try:
        pragma = lambda name: store.conn.execute(f"PRAGMA {name}").fetchone()[0]  # noqa: E731
        assert pragma("foreign_keys") == 1
        assert pragma("journal_mode") == "wal"
        assert pragma("synchronous") == 2  # FULL
        assert pragma("busy_timeout") >= 5000
        assert pragma("user_version") == SCHEMA_VERSION
    finally:
        store.close()


def test_tables_are_strict_and_constrained(program_db):
    conn = open_db(program_db)
    conn.execute("PRAGMA foreign_keys = ON")
    try:
        strict = {row[1] for row in conn.execute("PRAGMA table_list") if row[5] == 1}
        assert {"site", "specialist", "participant", "session", "supervision", "milestone", "audit"} <= strict
        with pytest.raises(dbapi_of(conn).IntegrityError, match="FOREIGN KEY"):
            conn.execute("INSERT INTO specialist (id, site_id) VALUES ('X', 'nowhere')")
        with pytest.raises(dbapi_of(conn).IntegrityError, match="CHECK"):
            conn.execute("UPDATE participant SET enrolled_on = '2026-13-01'")
        with pytest.raises(dbapi_of(conn).IntegrityError, match="CHECK"):
            conn.execute("UPDATE participant SET arm = 'placebo'")
        with pytest.raises(dbapi_of(conn).IntegrityError, match="CHECK"):
            conn.execute("UPDATE participant SET status = 'exited'")  # without an exit date
    finally:
        conn.close()


def test_a_store_from_a_newer_vpslog_is_refused(cli, program_db):
    conn = open_db(program_db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    result = cli("sessions")
    assert result.exit_code == 3
    assert f"has schema version {SCHEMA_VERSION + 1}, newer than this vpslog understands" in result.stderr


def test_an_older_store_is_migrated_in_one_transaction(tmp_path, monkeypatch):
    """A migration that fails half-way leaves the file exactly as it was."""
    broken = [list(MIGRATION) for MIGRATION in store_schema.MIGRATIONS]
    broken[-1].append("CREATE TABLE site (id TEXT)")  # fails: site exists by then
    monkeypatch.setattr(store_schema, "MIGRATIONS", broken)
    path = tmp_path / "old.db"
    with pytest.raises(sqlite3.OperationalError, match="already exists"):
        Store.open(path, create=True)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    conn.close()
    monkeypatch.undo()
    with pytest.raises(StoreError, match="is not a vpslog store \\(an empty file\\)"):
        Store.open(path)  # a listing does not make a store of it
    store = Store.open(path, create=True)  # init takes up the private file a failed first migration left
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    store.close()


def test_opening_a_store_others_can_read_warns_with_the_fix(cli, program_db):
    os.chmod(program_db, 0o644)
    result = cli.ok("sessions")
    assert f"warning: {program_db} can be read by other users; fix with: chmod 600 {program_db}*" in result.stderr


def test_a_file_that_is_not_a_store_is_refused_as_a_store_problem(cli, env):
    env.parent.mkdir(parents=True)
    env.write_bytes(b"this is not sqlite at all, just text" * 100)
    result = cli("sessions")
    assert result.exit_code == 3
    assert result.stderr.startswith(f"error: {env} is not a vpslog store")


def test_every_write_appends_an_audit_entry(cli, program_db):
    conn = open_db(program_db)
    actions = conn.execute("SELECT action, tbl, record_id, actor FROM audit ORDER BY seq").fetchall()
    conn.close()
    assert [(a, t, r) for a, t, r, _ in actions] == [
        ("insert", "site", "S1"), ("insert", "specialist", "PS1"), ("insert", "specialist", "PS2"),
        ("insert", "participant", "P-0001"), ("insert", "participant", "P-0002")]


def test_the_audit_table_refuses_update_and_delete(cli, program_db):
    conn = open_db(program_db)
    try:
        with pytest.raises(dbapi_of(conn).IntegrityError, match="append-only"):
            conn.execute("UPDATE audit SET actor = 'someone' WHERE seq = 1")
        with pytest.raises(dbapi_of(conn).IntegrityError, match="append-only"):
            conn.execute("DELETE FROM audit WHERE seq = 1")
    finally:
        conn.close()



def test_audit_verify_passes_on_an_untouched_trail(cli, program_db):
    cli.ok("log", "P-0001", "45", "-n", "note")
    assert cli.ok("audit", "verify").stdout.startswith("audit trail verified: 6 entries")


def test_audit_verify_names_an_edited_entry(cli, program_db):
    tamper(program_db, "UPDATE audit SET actor = 'someone else' WHERE seq = 3")
    result = cli("audit", "verify")
    assert result.exit_code == 3
    assert result.stderr.endswith("error: audit trail: audit chain: audit entry 3 (insert specialist PS2) was "
                                  "changed after it was written: its content does not match its hash\n")


def test_audit_verify_names_a_removed_entry(cli, program_db):
    tamper(program_db, "DELETE FROM audit WHERE seq = 2")
    result = cli("audit", "verify")
    assert result.exit_code == 3
    assert "audit entry 2 is missing: the chain jumps from 1 to 3" in result.stderr


def test_audit_verify_detects_a_truncated_tail(cli, program_db):
    tamper(program_db, "DELETE FROM audit WHERE seq >= 4")
    result = cli("audit", "verify")
    assert result.exit_code == 3
    assert "the audit trail ends at entry 3 but the store's head records entry 5" in result.stdout


def test_audit_verify_needs_the_right_secret(cli, program_db, env):
    (env.parent.parent / "config" / "secret").write_text("ab" * 32 + "\n")
    result = cli("audit", "verify")
    assert result.exit_code == 3 and "audit entry 1 (insert site S1) was changed" in result.stderr


def test_notes_are_kept_out_of_the_audit_trail(cli, program_db):
    cli.ok("log", "P-0001", "45", "-n", "a very private sentence")
    conn = open_db(program_db)
    dump = "\n".join(str(tuple(row)) for row in conn.execute("SELECT * FROM audit"))
    conn.close()
    assert "a very private sentence" not in dump and '"note": "hmac:' in dump


def test_a_missing_secret_refuses_writes_without_writing(cli, program_db, env):
    (env.parent.parent / "config" / "secret").unlink()
    before = snapshot(program_db)
    result = cli("log", "P-0001", "45")
    assert result.exit_code == 3 and "project secret is missing" in result.stderr
    assert snapshot(program_db) == before


def test_store_open_without_create_refuses_a_missing_file(tmp_path):
    with pytest.raises(StoreError, match="no store at"):
        Store.open(tmp_path / "none.db")
    assert not (tmp_path / "none.db").exists()


def test_a_version_1_store_is_migrated_to_the_current_schema_keeping_its_records(cli, tmp_path):
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path)
    for statement in store_schema.MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute("INSERT INTO site VALUES ('S1', 'Site one')")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    store = Store.open(path)
    try:
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert {"screening", "allocation"} <= set(store.db.table_names())
        assert store.rows("site") == [{"id": "S1", "name": "Site one"}]
    finally:
        store.close()


@pytest.mark.parametrize("command", [["sessions"], ["log", "P-0001", "45"], ["audit", "verify"], ["init"],
                                     ["init", "--encrypt"]])
def test_a_database_of_another_program_is_never_made_a_store(cli, env, tmp_path, command):
    """A wrong --db naming another program's SQLite file had vpslog's tables added to it (and was switched
    to WAL) by any command; `audit verify` then said it verified."""
    other = tmp_path / "customers.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.commit()
    conn.close()
    before = other.read_bytes()
    result = cli("--db", str(other), *command)
    assert result.exit_code == 3  # init too: it used to ask for the "missing" secret of this file's trail
    assert result.stderr == (f"error: {other} is not a vpslog store (an SQLite database of another program); "
                             "vpslog makes a store only as a new file: choose another --db\n")
    assert other.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir() if "customers" in p.name) == [
        "customers.db"]


def test_what_a_stopped_init_leaves_is_taken_up_by_init_and_never_made_a_plain_store_by_init_encrypt(
        cli, env, tmp_path, store_kind):
    """An init stopped after its WAL pragma leaves an SQLite file with no table: taken for another
    program's, `init --encrypt` made it a plain store and `init` one without its secret; then each
    command's advice sent to the next (encrypt it; remove it; restore the secret)."""
    stopped = tmp_path / "stopped.db"
    conn = sqlite3.connect(stopped)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    os.chmod(stopped, 0o600)
    result = cli("--db", str(stopped), "init", "--encrypt")
    assert (result.exit_code, result.stderr) == (3, (
        f"error: {stopped} is an empty database, as a stopped `vpslog init` leaves: remove it, then run "
        "`vpslog init --encrypt`\n"))
    if store_kind == "plain":  # (an encrypted kind's init is --encrypt: see Cli)
        assert cli.ok("--db", str(stopped), "init").stdout.startswith(f"created store at {stopped}")
        assert (tmp_path / "config" / "secret").exists()
        cli.ok("--db", str(stopped), "site", "add", "S1", "--name", "Site one")


def test_a_store_with_two_names_is_refused(cli, program_db, tmp_path):
    """A hard link gave a store a second name, with a write-ahead log and a witness of its own: a trail
    cut through one name verified through the other, and writes through both can corrupt the file."""
    other = tmp_path / "other-name.db"
    os.link(program_db, other)
    before = program_db.read_bytes()
    for db in (program_db, other):
        result = cli("--db", str(db), "log", "P-0001", "45")
        assert (result.exit_code, result.stderr) == (3, (
            f"error: {db} has 2 names (hard links): SQLite keeps a store's write-ahead log beside the name it is "
            "opened by, so writes through two names can corrupt it, and each name has its own witness, so a trail "
            f"cut through one goes unseen through the other; keep one name (the others: find / -samefile {db}; "
            f"a .{db.name}.tmp-…-old beside it is `vpslog encrypt` or `rekey` at work, or one killed, which "
            "`vpslog doctor` clears)\n"))
    assert program_db.read_bytes() == before
    other.unlink()
    cli.ok("log", "P-0001", "45")


@pytest.mark.parametrize("mode", [0o600, 0o644])
def test_an_empty_file_is_no_store_and_init_takes_up_only_a_private_one(cli, env, tmp_path, mode):
    empty = tmp_path / "empty.db"
    empty.touch()
    os.chmod(empty, mode)
    refusal = (f"error: {empty} is not a vpslog store (an empty file); vpslog makes a store only as a new file: "
               "choose another --db, or remove it and run `vpslog init`\n")
    assert (cli("--db", str(empty), "sessions").exit_code, cli("--db", str(empty), "sessions").stderr) == (3, refusal)
    result = cli("--db", str(empty), "init")
    if mode == 0o600:  # what an init stopped before its first commit leaves
        assert result.exit_code == 0 and result.stdout.startswith(f"created store at {empty}")
    else:
        assert (result.exit_code, result.stderr, empty.stat().st_size) == (3, refusal, 0)


def test_an_error_after_sqlite_rolled_back_by_itself_is_raised_as_it_is(cli, program_db):
    """On a full disk SQLite ends the transaction itself; rolling back again raised "cannot rollback - no
    transaction is active" (exit 3, store problem) in place of the disk's error (exit 74)."""
    store = Store.open(program_db)
    try:
        with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
            with store.transaction():
                store.conn.execute("ROLLBACK")  # what SQLite does by itself
                raise sqlite3.OperationalError("database or disk is full")
        assert not store.conn.in_transaction
    finally:
        store.close()
