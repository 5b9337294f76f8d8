"""Encryption at rest: what the security officer of an agency checks on a staff laptop."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import NO_SQLCIPHER, days_ago, open_db, snapshot, write_key_file

pytestmark = pytest.mark.skipif(bool(NO_SQLCIPHER), reason=NO_SQLCIPHER or "")

NOTE = "talked through the interview at the bakery"
WRONG = "wrong key or not a vpslog store"


def replaced(db: Path) -> str:
    """The refusal of a command whose store file `encrypt` or `rekey` swapped while it waited."""
    return (f"error: {db} was replaced while this command waited (by `vpslog encrypt` or `rekey`); nothing was "
            "written: run it again\n")


@pytest.fixture
def store_kind() -> str:
    return "encrypted"


@pytest.fixture
def key_file(env: Path) -> Path:
    return Path(os.environ["VPSLOG_KEY_FILE"])


@pytest.fixture
def logged(cli, program_db) -> Path:
    cli.ok("log", "P-0001", "45", "-c", "career", "-n", NOTE)
    return program_db


def one_entry_more(db: Path, before: dict, action: str) -> tuple:
    """The store after an `encrypt` or `rekey` went through: its records and trail as in the snapshot
    `before`, and one audit entry more, for `action` (returned)."""
    after = snapshot(db)
    assert after["audit"][:len(before["audit"])] == before["audit"]
    assert {t: rows for t, rows in after.items() if t not in ("audit", "meta")} == {
        t: rows for t, rows in before.items() if t not in ("audit", "meta")}
    [entry] = after["audit"][len(before["audit"]):]
    assert entry[3] == action
    return entry


def store_files(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (db, db.with_name(db.name + "-wal")) if p.exists())


def test_init_encrypt_makes_a_store_without_plaintext_on_disk(cli, logged, key_file):
    raw = store_files(logged)
    assert not raw.startswith(b"SQLite format 3\0")
    assert b"P-0001" not in raw and NOTE.encode() not in raw and b"Site one" not in raw
    assert cli.ok("show", cli.ok("sessions", "--format", "csv").stdout.splitlines()[1].split(",")[0]).stdout.count(NOTE) == 1


def test_a_wrong_key_is_refused_in_one_line_and_nothing_is_written(cli, logged, tmp_path, monkeypatch):
    before = logged.read_bytes()
    monkeypatch.setenv("VPSLOG_KEY_FILE", str(write_key_file(tmp_path / "other.key")))
    for command in (("sessions",), ("log", "P-0001", "30"), ("doctor",), ("export", "--out", str(tmp_path / "x"))):
        result = cli(*command)
        assert (result.exit_code, result.stdout, result.stderr) == (3, "", f"error: {logged}: {WRONG}\n")
    assert logged.read_bytes() == before and not (tmp_path / "x").exists()


def test_a_key_file_others_can_read_is_refused(cli, logged, key_file):
    before = logged.read_bytes()
    os.chmod(key_file, 0o644)
    result = cli("log", "P-0001", "30")
    assert (result.exit_code, result.stderr) == (
        3, f"error: the key file {key_file} can be read by other users; fix with: chmod 600 {key_file}\n")
    assert logged.read_bytes() == before


def test_the_key_is_never_shown_nor_kept_in_the_trail_or_any_output(cli, logged, key_file, tmp_path, monkeypatch):
    key = key_file.read_text().strip()
    results = [cli.ok(*args) for args in (
        ("init",), ("sessions", "--format", "json"), ("doctor",), ("audit", "verify"),
        ("backup", str(tmp_path / "copy.db")), ("export", "--out", str(tmp_path / "out")),
        ("decrypt", "--out", str(tmp_path / "plain.db")), ("rekey", "--new-key-file", str(tmp_path / "new.key")))]
    new_key = (tmp_path / "new.key").read_text().strip()
    assert new_key != key
    monkeypatch.setenv("VPSLOG_KEY_FILE", str(tmp_path / "new.key"))
    seen = "".join(r.stdout + r.stderr for r in results)
    seen += "".join(str(tuple(row)) for row in open_db(logged).execute("SELECT * FROM audit"))
    seen += "".join(p.read_text() for p in (tmp_path / "out").iterdir())
    seen += (tmp_path / "plain.db").read_bytes().decode("latin-1")
    seen += "".join(f"{k}={v}" for k, v in os.environ.items())
    assert key not in seen and new_key not in seen and key.upper() not in seen


def test_rekey_writes_a_new_key_file_and_leaves_the_shared_one_to_the_other_stores(
        cli, logged, key_file, tmp_path, monkeypatch):
    """One agency key file serves two stores; rekeying one leaves the file, the other store and
    the backups made before the rekey as they were, and says so."""
    other = tmp_path / "other.db"
    cli.ok("--db", str(other), "init")
    cli.ok("--db", str(other), "site", "add", "S9", "--name", "Site nine")
    cli.ok("backup", str(tmp_path / "before.db"))
    shared, new = key_file.read_bytes(), tmp_path / "keys" / "new.key"
    before = snapshot(logged)
    result = cli.ok("rekey", "--new-key-file", str(new))
    assert result.stdout == (f"rekeyed {logged} (key: the key file {new}); the old key no longer opens it\n"
                             f"from now on this store opens with the new key file: set VPSLOG_KEY_FILE={new}\n")
    assert result.stderr == (f"note: backups made before this rekey open with the previous key only: the key file "
                             f"{key_file}, left as it was\n")
    assert key_file.read_bytes() == shared and os.stat(new).st_mode & 0o777 == 0o600
    assert new.read_text().strip() != shared.decode().strip()
    assert cli.ok("--db", str(other), "site", "list", "--format", "csv").stdout.count("S9") == 1
    assert snapshot(tmp_path / "before.db") == before
    result = cli("sessions")
    assert (result.exit_code, result.stderr) == (3, f"error: {logged}: {WRONG}\n")
    monkeypatch.setenv("VPSLOG_KEY_FILE", str(new))
    one_entry_more(logged, before, "rekey")
    assert cli.ok("audit", "verify").stdout.startswith("audit trail verified")


def test_rekey_of_a_key_file_store_needs_a_new_key_file(cli, logged, key_file, tmp_path):
    before, held, taken = logged.read_bytes(), key_file.read_bytes(), write_key_file(tmp_path / "taken.key")
    result = cli("rekey")
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", (
        f"error: the key of {logged} is in the key file {key_file}, which other stores and earlier backups may "
        "use: give a new file for the new key with --new-key-file FILE (nothing was changed)\n"))
    for existing in (taken, key_file):
        result = cli("rekey", "--new-key-file", str(existing))
        assert (result.exit_code, result.stderr) == (
            1, f"error: {existing} already exists; choose a new file for the new key (nothing was changed)\n")
    assert logged.read_bytes() == before and key_file.read_bytes() == held
    assert [p.name for p in logged.parent.iterdir() if p.name.startswith(".")] == []  # no temp file left


def swap_fails(monkeypatch, error: BaseException, step: str = "folder") -> None:
    """A step of encrypt's and rekey's swap fails: the flush of the new copy (`copy`), or of the
    store's folder after the copy was renamed over the store (`folder`, the last step)."""
    from vpslog.store import base

    flush = base.fsync_path

    def fsync_path(path):
        if path.is_dir() == (step == "folder"):
            raise error
        flush(path)

    monkeypatch.setattr(base, "fsync_path", fsync_path)


