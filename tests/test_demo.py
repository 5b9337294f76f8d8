"""`vpslog demo`: a realistic synthetic program, deterministic, never over real data."""

from __future__ import annotations

import sqlite3
from datetime import date

from conftest import snapshot


def _rows(db):
    conn = sqlite3.connect(db)
    try:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY id").fetchall()
                for t in ("site", "specialist", "participant", "session")}
    finally:
        conn.close()


def test_demo_builds_a_realistic_program_and_summarises_it(cli, default_demo_db):
    result = cli.ok("demo")
    assert f"demo program (seed 1) in {default_demo_db}" in result.stdout
    conn = sqlite3.connect(default_demo_db)
    one = lambda sql: conn.execute(sql).fetchone()  # noqa: E731
    assert one("SELECT count(*) FROM site")[0] == 2
    assert one("SELECT count(*) FROM specialist")[0] == 6
    arms = dict(conn.execute("SELECT arm, count(*) FROM participant WHERE arm IS NOT NULL GROUP BY arm").fetchall())
    assert sum(arms.values()) >= 80 and min(arms.values()) >= 35
    screened_out = one("SELECT count(*) FROM screening WHERE eligible = 0")[0]
    assert screened_out > 0 and one("SELECT count(*) FROM allocation")[0] == sum(arms.values())
    assert one("SELECT count(*) FROM supervision")[0] > 30 and one("SELECT count(*) FROM milestone")[0] > 20
    first, last = map(date.fromisoformat, one("SELECT min(date), max(date) FROM session"))
    assert (last - first).days >= 182
    assert one("SELECT count(*) FROM participant WHERE status = 'exited'")[0] >= 3
    late = one("SELECT count(*) FROM session WHERE julianday(substr(entered_at, 1, 10)) - julianday(date) > 3")[0]
    total = one("SELECT count(*) FROM session")[0]
    assert 0 < late < total * 0.1
    assert one("SELECT count(*) FROM session WHERE type = 'no-show'")[0] > 0
    assert one("""SELECT count(*) FROM session WHERE type = 'no-show'
                  AND (components != '' OR supports != '' OR phase IS NOT NULL)""")[0] == 0  # no content
    gaps = conn.execute("SELECT participant_id, count(*) FROM session GROUP BY participant_id").fetchall()
    assert len({n for _, n in gaps}) > 10  # irregular: participants differ widely
    conn.close()
    assert cli.ok("--db", str(default_demo_db), "audit", "verify").stdout.startswith("audit trail verified")
    for rule in ("adequate-dose", "continuity", "regular-supervision", "trained-before-delivering"):
        assert rule in result.stdout
    assert "Scale: " in result.stdout


def test_demo_is_deterministic_for_a_seed(cli, env, tmp_path):
    cli.ok("demo", "--seed", "7")
    first = _rows(env)
    cli.ok("--db", str(tmp_path / "other.db"), "demo", "--seed", "7")
    assert _rows(tmp_path / "other.db") == first
    cli.ok("--db", str(tmp_path / "third.db"), "demo", "--seed", "8")
    assert _rows(tmp_path / "third.db")["session"] != first["session"]


def test_demo_rebuilds_an_earlier_demo_store(cli, env):
    cli.ok("demo", "--seed", "3")
    result = cli.ok("demo", "--seed", "3")
    assert f"replaced the earlier demo program in {env}" in result.stdout
    assert cli.ok("audit", "verify").stdout.startswith("audit trail verified")


def test_demo_refuses_a_store_with_real_records(cli, program_db):
    before = snapshot(program_db)
    result = cli("demo")
    assert result.exit_code == 1
    assert result.stderr == (f"error: {program_db} is a vpslog store with 5 records that the demo did not build; "
                             "the demo never replaces real records: use another --db\n")
    assert snapshot(program_db) == before


def test_forcing_the_demo_into_a_real_store_is_refused_and_writes_nothing(cli, program_db):
    before = snapshot(program_db)
    result = cli("demo", "--force")
    assert result.exit_code == 2
    assert result.stderr == ("error: --force is no longer accepted: the demo never goes into a store with real "
                             "records; choose a new file with --db\n")
    assert snapshot(program_db) == before
