"""A long import must not lock everyone out: the file is validated and staged without the
write lock, then inserted in one short transaction that re-checks what changed meanwhile."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest

from conftest import snapshot
from vpslog import importer
from vpslog.core import Program
from vpslog.tables import TABLES

HEADER = "id,participant_id,specialist_id,date,minutes,type,mode,entered_at,entered_by"


def _csv(tmp_path: Path, count: int, start: int = 1, day: int = 10) -> Path:
    when = (date.today() - timedelta(days=day)).isoformat()
    path = tmp_path / f"sessions-{start}-{count}.csv"
    with open(path, "w", encoding="utf-8") as file:
        file.write(HEADER + "\n")
        for n in range(start, start + count):
            file.write(f"{n:032x},P-0001,PS1,{when},45,individual,phone,2026-01-01T10:00:00Z,PS1\n")
    return path


def _import_while(monkeypatch, program_db, path, meanwhile):
    """Import `path` through the library; `meanwhile(other)` runs on a second connection to the
    same file right after the first staging, as another specialist's process would."""
    staged = importer._stage
    calls = []

    def stage_then_someone_writes(*args, **kwargs):
        counts = staged(*args, **kwargs)
        calls.append(1)
        if len(calls) == 1:
            other = Program.open(program_db)
            try:
                meanwhile(other)
            finally:
                other.close()
        return counts

    monkeypatch.setattr(importer, "_stage", stage_then_someone_writes)
    prog = Program.open(program_db)
    try:
        return importer.import_csv(prog, TABLES["sessions"], path), len(calls)
    finally:
        prog.close()


def _count(db: Path, sql: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


def test_a_session_logged_during_the_import_is_kept_and_the_chain_rebuilt(cli, program_db, tmp_path, monkeypatch):
    def log(other):
        other.log_session("P-0002", specialist="PS2", minutes=30, on=date.today(), type="individual", mode="phone")

    result, stagings = _import_while(monkeypatch, program_db, _csv(tmp_path, 300), log)
    assert (result.inserted, stagings) == (300, 1)  # nothing to validate again: only the chain moved
    assert _count(program_db, "SELECT count(*) FROM session") == 301
    assert cli.ok("audit", "verify").stdout.startswith("audit trail verified: 307 entries")


def test_a_participant_exited_during_the_import_is_validated_again(cli, program_db, tmp_path, monkeypatch):
    def exit_participant(other):
        other.exit_participant("P-0001", date.today() - timedelta(days=20), "moved away")

    with pytest.raises(importer.ImportRefused) as refused:
        _import_while(monkeypatch, program_db, _csv(tmp_path, 5), exit_participant)
    assert str(refused.value).splitlines()[:2] == [
        f"5 bad rows in {tmp_path / 'sessions-1-5.csv'}; nothing was imported:",
        f"{tmp_path / 'sessions-1-5.csv'}:2: P-0001 exited on {(date.today() - timedelta(days=20)).isoformat()}; "
        f"no session can be logged after that (session date {(date.today() - timedelta(days=10)).isoformat()})"]
    assert _count(program_db, "SELECT count(*) FROM session") == 0
    assert cli.ok("audit", "verify").stdout.startswith("audit trail verified")


def test_a_row_added_meanwhile_with_a_staged_id_is_seen(cli, program_db, tmp_path, monkeypatch):
    path = _csv(tmp_path, 3)

    def import_one_of_them(other):
        one = tmp_path / "one.csv"
        one.write_text("\n".join(path.read_text().splitlines()[:2]) + "\n")
        importer.import_csv(other, TABLES["sessions"], one)

    result, stagings = _import_while(monkeypatch, program_db, path, import_one_of_them)
    assert (result.inserted, result.skipped, stagings) == (2, 1, 3)  # the nested import staged once too  # validated again: the identical row skipped
    assert _count(program_db, "SELECT count(*) FROM session") == 3
    assert cli.ok("audit", "verify").stdout.startswith("audit trail verified")


def test_log_during_a_long_import_waits_at_most_briefly_and_both_land(cli, program_db, tmp_path):
    path = _csv(tmp_path, 60_000)
    child = subprocess.Popen([sys.executable, "-m", "vpslog", "import", "sessions", str(path)],
                             env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)  # the import is validating
    started = time.monotonic()
    cli.ok("log", "P-0002", "30", "--specialist", "PS2")
    waited = time.monotonic() - started
    out, err = child.communicate(timeout=240)
    assert child.returncode == 0, err
    assert "imported 60000 sessions" in out
    assert waited < 8  # the import held the write lock only for its short last step
    assert _count(program_db, "SELECT count(*) FROM session") == 60_001
    assert cli.ok("audit", "verify").stdout.startswith("audit trail verified: 60007 entries")


@pytest.mark.parametrize("delay", [0.3, 1.5, 3.0])
def test_an_import_killed_at_any_moment_leaves_the_store_as_it_was(cli, program_db, tmp_path, delay):
    path = _csv(tmp_path, 40_000)
    before = snapshot(program_db)
    child = subprocess.Popen([sys.executable, "-m", "vpslog", "import", "sessions", str(path)],
                             env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    child.wait()
    conn = sqlite3.connect(program_db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    after = snapshot(program_db)
    if after != before:  # it finished before the kill: then all of it, and a trail that verifies
        assert _count(program_db, "SELECT count(*) FROM session") == 40_000
    assert cli.ok("audit", "verify").stdout.startswith("audit trail verified")