@pytest.mark.parametrize("error", [KeyboardInterrupt(), OSError(5, "Input/output error")], ids=["interrupt", "EIO"])
def test_an_interrupted_rekey_leaves_the_store_under_the_key_of_its_source(
        cli, logged, key_file, tmp_path, monkeypatch, error):
    before, held, new = snapshot(logged), key_file.read_bytes(), tmp_path / "new.key"
    with monkeypatch.context() as patch:
        swap_fails(patch, error)
        result = cli("rekey", "--new-key-file", str(new))
    assert result.exit_code != 0 and "rekeyed" not in result.stdout
    assert not new.exists() and key_file.read_bytes() == held
    assert snapshot(logged) == before and cli.ok("audit", "verify").stdout.startswith("audit trail verified")
    assert [p.name for p in logged.parent.iterdir() if p.name.startswith(".")] == []  # no temp file left
    assert held.decode().strip() not in result.output + result.stderr


def test_a_command_that_waited_while_the_store_was_swapped_says_so(cli, logged, tmp_path, monkeypatch):
    """A command that opened the store file just before `rekey` renamed its new copy over it: SQLite
    then refuses writing to the old file ("readonly database"); it is told what happened."""
    from vpslog.store import base

    copy = tmp_path / "copy.db"
    cli.ok("backup", str(copy))
    before, real = snapshot(copy), base.connect

    def connect_then_swap(path, key=None, **options):
        conn = real(path, key, **options)
        conn.execute("PRAGMA journal_mode = DELETE")  # as rekey leaves the old file
        os.replace(copy, logged)
        monkeypatch.setattr(base, "connect", real)
        return conn

    monkeypatch.setattr(base, "connect", connect_then_swap)
    result = cli("log", "P-0001", "30")
    assert (result.exit_code, result.stdout, result.stderr) == (3, "", replaced(logged))
    assert snapshot(logged) == before


def test_decrypt_writes_a_plain_copy_that_verifies_with_a_warning(cli, logged, tmp_path, monkeypatch):
    plain = tmp_path / "handover.db"
    result = cli.ok("decrypt", "--out", str(plain))
    assert result.stderr == (f"warning: {plain} holds every record in clear, notes included; hand it over only as "
                             "your program's policy allows, and delete it when done\n")
    assert plain.read_bytes().startswith(b"SQLite format 3\0") and os.stat(plain).st_mode & 0o777 == 0o600
    assert not store_files(logged).startswith(b"SQLite format 3\0")
    records = snapshot(logged)
    monkeypatch.delenv("VPSLOG_KEY_FILE")  # a plain copy needs no key
    assert cli.ok("--db", str(plain), "audit", "verify").stdout.startswith("audit trail verified")
    assert {t: rows for t, rows in snapshot(plain).items() if t not in ("audit", "meta")} == {
        t: rows for t, rows in records.items() if t not in ("audit", "meta")}  # decrypt's own audit entry comes after


def test_decrypt_writes_no_copy_that_the_audit_trail_does_not_record(cli, logged, tmp_path):
    """The copy verifies, but its audit entry cannot be written (the witness file outside the store
    records a later head than the trail holds): no plain copy is left behind."""
    from vpslog import config

    config.witness_path(logged).write_text(json.dumps({"seq": 999, "hash": "0" * 64}))
    before, plain = snapshot(logged), tmp_path / "handover.db"
    result = cli("decrypt", "--out", str(plain))
    assert (result.exit_code, result.stdout, result.stderr) == (3, "", (
        "error: the audit trail ends at entry 6 but the witness file recorded entry 999 (000000000000): entries "
        "were cut or the trail was replaced (or an older copy of the store was restored); nothing was written. Run "
        "`vpslog audit verify`; if an older copy was restored on purpose, accept it with `vpslog audit accept-head "
        "--reason ...`\n"))
    assert not plain.exists() and snapshot(logged) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_decrypt_refuses_an_existing_file_and_a_plain_store(cli, logged, tmp_path):
    taken = tmp_path / "taken.db"
    taken.write_text("mine")
    result = cli("decrypt", "--out", str(taken))
    assert (result.exit_code, result.stderr) == (1, f"error: {taken} already exists; choose a new file for the plain copy\n")
    assert taken.read_text() == "mine"
    plain = tmp_path / "plain.db"
    cli.ok("decrypt", "--out", str(plain))
    result = cli("--db", str(plain), "decrypt", "--out", str(tmp_path / "again.db"))
    assert (result.exit_code, result.stderr) == (1, f"error: {plain} is not encrypted; `vpslog encrypt` encrypts it\n")


