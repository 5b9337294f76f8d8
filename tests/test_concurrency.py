"""Several specialists' processes writing to one store at the same time lose nothing."""

from __future__ import annotations

import os
import subprocess
import sys

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
