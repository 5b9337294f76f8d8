"""The demo lives in a store of its own and never removes a record it did not make."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import NO_SQLCIPHER, snapshot

CHANGED = "the demo never replaces real records: use another --db"


def _marker(db: Path) -> dict:
    conn = sqlite3.connect(db)
    try:
        return json.loads(conn.execute("SELECT value FROM meta WHERE key = 'demo'").fetchone()[0])
    finally:
        conn.close()


def test_demo_without_db_builds_demo_db_beside_the_default_store_and_says_how_to_use_it(cli, default_demo_db):
    result = cli.ok("demo")
    default_store = default_demo_db.with_name("vpslog.db")
    assert f"demo program (seed 1) in {default_demo_db}" in result.stdout
    assert (f"to use it: vpslog --db {default_demo_db} fidelity (or due --specialist PS01, sessions --limit 5), "
            f"or for every command: export VPSLOG_DB={default_demo_db}") in result.stdout
    assert not default_store.exists()
    assert sorted(os.listdir(default_demo_db.parent)) == ["demo.db"]
    assert os.stat(default_demo_db).st_mode & 0o777 == 0o600
    assert os.stat(default_demo_db.parent).st_mode & 0o777 == 0o700
    conn = sqlite3.connect(default_demo_db)
    seq, digest = conn.execute("SELECT value FROM meta WHERE key = 'audit_head'").fetchone()[0].split(":")
    conn.close()
    assert _marker(default_demo_db) == {"seed": 1, "into_empty_store": True, "head_seq": int(seq), "head_hash": digest}
    assert "no store at" in cli("fidelity").stderr  # the default store stays for real records
    assert cli.ok("--db", str(default_demo_db), "fidelity").stdout


def test_rebuilding_a_pure_demo_replaces_the_file_whole(cli, default_demo_db):
    cli.ok("demo")
    before = os.stat(default_demo_db).st_ino
    cli.ok("--db", str(default_demo_db), "fidelity")  # reading does not make it less of a demo
    result = cli.ok("demo", "--seed", "2")
    assert result.stdout.startswith(f"replaced the earlier demo program in {default_demo_db}\n")
    assert os.stat(default_demo_db).st_ino != before  # a new file renamed into place
    assert sorted(os.listdir(default_demo_db.parent)) == ["demo.db"]  # no temp file, no stale -wal/-shm
    assert os.stat(default_demo_db).st_mode & 0o777 == 0o600
    assert _marker(default_demo_db)["seed"] == 2
    assert cli.ok("--db", str(default_demo_db), "audit", "verify").stdout.startswith("audit trail verified")


@pytest.mark.parametrize("change", [
    ["site", "add", "X", "--name", "Y"],
    ["supervision", "log", "PS01", "45", "--supervisor", "A real supervisor"],
])
def test_a_change_to_a_demo_store_is_never_removed_by_the_demo(cli, default_demo_db, change):
    cli.ok("demo")
    db = str(default_demo_db)
    cli.ok("--db", db, "export", "sites", "--out", "-")  # an export changes no record
    cli.ok("--db", db, *change)
    before = snapshot(default_demo_db)
    changed = (f"error: {default_demo_db} is a demo store whose records have changed since it was built "
               f"(1 audit entry since); {CHANGED}\n")
    for args, code, error in (
        (["demo"], 1, changed),
        (["demo", "--seed", "2"], 1, changed),
        (["demo", "--force"], 2, "error: --force is no longer accepted: the demo never goes into a store with "
                                 "real records; choose a new file with --db\n"),
        (["--db", db, "demo"], 1, changed),
    ):
        result = cli(*args)
        assert (result.exit_code, result.stderr, result.stdout) == (code, error, "")
        assert snapshot(default_demo_db) == before
    assert sorted(os.listdir(default_demo_db.parent)) == ["demo.db"]


def test_a_demo_store_that_was_only_exported_from_is_still_rebuilt(cli, default_demo_db, tmp_path):
    cli.ok("demo")
    cli.ok("--db", str(default_demo_db), "export", "--out", str(tmp_path / "out"))
    assert "replaced the earlier demo program" in cli.ok("demo", "--seed", "2").stdout


def test_the_demo_refuses_what_it_did_not_build(cli, env, tmp_path):
    text = tmp_path / "notes.db"
    text.write_text("my notes\n")
    empty = tmp_path / "empty.db"
    empty.touch()
    cli.ok("init")
    for path, error in (
        (text, f"{text} is not a vpslog store; the demo replaces only its own earlier demo store: use another --db"),
        (empty, f"{empty} is not a vpslog store; the demo replaces only its own earlier demo store: use another --db"),
        (env, f"{env} is a vpslog store with 0 records that the demo did not build; {CHANGED}"),
    ):
        before = path.read_bytes()
        result = cli("--db", str(path), "demo")
        assert (result.exit_code, result.stderr, result.stdout) == (1, f"error: {error}\n", "")
        assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config", "data", "empty.db", "notes.db"]


def test_the_demo_refuses_a_demo_mixed_into_real_records(cli, env, tmp_path):
    from vpslog.core import Program
    from vpslog.demo import build_demo

    mixed, legacy = tmp_path / "mixed.db", tmp_path / "legacy.db"
    for path in (mixed, legacy):
        prog = Program.open(path, create=True)
        prog.add_site("REAL", "A real site")
        build_demo(prog, participants=4, days=60)
        prog.close()
    conn = sqlite3.connect(legacy)  # what an older vpslog wrote: only the seed
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'demo'")
    conn.commit()
    conn.close()
    assert _marker(mixed)["into_empty_store"] is False
    for path in (mixed, legacy):
        before = snapshot(path)
        result = cli("--db", str(path), "demo")
        assert (result.exit_code, result.stderr) == (
            1, f"error: {path} holds demo records mixed with others; {CHANGED}\n")
        assert snapshot(path) == before


def test_the_demo_refuses_a_symbolic_link(cli, env, tmp_path):
    target = tmp_path / "elsewhere" / "demo.db"
    link = tmp_path / "demo.db"
    link.symlink_to(target)
    result = cli("--db", str(link), "demo")
    assert (result.exit_code, result.stderr) == (
        1, f"error: {link} is a symbolic link to {target}, which does not exist; vpslog does not create files "
           "through links; use another --db\n")
    assert link.is_symlink() and not target.parent.exists()


def test_a_killed_demo_rebuild_leaves_the_earlier_demo_intact(cli, default_demo_db):
    cli.ok("demo")
    before = snapshot(default_demo_db)
    dies_midway = (
        "import os, signal, sys\n"
        "import vpslog.demo as demo\n"
        "deliver, calls = demo._deliver, []\n"
        "def dying(*args, **kwargs):\n"
        "    calls.append(1)\n"
        "    if len(calls) == 20:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return deliver(*args, **kwargs)\n"
        "demo._deliver = dying\n"
        "from vpslog.cli import app\n"
        "app(sys.argv[1:])\n")
    child = subprocess.run([sys.executable, "-c", dies_midway, "demo", "--seed", "2"], env=os.environ.copy(),
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == -signal.SIGKILL
    assert snapshot(default_demo_db) == before
    conn = sqlite3.connect(default_demo_db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    leftovers = [name for name in os.listdir(default_demo_db.parent) if name != "demo.db"]
    assert leftovers and all(name.startswith(".demo.db.tmp-") for name in leftovers)
    assert cli.ok("demo", "--seed", "2").stdout.startswith("replaced the earlier demo program")
    assert _marker(default_demo_db)["seed"] == 2


def test_a_demo_built_where_another_store_was_verifies(cli, default_demo_db):
    """What is kept outside the store about an earlier file at the path must not count against the new demo."""
    db = str(default_demo_db)
    cli.ok("demo")
    cli.ok("--db", db, "site", "add", "X", "--name", "Y")
    default_demo_db.unlink()
    cli.ok("demo", "--seed", "2")
    assert cli.ok("--db", db, "audit", "verify").stdout.startswith("audit trail verified")
    cli.ok("demo", "--seed", "3")
    assert cli.ok("--db", db, "audit", "verify").stdout.startswith("audit trail verified")


@pytest.mark.skipif(bool(NO_SQLCIPHER), reason=NO_SQLCIPHER or "")
def test_the_demo_is_built_encrypted_when_asked_and_stays_encrypted_when_rebuilt(cli, env, tmp_path, monkeypatch):
    """`demo --encrypt` keeps its key as `init --encrypt` does; a rebuild (plain demo encrypted since with
    `vpslog encrypt` too) keeps the store encrypted under its key; an `init --encrypt` store is not the
    demo's to replace."""
    from vpslog.store.base import encrypted

    demo, key_file = tmp_path / "demo.db", tmp_path / "demo.key"
    monkeypatch.setenv("VPSLOG_KEY_FILE", str(key_file))
    result = cli.ok("--db", str(demo), "demo", "--encrypt")
    assert f"demo program (seed 1) in {demo}, encrypted (key: the key file {key_file})" in result.stdout
    assert encrypted(demo) and b"NORTH" not in demo.read_bytes() and os.stat(key_file).st_mode & 0o777 == 0o600
    assert cli.ok("--db", str(demo), "audit", "verify").stdout.startswith("audit trail verified")
    plain, plain_key = tmp_path / "plain.db", tmp_path / "plain.key"
    monkeypatch.delenv("VPSLOG_KEY_FILE")
    cli.ok("--db", str(plain), "demo", "--seed", "2")
    monkeypatch.setenv("VPSLOG_KEY_FILE", str(plain_key))
    cli.ok("--db", str(plain), "encrypt")
    result = cli.ok("--db", str(plain), "demo", "--seed", "3")
    assert result.stdout.startswith(f"replaced the earlier demo program in {plain}\ndemo program (seed 3) in "
                                    f"{plain}, encrypted (key: the key file {plain_key})\n")
    assert encrypted(plain) and cli.ok("--db", str(plain), "audit", "verify").stdout.startswith("audit trail verified")
    store = tmp_path / "store.db"
    cli.ok("--db", str(store), "init", "--encrypt")
    before = snapshot(store)
    result = cli("--db", str(store), "demo", "--encrypt")
    assert (result.exit_code, result.stdout, result.stderr) == (
        1, "", f"error: {store} is a vpslog store with 0 records that the demo did not build; {CHANGED}\n")
    assert snapshot(store) == before


@pytest.mark.skipif(bool(NO_SQLCIPHER), reason=NO_SQLCIPHER or "")
def test_a_failed_encrypted_demo_build_keeps_no_key(cli, env, tmp_path, monkeypatch):
    from vpslog import demo

    key_file = tmp_path / "demo.key"
    monkeypatch.setenv("VPSLOG_KEY_FILE", str(key_file))

    def disk_full(prog, seed):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(demo, "build_demo", disk_full)
    result = cli("--db", str(tmp_path / "demo.db"), "demo", "--encrypt")
    assert (result.exit_code, result.stderr) == (
        74, "error: the system refused a read or write: No space left on device\n") and not key_file.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config"]  # no store, no temp file, no key