def test_encrypt_turns_a_plain_store_into_an_encrypted_one_that_verifies(cli, tmp_path, monkeypatch):
    plain = tmp_path / "plain.db"
    monkeypatch.delenv("VPSLOG_KEY_FILE")
    type(cli)().ok("--db", str(plain), "init")  # a Cli that leaves `init` plain
    cli.ok("--db", str(plain), "site", "add", "S1", "--name", "Site one")
    cli.ok("--db", str(plain), "participant", "add", "P-0009", "--site", "S1", "--enrolled", days_ago(10))
    before = snapshot(plain)
    key_file = tmp_path / "agency.key"
    monkeypatch.setenv("VPSLOG_KEY_FILE", str(key_file))  # not there yet: encrypt makes it, 0600
    result = cli.ok("--db", str(plain), "encrypt")
    assert result.stdout == f"encrypted {plain} (key: the key file {key_file})\n"
    assert "old file's blocks on disk are not overwritten" in result.stderr
    assert os.stat(key_file).st_mode & 0o777 == 0o600
    assert b"P-0009" not in store_files(plain) and not plain.with_name("plain.db-wal").exists()
    one_entry_more(plain, before, "encrypt")
    assert cli.ok("--db", str(plain), "audit", "verify").stdout.startswith("audit trail verified")
    result = cli("--db", str(plain), "encrypt")
    assert (result.exit_code, result.stderr) == (1, f"error: {plain} is already encrypted; `vpslog rekey` changes its key\n")


def test_a_backup_of_an_encrypted_store_stays_encrypted_under_the_same_key(cli, logged, tmp_path):
    copy = tmp_path / "copy.db"
    cli.ok("backup", str(copy))
    assert b"P-0001" not in copy.read_bytes() and not copy.read_bytes().startswith(b"SQLite format 3\0")
    assert snapshot(copy) == snapshot(logged)
    assert cli.ok("--db", str(copy), "audit", "verify").stdout.startswith("audit trail verified")


def test_merge_takes_an_encrypted_store_with_its_own_key_file(cli, program_db, tmp_path, monkeypatch):
    laptop, laptop_key = tmp_path / "laptop.db", write_key_file(tmp_path / "laptop.key")
    ours = os.environ["VPSLOG_KEY_FILE"]
    monkeypatch.setenv("VPSLOG_KEY_FILE", str(laptop_key))
    cli.ok("--db", str(laptop), "init")
    cli.ok("--db", str(laptop), "site", "add", "S1", "--name", "Site one")
    cli.ok("--db", str(laptop), "participant", "add", "P-0042", "--site", "S1", "--enrolled", days_ago(5))
    monkeypatch.setenv("VPSLOG_KEY_FILE", ours)
    before = snapshot(program_db)
    result = cli("merge", str(laptop))
    assert (result.exit_code, result.stderr) == (3, f"error: {laptop}: {WRONG}\n")
    assert snapshot(program_db) == before
    assert "1 participants" in cli.ok("merge", str(laptop), "--key-file", str(laptop_key)).stdout
    assert "P-0042" in cli.ok("participant", "list", "--format", "csv").stdout


def test_doctor_says_the_store_is_encrypted_and_flags_a_loose_key_file(cli, program_db, key_file, tmp_path, monkeypatch):
    doctor = " ".join(re.sub("[│┃]", " ", cli.ok("doctor").stdout).split())
    made = snapshot(program_db)["meta"][0]
    assert made[0] == "created_at" and (f"encrypted (SQLCipher), key from the key file {key_file}; encrypted since "
                                        f"it was made ({made[1]})") in doctor
    conn = open_db(program_db)  # as a store encrypted by a vpslog without `encrypt` entries looks
    conn.execute("DELETE FROM meta WHERE key = 'made_encrypted'")
    conn.close()
    doctor = " ".join(re.sub("[│┃]", " ", cli.ok("doctor").stdout).split())
    assert ("encrypted (SQLCipher), key from the key file " f"{key_file}; its trail does not say when it was "
            "encrypted (made or encrypted by a vpslog older than that record)") in doctor
    plain = tmp_path / "plain.db"
    monkeypatch.setenv("VPSLOG_KEY_FILE", str(write_key_file(tmp_path / "loose.key", mode=0o644)))
    type(cli)().ok("--db", str(plain), "init")
    result = cli("--db", str(plain), "doctor")
    assert "not encrypted: whoever gets the file can read it" in result.stdout
    assert result.exit_code == 3 and result.stderr == "error: 1 problem: permissions of loose.key\n"


def test_doctor_reports_a_loose_key_file_of_an_encrypted_store_as_a_problem(cli, logged, key_file):
    before = snapshot(logged)
    os.chmod(key_file, 0o644)
    result = cli("doctor")
    assert result.exit_code == 3 and result.stderr == "error: 1 problem: key file\n"
    table = " ".join(re.sub("[│┃]", " ", result.stdout).split())  # cells wrapped over lines, joined again
    assert ("encryption encrypted (SQLCipher); not opened, as its key file may not be used: nothing else was checked "
            f"key file the key file {key_file} can be read by other users; fix with: chmod 600 {key_file} ") in table
    os.chmod(key_file, 0o600)
    assert snapshot(logged) == before


def test_exports_of_an_encrypted_store_say_once_that_they_are_in_clear(cli, logged, tmp_path):
    result = cli.ok("export", "sessions", "--out", str(tmp_path / "out"))
    assert result.stderr == (f"warning: {logged} is encrypted, but what this writes is not: it leaves the store in "
                             "clear; --deidentify leaves out free text and identifying dates\n")
    result = cli.ok("export", "sessions", "--out", str(tmp_path / "deid"), "--deidentify")
    assert result.stderr.count("warning:") == 1 and "--deidentify leaves" not in result.stderr


