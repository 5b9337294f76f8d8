"""Encryption at rest: what the security officer of an agency checks on a staff laptop."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from conftest import NO_SQLCIPHER, days_ago, open_db, snapshot, write_key_file

pytestmark = pytest.mark.skipif(bool(NO_SQLCIPHER), reason=NO_SQLCIPHER or "")

NOTE = "talked through the interview at the bakery"
WRONG = "wrong key or not a vpslog store"


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


def test_the_key_is_never_shown_nor_kept_in_the_trail_or_any_output(cli, logged, key_file, tmp_path):
    key = key_file.read_text().strip()
    results = [cli.ok(*args) for args in (
        ("init",), ("sessions", "--format", "json"), ("doctor",), ("audit", "verify"),
        ("backup", str(tmp_path / "copy.db")), ("export", "--out", str(tmp_path / "out")),
        ("decrypt", "--out", str(tmp_path / "plain.db")), ("rekey",))]
    new_key = key_file.read_text().strip()
    assert new_key != key
    seen = "".join(r.stdout + r.stderr for r in results)
    seen += "".join(str(tuple(row)) for row in open_db(logged).execute("SELECT * FROM audit"))
    seen += "".join(p.read_text() for p in (tmp_path / "out").iterdir())
    seen += (tmp_path / "plain.db").read_bytes().decode("latin-1")
    seen += "".join(f"{k}={v}" for k, v in os.environ.items())
    assert key not in seen and new_key not in seen and key.upper() not in seen


def test_rekey_changes_the_key_and_the_old_one_no_longer_opens_the_store(cli, logged, key_file, tmp_path, monkeypatch):
    old = tmp_path / "old.key"
    write_key_file(old, key_file.read_text().strip())
    before = snapshot(logged)
    assert cli.ok("rekey").stdout == f"rekeyed {logged} (key: the key file {key_file}); the old key no longer opens it\n"
    assert key_file.read_text().strip() != old.read_text().strip() and os.stat(key_file).st_mode & 0o777 == 0o600
    assert snapshot(logged) == before and cli.ok("audit", "verify").stdout.startswith("audit trail verified")
    monkeypatch.setenv("VPSLOG_KEY_FILE", str(old))
    result = cli("sessions")
    assert (result.exit_code, result.stderr) == (3, f"error: {logged}: {WRONG}\n")


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
    assert snapshot(plain) == before
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
    assert f"encrypted (SQLCipher), key from the key file {key_file}" in cli.ok("doctor").stdout
    plain = tmp_path / "plain.db"
    monkeypatch.setenv("VPSLOG_KEY_FILE", str(write_key_file(tmp_path / "loose.key", mode=0o644)))
    type(cli)().ok("--db", str(plain), "init")
    result = cli("--db", str(plain), "doctor")
    assert "not encrypted: whoever gets the file can read it" in result.stdout
    assert result.exit_code == 3 and result.stderr == "error: 1 problem: permissions of loose.key\n"


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
    cli.ok("rekey")
    assert cli.ok("site", "list").stdout.count("S1") == 1 and len(keyring_only.entries) == 1


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
