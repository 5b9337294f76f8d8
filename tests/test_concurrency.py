"""Several specialists' processes writing to one store at the same time lose nothing."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from conftest import snapshot
from vpslog.store import Store

WRITER = """
import sys
from datetime import date, timedelta
from vpslog.core import Program
prog = Program.open(sys.argv[1])
for i in range(int(sys.argv[2])):
    prog.log_session("P-0001", specialist=sys.argv[3], minutes=1 + i % 480,
                     on=date.today() - timedelta(days=i % 100), type="individual", mode="phone")
prog.close()
"""


def test_two_processes_logging_200_sessions_each_keep_every_row_and_the_chain(cli, program_db):
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(program_db), "200", specialist],
                         env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for specialist in ("PS1", "PS2")
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=240)
        assert writer.returncode == 0, err
        assert err == ""
    store = Store.open(program_db)
    try:
        counts = dict(store.conn.execute("SELECT specialist_id, count(*) FROM session GROUP BY specialist_id").fetchall())
        assert counts == {"PS1": 200, "PS2": 200}
        assert store.count("audit") == 5 + 400
    finally:
        store.close()
    assert cli.ok("audit", "verify").stdout.startswith("audit trail verified: 405 entries")


@pytest.mark.parametrize("args", [["log", "P-0001", "45"], ["milestone", "P-0001", "goal-set"]])
def test_ctrl_c_stops_a_command_waiting_for_anothers_write_at_once(program_db, args):
    """A real SIGINT while the store is locked by another writer: the command stops within a second
    with exit 130 and writes nothing (SQLite's own minute-long wait let it through only at the end).
    `log` takes the quick path, `milestone` typer's."""
    before = snapshot(program_db)
    holder = sqlite3.connect(program_db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        waiting = subprocess.Popen([sys.executable, "-m", "vpslog", *args], env=os.environ.copy(),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(2)  # started, and waiting for the lock
        assert waiting.poll() is None
        sent = time.monotonic()
        waiting.send_signal(signal.SIGINT)
        _, err = waiting.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert (waiting.returncode, err) == (130, b"")
    assert took < 3, took
    assert snapshot(program_db) == before