class MemoryKeyring:
    """A keyring backend as an OS one behaves, kept in memory."""

    priority = 1

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, user: str) -> str | None:
        return self.entries.get((service, user))

    def set_password(self, service: str, user: str, password: str) -> None:
        self.entries[(service, user)] = password

    def delete_password(self, service: str, user: str) -> None:
        del self.entries[(service, user)]


@pytest.fixture
def keyring_only(monkeypatch) -> MemoryKeyring:
    keyring = pytest.importorskip("keyring")
    memory = MemoryKeyring()
    monkeypatch.delenv("VPSLOG_KEY_FILE")
    monkeypatch.setattr(keyring, "get_keyring", lambda: memory)
    return memory


def test_with_an_os_keyring_the_key_is_made_and_kept_there_per_store(cli, env, keyring_only):
    result = cli.ok("init")
    assert "encrypted store (key: the OS keyring)" in result.stdout
    [(service, entry)] = keyring_only.entries
    assert (service, entry) == ("vpslog", f"store {env.resolve()}")
    cli.ok("site", "add", "S1", "--name", "Site one")
    cli.ok("backup", str(env.with_name("before.db")))
    previous = keyring_only.entries[(service, entry)]
    result = cli("rekey", "--new-key-file", str(env.with_name("new.key")))
    assert (result.exit_code, result.stderr) == (1, "error: --new-key-file is for a store whose key is in a key file; "
                                                    "this store's key is in the OS keyring (nothing was changed)\n")
    assert not env.with_name("new.key").exists() and keyring_only.entries == {(service, entry): previous}
    result = cli.ok("rekey")
    [aside] = [name for _, name in keyring_only.entries if name != entry]
    assert re.fullmatch(rf"{re.escape(entry)} \(previous key, replaced \d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)", aside)
    assert result.stderr == (f"note: backups made before this rekey open with the previous key only: the OS keyring "
                             f"entry '{aside}' (service vpslog)\n")
    assert keyring_only.entries[(service, aside)] == previous != keyring_only.entries[(service, entry)]
    assert cli.ok("site", "list").stdout.count("S1") == 1


def test_a_key_file_set_for_another_store_does_not_shut_out_this_stores_keyring_key(cli, env, keyring_only, tmp_path,
                                                                                     monkeypatch):
    """Each source is tried until one opens the store: a key file set in the shell for one store, and
    another store's key in the keyring, both open; the issue's order (keyring first) gives the same."""
    cli.ok("init")
    cli.ok("site", "add", "S1", "--name", "Site one")
    [entry] = keyring_only.entries
    monkeypatch.setenv("VPSLOG_KEY_FILE", str(write_key_file(tmp_path / "other-store.key")))
    assert cli.ok("site", "list", "--format", "csv").stdout.splitlines()[1:] == ["S1,Site one"]
    doctor = " ".join(re.sub("[│┃]", " ", cli.ok("doctor").stdout).split())
    assert "encrypted (SQLCipher), key from the OS keyring" in doctor
    before, key = snapshot(env), keyring_only.entries[entry]
    keyring_only.entries[entry] = "0" * 64  # now neither source holds this store's key
    result = cli("site", "add", "S2", "--name", "Site two")
    assert (result.exit_code, result.stdout, result.stderr) == (3, "", f"error: {env}: {WRONG}\n")
    keyring_only.entries[entry] = key
    assert snapshot(env) == before


def test_a_failing_keyring_offers_no_key_and_a_wrong_key_file_stays_a_one_line_refusal(cli, env, keyring_only,
                                                                                        tmp_path, monkeypatch):
    """A locked keyring (or one whose service is gone) raises; it counts as no key offered."""
    cli.ok("init")
    key = keyring_only.entries[("vpslog", f"store {env.resolve()}")]
    before = snapshot(env)

    def locked(service, user):
        raise RuntimeError("the keyring is locked")

    monkeypatch.setattr(keyring_only, "get_password", locked)
    monkeypatch.setenv("VPSLOG_KEY_FILE", str(write_key_file(tmp_path / "other-store.key")))
    result = cli("site", "add", "S1", "--name", "Site one")
    assert (result.exit_code, result.stdout, result.stderr) == (3, "", f"error: {env}: {WRONG}\n")
    monkeypatch.setenv("VPSLOG_KEY_FILE", str(write_key_file(tmp_path / "this-store.key", key)))
    assert cli.ok("site", "list", "--format", "csv").stdout == "id,name\n" and snapshot(env) == before
    monkeypatch.delenv("VPSLOG_KEY_FILE")  # now only the locked keyring: the prompt says why it asks
    result = cli("site", "list")  # no one at the prompt
    assert result.exit_code == 3 and result.stderr.startswith(
        "note: the OS keyring could not be read (RuntimeError: the keyring is locked); unlock it and run this "
        "again, or type the key\n")
    assert "error: no key given" in result.stderr and key not in result.stderr


def test_a_rekey_killed_between_the_keyring_and_the_swap_leaves_a_store_that_still_opens(cli, env, keyring_only,
                                                                                          monkeypatch):
    """While the swap is under way the previous key is also in a fixed keyring entry, tried after the
    store's own: killed (kill -9) after the store's entry got the new key, the old file still opens.
    A rekey that goes through removes that entry."""
    from vpslog.store import base

    cli.ok("init")
    cli.ok("site", "add", "S1", "--name", "Site one")
    entry, key = next(iter(keyring_only.entries.items()))
    during = (entry[0], f"{entry[1]} (previous key, rekey under way)")
    seen, swap_in = [], base.Store._swap_in

    def watched_swap(store, tmp):
        seen.append(dict(keyring_only.entries))
        return swap_in(store, tmp)

    with monkeypatch.context() as patch:
        patch.setattr(base.Store, "_swap_in", watched_swap)
        cli.ok("rekey")
    assert seen[0][during] == key and seen[0][entry] != key and during not in keyring_only.entries
    before = snapshot(env)
    new = keyring_only.entries[entry]
    keyring_only.entries[entry], keyring_only.entries[during] = "ab" * 32, new  # as a kill -9 leaves them
    assert cli.ok("site", "list", "--format", "csv").stdout == "id,name\nS1,Site one\n"
    assert cli.ok("audit", "verify").stdout.startswith("audit trail verified") and snapshot(env) == before


