"""Merge verifies the other store before bringing anything in: a forged entry or an edited
record there must never become a genuine-looking one here."""

from __future__ import annotations

import sqlite3
from shutil import copyfile

import pytest

from conftest import days_ago, open_db, session_rows, snapshot, tamper


@pytest.fixture
def laptop(cli, program_db, tmp_path):
    """A copy of the program's store on a specialist's laptop, with two new sessions (one with a note)."""
    path = tmp_path / "laptop.db"
    copyfile(program_db, path)
    cli.ok("--db", str(path), "log", "P-0001", "45", "-d", days_ago(3), "-n", "laptop note")
    cli.ok("--db", str(path), "log", "P-0001", "50", "-d", days_ago(2))
    return path



def test_a_forged_audit_entry_in_the_other_store_is_refused(cli, program_db, laptop):
    tamper(laptop, "UPDATE session SET minutes = 90 WHERE minutes = 45",
           "UPDATE audit SET after = json_set(after, '$.minutes', 90) WHERE tbl = 'session' AND json_extract(after, '$.minutes') = 45")
    before = snapshot(program_db)
    result = cli("merge", str(laptop))
    assert result.exit_code == 3
    assert result.stderr.startswith(f"error: {laptop}: its audit trail does not verify: audit chain: audit entry 6 ")
    assert result.stderr.strip().endswith("nothing was merged")
    assert snapshot(program_db) == before


def test_a_record_edited_in_the_other_store_is_refused(cli, program_db, laptop):
    tamper(laptop, "UPDATE session SET clinical = 1 WHERE minutes = 50")
    before = snapshot(program_db)
    result = cli("merge", str(laptop))
    assert result.exit_code == 3
    assert "its audit trail does not verify: session " in result.stderr
    assert "clinical changed outside vpslog" in result.stderr and "nothing was merged" in result.stderr
    assert snapshot(program_db) == before


def test_a_store_of_another_project_needs_its_secret(cli, program_db, tmp_path, monkeypatch):
    other_config = tmp_path / "other-config"
    monkeypatch.setenv("VPSLOG_CONFIG_DIR", str(other_config))
    other = tmp_path / "other.db"
    cli.ok("--db", str(other), "init")
    cli.ok("--db", str(other), "site", "add", "S1", "--name", "Site one")
    cli.ok("--db", str(other), "specialist", "add", "PS7", "--site", "S1", "--trained", days_ago(30))
    cli.ok("--db", str(other), "participant", "add", "P-0070", "--site", "S1", "--enrolled", days_ago(20),
           "--arm", "vps", "--consent", days_ago(20))
    cli.ok("--db", str(other), "log", "P-0070", "40", "-d", days_ago(1), "--specialist", "PS7", "-n", "their note")
    monkeypatch.setenv("VPSLOG_CONFIG_DIR", str(tmp_path / "config"))
    before = snapshot(program_db)

    result = cli("merge", str(other))
    assert result.exit_code == 3
    assert result.stderr == (f"error: {other}: its audit trail is not keyed with this project's secret; pass the "
                             "secret of the project it comes from with --secret FILE; nothing was merged\n")
    wrong = tmp_path / "wrong-secret"
    wrong.write_text("cd" * 32)
    result = cli("merge", str(other), "--secret", str(wrong))
    assert result.exit_code == 3
    assert result.stderr == f"error: {other}: the secret in {wrong} does not verify its audit trail; nothing was merged\n"
    result = cli("merge", str(other), "--secret", str(tmp_path / "nowhere"))
    assert result.exit_code == 1 and result.stderr == f"error: --secret {tmp_path / 'nowhere'}: no such file\n"
    assert snapshot(program_db) == before

    merged = cli.ok("merge", str(other), "--secret", str(other_config / "secret"))
    assert "1 sessions" in merged.stdout
    # the note digests were re-keyed: this store's own replay accepts the merged records
    assert cli.ok("audit", "verify").stdout.startswith("audit trail verified")


def test_what_is_written_to_the_other_store_during_a_merge_is_not_brought_in(cli, program_db, laptop, monkeypatch):
    """The other store was verified in one read and copied in another: a row added between (here a
    site, with the sqlite3 module, no audit entry) came in without its history, and this store then
    failed `audit verify`. Now the copy reads the snapshot that was verified."""
    from vpslog import merge

    verified = merge._verified

    def then_written(other, other_path, secret_file):
        verified(other, other_path, secret_file)
        conn = sqlite3.connect(laptop)
        conn.execute("INSERT INTO site VALUES ('ZZZ', 'written meanwhile')")
        conn.commit()
        conn.close()

    monkeypatch.setattr(merge, "_verified", then_written)
    cli.ok("merge", str(laptop))
    assert "ZZZ" not in [row[0] for row in open_db(program_db).execute("SELECT id FROM site")]
    assert len(session_rows(program_db)) == 2
    assert cli.ok("audit", "verify").exit_code == 0


@pytest.mark.parametrize("name", ["laptop%41.db", "laptop#1.db", "laptop?mode=rw.db"])
def test_the_other_store_is_the_file_named_whatever_its_name_holds(cli, program_db, tmp_path, name):
    """The other store was opened by a URI built from its path as it was: SQLite read `%41` as `A` and
    cut the path at `#` or `?`, so `merge laptop%41.db` merged laptopA.db, another store, in its place."""
    other, decoy = tmp_path / name, tmp_path / "laptopA.db"
    for path, minutes in ((other, "33"), (decoy, "44")):
        copyfile(program_db, path)
        cli.ok("--db", str(path), "log", "P-0001", minutes, "-d", days_ago(3))
    assert cli.ok("merge", str(other)).stdout.startswith(f"merged {other}: 1 sessions")
    assert sorted(row["minutes"] for row in open_db(program_db).execute("SELECT minutes FROM session")
                  if row["minutes"] in (33, 44)) == [33]
