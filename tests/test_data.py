"""Backups, merges of stores from other laptops, and the doctor."""

from __future__ import annotations

import json
import os
import threading

import pytest

from conftest import days_ago, open_db, snapshot

pytestmark = pytest.mark.both_stores


def test_backup_is_a_private_consistent_copy_even_while_writing(cli, program_db, tmp_path):
    stop = threading.Event()

    def writer():
        from vpslog.core import Program

        prog = Program.open(program_db)
        from datetime import date, timedelta

        while not stop.is_set():
            prog.log_session("P-0001", specialist="PS1", minutes=30, on=date.today() - timedelta(days=1),
                             type="individual", mode="phone")
        prog.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        cli.ok("backup", str(tmp_path / "copy.db"))
    finally:
        stop.set()
        thread.join()
    copy = tmp_path / "copy.db"
    assert os.stat(copy).st_mode & 0o777 == 0o600
    conn = open_db(copy)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    assert cli.ok("--db", str(copy), "audit", "verify").stdout.startswith("audit trail verified")
    result = cli("backup", str(copy))
    assert result.exit_code == 1 and "already exists" in result.stderr


def test_doctor_passes_a_healthy_store_and_names_each_problem(cli, program_db, env):
    assert "integrity_check" in cli.ok("doctor").stdout
    os.chmod(program_db, 0o644)
    conn = open_db(program_db)
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("UPDATE audit SET actor = 'x' WHERE seq = 2")
    conn.commit()
    conn.close()
    result = cli("doctor")
    assert result.exit_code == 3
    assert result.stderr.strip().endswith("error: 2 problems: audit trail, permissions of vpslog.db")


def _laptop(cli, tmp_path, name):
    path = tmp_path / f"{name}.db"
    cli.ok("--db", str(path), "init")
    cli.ok("--db", str(path), "site", "add", "S1", "--name", "Site one")
    cli.ok("--db", str(path), "specialist", "add", "PS1", "--site", "S1")
    return path


def test_merge_brings_new_records_and_their_history_and_skips_identical_ones(cli, program_db, tmp_path):
    laptop = tmp_path / "laptop.db"
    from shutil import copyfile

    copyfile(program_db, laptop)
    cli.ok("--db", str(laptop), "log", "P-0001", "45", "-d", days_ago(3))
    cli.ok("--db", str(laptop), "log", "P-0001", "50", "-d", days_ago(2))
    session_id = json.loads(cli.ok("--db", str(laptop), "sessions", "--format", "json").stdout)[0]["id"]
    cli.ok("--db", str(laptop), "amend", session_id[:8], "55", "--reason", "typo")
    result = cli.ok("merge", str(laptop))
    assert "2 sessions" in result.stdout and "3 audit entries brought in" in result.stdout
    merged = {r["id"]: r for r in json.loads(cli.ok("sessions", "--format", "json").stdout)}
    assert merged[session_id]["minutes"] == 55
    history = json.loads(cli.ok("history", session_id[:8], "--format", "json").stdout)
    assert [e["action"] for e in history] == ["insert", "amend"]
    assert cli.ok("audit", "verify").stdout.startswith("audit trail verified")
    again = cli.ok("merge", str(laptop))
    assert "nothing new" in again.stdout


def test_merge_refuses_conflicts_listing_them_and_writes_nothing(cli, program_db, tmp_path):
    from shutil import copyfile

    laptop = tmp_path / "laptop.db"
    copyfile(program_db, laptop)
    cli.ok("--db", str(laptop), "participant", "edit", "P-0002", "--gender", "male", "--reason", "laptop fix")
    before = snapshot(program_db)
    result = cli("merge", str(laptop))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"error: 1 conflicts with {laptop}; nothing was merged:",
                                          "participants P-0002: differs in gender"]
    assert snapshot(program_db) == before


def test_merge_refuses_a_missing_or_foreign_file(cli, program_db, tmp_path):
    result = cli("merge", str(tmp_path / "none.db"))
    assert result.exit_code == 3 and "no store at" in result.stderr
    (tmp_path / "text.db").write_text("not a database")
    result = cli("merge", str(tmp_path / "text.db"))
    assert result.exit_code == 3 and "is not a vpslog store" in result.stderr
    result = cli("merge", str(program_db))
    assert result.exit_code == 1 and "cannot be merged into itself" in result.stderr