@pytest.mark.parametrize("step", ["copy", "folder"])
def test_an_interrupted_rekey_puts_the_keyring_back(cli, env, keyring_only, monkeypatch, step):
    cli.ok("init")
    cli.ok("site", "add", "S1", "--name", "Site one")
    before, entries = snapshot(env), dict(keyring_only.entries)
    with monkeypatch.context() as patch:
        swap_fails(patch, KeyboardInterrupt(), step)
        result = cli("rekey")
    assert result.exit_code != 0 and keyring_only.entries == entries
    assert not any(key in result.output + result.stderr for key in entries.values())
    assert snapshot(env) == before and cli.ok("audit", "verify").stdout.startswith("audit trail verified")


def test_without_keyring_or_key_file_the_key_is_typed_twice_and_asked_for_each_time(cli, env, monkeypatch):
    monkeypatch.delenv("VPSLOG_KEY_FILE")
    from vpslog import keys

    monkeypatch.setattr(keys, "_typed", {})
    typed = "correct horse battery staple"
    short = cli("init", input="short\n")
    assert short.exit_code == 1 and short.stderr.endswith(
        ":error: a key typed at the prompt needs at least 12 characters; nothing was changed\n")
    differ = cli("init", input=f"{typed}\nsomething else\n")
    assert differ.exit_code == 1 and differ.stderr.endswith("error: the two keys typed differ; nothing was changed\n")
    assert not env.exists() or env.stat().st_size == 0
    assert f"created store at {env}: encrypted store (key: typed; vpslog keeps no copy of a typed key)" in cli.ok("init", input=f"{typed}\n{typed}\n").stdout
    assert typed not in "".join(cli.ok("site", "list").output)
    monkeypatch.setattr(keys, "_typed", {})
    result = cli("site", "list", input="not the right one\n")
    assert result.exit_code == 3 and result.stderr.endswith(f":error: {env}: {WRONG}\n")
    monkeypatch.setattr(keys, "_typed", {})
    result = cli("site", "list")  # no input at all
    assert result.exit_code == 3 and "no key given: set VPSLOG_KEY_FILE to a key file (0600)" in result.stderr
    monkeypatch.setattr(keys, "_typed", {env.resolve(): keys.Key(typed, "prompt")})  # as if typed to open it
    before = snapshot(env)  # the audit trail included: no `rekey` entry
    same = cli("rekey", input=f"{typed}\n{typed}\n")  # the "new" key, twice
    assert same.exit_code == 1 and same.stderr.endswith("error: the new key is the one in use; nothing was changed\n")
    assert snapshot(env) == before


def test_html_reports_of_an_encrypted_store_say_once_that_they_are_in_clear(cli, logged, tmp_path):
    """`report html` and `review report --out` write files in clear, as exports do; printing a review
    to standard output writes no file, so it says nothing."""
    warning = (f"warning: {logged} is encrypted, but what this writes is not: it leaves the store in "
               "clear; --deidentify leaves out free text and identifying dates\n")
    result = cli.ok("report", "html", "--out", str(tmp_path / "report.html"))
    assert result.stderr == warning
    result = cli.ok("report", "html", "--out", str(tmp_path / "deid.html"), "--deidentify")
    assert result.stderr.count("warning:") == 1 and "--deidentify leaves" not in result.stderr
    review = re.search(r"started review ([0-9a-f]{8})", cli.ok("review", "start", "--reviewer", "Reviewer A").stdout)[1]
    assert cli.ok("review", "report", review, "--format", "html", "--out", str(tmp_path / "review.html")).stderr == warning
    assert cli.ok("review", "report", review).stderr == ""


def test_a_key_never_shows_in_its_repr():
    """A key that reaches a traceback (`--debug`) or a log line through repr() stays hidden."""
    from vpslog.keys import Key

    key = Key("0123456789abcdef" * 4, "key file", Path("/tmp/agency.key"))
    assert "0123456789abcdef" not in repr(key) and "key file" in repr(key)


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


def opens_with(cli, monkeypatch, key_file: Path) -> bool:
    monkeypatch.setenv("VPSLOG_KEY_FILE", str(key_file))
    return cli("audit", "verify").stdout.startswith("audit trail verified")


@pytest.mark.parametrize("error", [OSError(5, "Input/output error"), KeyboardInterrupt()], ids=["EIO", "interrupt"])
def test_a_failure_after_the_swap_keeps_the_new_key_with_the_new_file(
        cli, logged, key_file, tmp_path, monkeypatch, error):
    """The rename and the folder's flush went through, then removing the old file fails (or Ctrl-C):
    the store is the new copy, so the new key file stays (it alone opens it)."""
    before, new, unlink = snapshot(logged), tmp_path / "new.key", Path.unlink

    def failing_unlink(self, missing_ok=False):
        unlink(self, missing_ok=missing_ok)
        if self.name.endswith("-old"):
            raise error

    with monkeypatch.context() as patch:
        patch.setattr(Path, "unlink", failing_unlink)
        result = cli("rekey", "--new-key-file", str(new))
    if isinstance(error, OSError):
        [aside] = re.findall(r"delete (\S+), which", result.stderr)
        assert (result.exit_code, result.stdout, result.stderr) == (3, "", (
            f"error: {logged} was swapped for its new copy, which opens with the new key, but the old file could "
            f"not be removed (Input/output error): delete {aside}, which may hold the records in clear\n"))
    else:
        assert result.exit_code != 0 and "rekeyed" not in result.stdout
    assert new.exists() and not opens_with(cli, monkeypatch, key_file)
    assert opens_with(cli, monkeypatch, new) and one_entry_more(logged, before, "rekey")


def test_ctrl_c_during_the_swap_is_taken_once_the_old_file_and_key_are_back(
        cli, logged, key_file, tmp_path, monkeypatch):
    """The folder's flush fails, and Ctrl-C is pressed twice while the old file is put back: both wait
    until the old file and the key file's absence are restored, the swap's error ends the command, and
    the store opens as before."""
    import signal

    before, new, replace = snapshot(logged), tmp_path / "new.key", os.replace

    def interrupted_replace(src, dst):
        if str(src).endswith("-old"):
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        replace(src, dst)

    with monkeypatch.context() as patch:
        swap_fails(patch, OSError(5, "Input/output error"))
        patch.setattr(os, "replace", interrupted_replace)
        result = cli("rekey", "--new-key-file", str(new))
    assert result.exit_code != 0 and "rekeyed" not in result.stdout
    assert not new.exists() and temp_files(logged.parent) == []
    assert opens_with(cli, monkeypatch, key_file) and snapshot(logged) == before


def test_ctrl_c_during_a_swap_that_goes_through_is_taken_after_saying_where_the_new_key_is(
        cli, logged, tmp_path, monkeypatch):
    """The change is final by the time the held Ctrl-C is taken: the command says so first (the new key
    file to use from now on), then ends as interrupted."""
    import signal

    from vpslog.store import base

    before, new, swap_in = snapshot(logged), tmp_path / "new.key", base.Store._swap_in

    def interrupted_swap(store, tmp):
        os.kill(os.getpid(), signal.SIGINT)
        return swap_in(store, tmp)

    with monkeypatch.context() as patch:
        patch.setattr(base.Store, "_swap_in", interrupted_swap)
        result = cli("rekey", "--new-key-file", str(new))
    assert result.exit_code == 130
    assert f"from now on this store opens with the new key file: set VPSLOG_KEY_FILE={new}" in result.stdout
    assert opens_with(cli, monkeypatch, new) and one_entry_more(logged, before, "rekey")


@pytest.mark.parametrize("command", ["encrypt", "rekey"])
def test_a_key_file_that_appears_while_the_copy_is_made_is_refused(cli, env, tmp_path, monkeypatch, command):
    """Another `vpslog encrypt` sharing the key file made it meanwhile: its key is neither written
    over nor swapped in under a key kept nowhere."""
    from vpslog.store import base

    if command == "encrypt":
        monkeypatch.delenv("VPSLOG_KEY_FILE")
        type(cli)().ok("init")
        target = tmp_path / "agency.key"
        monkeypatch.setenv("VPSLOG_KEY_FILE", str(target))
        args, advice = ("encrypt",), "run this again to use the key it holds (another vpslog command made it)"
    else:
        cli.ok("init")
        target = tmp_path / "new.key"
        args, advice = ("rekey", "--new-key-file", str(target)), "choose a new file for the new key"
    cli.ok("site", "add", "S1", "--name", "Site one")
    before, copy = snapshot(env), base.Store._copy

    def copy_while_another_makes_the_key(self, tmp, key, record=None):
        write_key_file(target, "ab" * 32)
        return copy(self, tmp, key, record)

    with monkeypatch.context() as patch:
        patch.setattr(base.Store, "_copy", copy_while_another_makes_the_key)
        result = cli(*args)
    assert (result.exit_code, result.stdout, result.stderr) == (
        1, "", f"error: {target} appeared meanwhile; {advice} (nothing was changed)\n")
    assert target.read_text() == "ab" * 32 + "\n" and snapshot(env) == before
    assert base.encrypted(env) == (command == "rekey") and temp_files(env.parent) == []
    if command == "encrypt":
        cli.ok("encrypt")  # run again: the key the other command made
        assert one_entry_more(env, before, "encrypt") and base.encrypted(env)


def test_rekeys_in_the_same_second_each_keep_the_key_they_replace(cli, env, keyring_only, monkeypatch):
    """Each previous key has an entry of its own, and a failed rekey forgets only the entry it made."""
    from vpslog import parsing

    cli.ok("init")
    cli.ok("site", "add", "S1", "--name", "Site one")
    monkeypatch.setattr(parsing, "utc_stamp", lambda moment=None: "2026-01-01T00:00:00Z")
    entry = f"store {env.resolve()}"
    first = keyring_only.entries[("vpslog", entry)]
    cli.ok("rekey")
    second = keyring_only.entries[("vpslog", entry)]
    with monkeypatch.context() as patch:
        swap_fails(patch, OSError(5, "Input/output error"))
        assert cli("rekey").exit_code != 0
    result = cli.ok("rekey")
    assert "'store " + f"{env.resolve()} (previous key, replaced 2026-01-01T00:00:00Z, 2)'" in result.stderr
    aside = f"{entry} (previous key, replaced 2026-01-01T00:00:00Z"
    assert {name: key for (_, name), key in keyring_only.entries.items() if name != entry} == {
        f"{aside})": first, f"{aside}, 2)": second}


def dead_pid() -> int:
    import subprocess

    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_doctor_and_encrypt_remove_what_a_killed_command_left(cli, logged, key_file, tmp_path, monkeypatch):
    """A plain copy (a killed `encrypt`'s old file), a key file's temp file and a running command's temp
    file: the first two go, said so (the plain copy as a problem); the third, and other names, stay."""
    dead, folder = dead_pid(), logged.parent
    plain = folder / f".vpslog.db.tmp-{dead}-0123456789ab-old"
    plain.write_bytes(b"SQLite format 3\0" + b"\0" * 496)
    key_temp = tmp_path / f".store.key.tmp-{dead}-0123456789ab"
    key_temp.write_text("cd" * 32)
    running = folder / f".vpslog.db.tmp-{os.getpid()}-0123456789ab"
    others = [folder / f".vpslog.db.tmp-{dead}-0123456789ab.mine", folder / "vpslog.db.tmp-1-0123456789ab"]
    for path in (running, *others):
        path.write_text("x")
    before = snapshot(logged)
    result = cli("doctor")
    table = " ".join(re.sub("[│┃]", " ", result.stdout).split())
    assert (result.exit_code, result.stderr) == (3, "error: 1 problem: leftover plain copy\n")
    assert (f"leftover temp file removed {key_temp} (left by an interrupted vpslog command)" in table
            and f"leftover plain copy removed {plain}, a copy of the store in clear left by an interrupted "
                "vpslog command (its blocks may stay on disk)" in table)
    assert not plain.exists() and not key_temp.exists() and running.exists() and all(p.exists() for p in others)
    assert cli.ok("doctor").stdout.count("leftover") == 0 and snapshot(logged) == before
    os.replace(running, folder / f".vpslog.db.tmp-{dead}-0123456789ab-journal")
    result = cli.ok("rekey", "--new-key-file", str(tmp_path / "new.key"))
    assert result.stderr.startswith(f"note: removed {folder}/.vpslog.db.tmp-{dead}-0123456789ab-journal, left by "
                                    "an interrupted vpslog command\n")


def test_a_kill_9_in_the_middle_of_encrypt_leaves_a_plain_copy_that_doctor_removes(cli, tmp_path, monkeypatch):
    """Killed after the rename, before the folder's flush and the removal of the old file's other name:
    the store is encrypted under the key file made for it, and the plain old file goes at the next doctor."""
    import subprocess
    import sys

    monkeypatch.delenv("VPSLOG_KEY_FILE")
    plain = tmp_path / "data" / "vpslog.db"
    type(cli)().ok("init")
    cli.ok("site", "add", "S1", "--name", "Site one")
    before = snapshot(plain)
    monkeypatch.setenv("VPSLOG_KEY_FILE", str(tmp_path / "agency.key"))
    killed = subprocess.run([sys.executable, "-c", (
        "import os, signal\n"
        "from vpslog.store import base\n"
        "base.fsync_path = lambda path: os.kill(os.getpid(), signal.SIGKILL) if path.is_dir() else None\n"
        "from vpslog.cli import app\n"
        "app(['encrypt'])\n")], capture_output=True)
    assert killed.returncode == -9
    [left] = temp_files(plain.parent)
    assert left.endswith("-old") and (plain.parent / left).read_bytes().startswith(b"SQLite format 3\0")
    result = cli("doctor")
    assert (result.exit_code, result.stderr) == (3, "error: 1 problem: leftover plain copy\n")
    assert temp_files(plain.parent) == [] and one_entry_more(plain, before, "encrypt")
    assert cli.ok("doctor").stdout.count("encrypted (SQLCipher), key from the key file") == 1


def test_a_command_that_read_the_old_key_before_a_rekey_swapped_the_file_says_so(cli, logged, tmp_path, monkeypatch):
    """`log` read the key, then `rekey` renamed its copy under a new key over the store: the old key
    does not open the new file, and the command says why."""
    from vpslog import keys

    before = snapshot(logged)
    cli.ok("backup", str(tmp_path / "old.db"))
    cli.ok("rekey", "--new-key-file", str(tmp_path / "new.key"))
    os.replace(logged, tmp_path / "rekeyed.db")
    os.replace(tmp_path / "old.db", logged)  # back to before the rekey, under the key of VPSLOG_KEY_FILE
    store_keys = keys.store_keys

    def keys_then_swap(path, key_file=None):
        for key in store_keys(path, key_file):
            if (tmp_path / "rekeyed.db").exists():
                os.replace(tmp_path / "rekeyed.db", path)
            yield key

    monkeypatch.setattr(keys, "store_keys", keys_then_swap)
    result = cli("log", "P-0001", "30")
    assert (result.exit_code, result.stdout, result.stderr) == (3, "", replaced(logged))
    monkeypatch.setattr(keys, "store_keys", store_keys)
    assert opens_with(cli, monkeypatch, tmp_path / "new.key") and one_entry_more(logged, before, "rekey")


def test_encrypt_and_rekey_are_audit_events_that_say_where_the_key_is_and_never_hold_it(cli, tmp_path, monkeypatch):
    """The trail answers when the store was encrypted and its key changed, and by whom; after each the
    witness keeps the new head, so `audit verify` and `doctor` are clean."""
    import getpass

    from vpslog import config

    db, first, second = tmp_path / "plain.db", tmp_path / "agency.key", tmp_path / "new.key"
    monkeypatch.delenv("VPSLOG_KEY_FILE")
    type(cli)().ok("--db", str(db), "init")
    cli.ok("--db", str(db), "site", "add", "S1", "--name", "Site one")
    for key_file, command in ((first, ("encrypt",)), (second, ("rekey", "--new-key-file", str(second)))):
        monkeypatch.setenv("VPSLOG_KEY_FILE", str(first))
        cli.ok("--db", str(db), *command)
        monkeypatch.setenv("VPSLOG_KEY_FILE", str(key_file))
        head = json.loads(config.witness_path(db).read_text())["seq"]
        verified = cli.ok("--db", str(db), "audit", "verify")
        assert (verified.stdout.startswith(f"audit trail verified: {head} entries"), verified.stderr) == (True, "")
        assert cli.ok("--db", str(db), "doctor").stderr == ""
    events = json.loads(cli.ok("--db", str(db), "audit", "events", "--format", "json").stdout)
    assert [(e["seq"], e["actor"], e["action"], e["subject"], e["details"]) for e in events] == [
        (2, getpass.getuser(), "encrypt", "store plain.db", {"encrypted": "SQLCipher", "key": f"the key file {first}"}),
        (3, getpass.getuser(), "rekey", "store plain.db", {
            "key": f"the key file {second}", "previous_key": f"the key file {first}, left as it was"})]
    table = cli.ok("--db", str(db), "audit", "events").stdout
    assert "encrypt" in table and "rekey" in table
    doctor = " ".join(re.sub("[│┃]", " ", cli.ok("--db", str(db), "doctor").stdout).split())
    assert (f"key file {second}; encrypted {events[0]['at']} by {getpass.getuser()}; key last changed "
            f"{events[1]['at']} by {getpass.getuser()}") in doctor
    cli.ok("--db", str(db), "decrypt", "--out", str(tmp_path / "clear.db"))
    clear = (tmp_path / "clear.db").read_bytes()
    assert b"the key file" in clear
    for key_file in (first, second):
        key = key_file.read_text().strip()
        assert key.encode() not in clear and key.upper().encode() not in clear and key not in table


def test_a_refused_encrypt_or_rekey_leaves_no_audit_entry(cli, logged, tmp_path, monkeypatch):
    """Another connection open, a copy that does not verify, a trail cut behind the witness: each
    refused in one line, exit 3, the store, its trail and the key file as they were."""
    from vpslog import config
    from vpslog.store import base

    before, new = snapshot(logged), tmp_path / "new.key"
    other = open_db(logged)
    result = cli("rekey", "--new-key-file", str(new))
    other.close()
    assert (result.exit_code, result.stdout, result.stderr) == (3, "", (
        f"error: another vpslog command has {logged} open; run this again when it has ended (nothing was changed)\n"))
    with monkeypatch.context() as patch:
        patch.setattr(base, "first_break", lambda *args: "audit entry 7 was changed")
        result = cli("rekey", "--new-key-file", str(new))
    assert (result.exit_code, result.stdout, result.stderr) == (3, "", (
        "error: the new copy of the store did not verify (audit chain: audit entry 7 was changed); nothing was "
        "changed\n"))
    config.witness_path(logged).write_text(json.dumps({"seq": 999, "hash": "0" * 64}))
    result = cli("rekey", "--new-key-file", str(new))
    assert (result.exit_code, result.stdout) == (3, "") and result.stderr.startswith(
        "error: the audit trail ends at entry 6 but the witness file recorded entry 999 (000000000000)")
    assert snapshot(logged) == before and not new.exists() and temp_files(logged.parent) == []


def test_an_encrypt_refused_while_another_command_has_the_store_open_changes_nothing(cli, tmp_path, monkeypatch):
    from vpslog.store.base import connect, encrypted

    db, key_file = tmp_path / "plain.db", tmp_path / "agency.key"
    monkeypatch.delenv("VPSLOG_KEY_FILE")
    type(cli)().ok("--db", str(db), "init")
    cli.ok("--db", str(db), "site", "add", "S1", "--name", "Site one")
    before = snapshot(db)
    monkeypatch.setenv("VPSLOG_KEY_FILE", str(key_file))
    other = connect(db, cipher=True)  # the library encrypt uses: POSIX locks do not part two in one process
    other.execute("SELECT count(*) FROM site").fetchone()
    result = cli("--db", str(db), "encrypt")
    other.close()
    assert (result.exit_code, result.stdout, result.stderr) == (3, "", (
        f"error: another vpslog command has {db} open; run this again when it has ended (nothing was changed)\n"))
    assert snapshot(db) == before and not encrypted(db) and not key_file.exists()


def test_decrypt_killed_after_its_entry_and_before_its_copy_leaves_no_copy(cli, logged, tmp_path):
    """A real SIGKILL as the copy is linked into place: it was linked before the entry committed, so a kill
    between left a plain copy the trail did not record; now the entry commits first (a kill between
    leaves an entry for a copy that is not there, erring towards disclosure)."""
    plain = tmp_path / "handover.db"
    killed = ("import os, signal, sys\n"
              "os.link = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)\n"
              "from vpslog.quick import main\n"
              f"sys.argv = ['vpslog', 'decrypt', '--out', {str(plain)!r}]\n"
              "main()\n")
    done = subprocess.run([sys.executable, "-c", killed], env=os.environ.copy(), capture_output=True, timeout=120)
    assert done.returncode == -signal.SIGKILL
    assert not plain.exists()
    events = json.loads(cli.ok("audit", "events", "--format", "json").stdout)
    assert events[-1]["action"] == "export" and "handover.db" in json.dumps(events[-1])


def test_a_key_file_that_is_a_dangling_link_is_refused_once_with_why(cli, tmp_path, monkeypatch):
    """`encrypt` said "appeared meanwhile; run this again", and again at every run."""
    plain = tmp_path / "plain.db"
    monkeypatch.delenv("VPSLOG_KEY_FILE")
    type(cli)().ok("--db", str(plain), "init")
    link = tmp_path / "agency.key"
    link.symlink_to(tmp_path / "nowhere.key")
    monkeypatch.setenv("VPSLOG_KEY_FILE", str(link))
    before = snapshot(plain)
    for _ in range(2):
        result = cli("--db", str(plain), "encrypt")
        assert (result.exit_code, result.stderr) == (1, (
            f"error: {link} is a symbolic link to {tmp_path / 'nowhere.key'}, which does not exist; vpslog does not "
            "create files through links; name a new file for the key (nothing was changed)\n"))
    assert snapshot(plain) == before and not (tmp_path / "nowhere.key").exists()
    assert plain.read_bytes().startswith(b"SQLite format 3\0")  # still plain


def test_decrypt_whose_witness_the_system_refuses_still_leaves_its_recorded_copy(cli, logged, tmp_path, monkeypatch):
    """The entry committed, the witness update failed, and the error escaped before the copy was linked:
    "the change was saved" with no copy. Now the copy is linked, then that is said."""
    import errno

    def full(path, text, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    plain = tmp_path / "handover.db"
    with monkeypatch.context() as patched:
        patched.setattr("vpslog.store.base.write_private", full)
        result = cli("decrypt", "--out", str(plain))
    assert result.exit_code == 74 and "the change was saved, but the witness file" in result.stderr
    assert plain.read_bytes().startswith(b"SQLite format 3\0")
