"""The audit trail protects the records, not only itself: tried as an attacker who can write the
store file (the sqlite3 shell) but cannot read the project secret."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import days_ago, open_db, snapshot, tamper

pytestmark = pytest.mark.both_stores


def _one(db: Path, sql: str, *params):
    conn = open_db(db)
    try:
        return conn.execute(sql, params).fetchone()
    finally:
        conn.close()


@pytest.fixture
def logged(cli, program_db):
    """The program store with two sessions (one amended), a supervision and a milestone; returns the first session's id."""
    cli.ok("log", "P-0001", "45", "-d", days_ago(3), "-c", "career", "-n", "first note")
    cli.ok("log", "P-0001", "30", "-d", days_ago(2), "-c", "hope")
    session_id = _one(program_db, "SELECT id FROM session ORDER BY date LIMIT 1")[0]
    cli.ok("amend", session_id[:8], "-m", "phone", "--reason", "was a call")
    cli.ok("supervision", "log", "PS1", "60", "--supervisor", "Supervisor X", "-d", days_ago(1))
    cli.ok("milestone", "P-0001", "goal-set", "-d", days_ago(1))
    assert cli.ok("audit", "verify").stdout.startswith("audit trail verified")
    return session_id


def _refused(cli, *args):
    result = cli(*args)
    assert result.exit_code == 3, (result.exit_code, result.stdout, result.stderr)
    return result


def test_a_field_changed_in_the_shell_is_named_by_table_id_and_field(cli, program_db, logged):
    tamper(program_db, f"UPDATE session SET minutes = 480, clinical = 1 WHERE id = '{logged}'")
    result = _refused(cli, "audit", "verify")
    line = f"session {logged}: clinical, minutes changed outside vpslog"
    assert line in result.stdout and f"error: audit trail: {line}" in result.stderr
    doctor = _refused(cli, "doctor")
    assert line in doctor.stdout and doctor.stderr.strip().endswith("error: 1 problem: audit trail")


def test_an_amended_field_set_back_to_its_old_value_is_caught(cli, program_db, logged):
    tamper(program_db, f"UPDATE session SET mode = 'in-person' WHERE id = '{logged}'")
    assert f"session {logged}: mode changed outside vpslog" in _refused(cli, "audit", "verify").stdout


def test_an_edited_note_is_caught_without_showing_it(cli, program_db, logged):
    tamper(program_db, f"UPDATE session SET note = 'rewritten words' WHERE id = '{logged}'")
    result = _refused(cli, "audit", "verify")
    assert f"session {logged}: note changed outside vpslog" in result.stdout
    assert "rewritten" not in result.stdout + result.stderr and "first note" not in result.stdout + result.stderr


def test_a_deleted_row_is_reported_missing(cli, program_db, logged):
    tamper(program_db, f"DELETE FROM session WHERE id = '{logged}'")
    result = _refused(cli, "audit", "verify")
    assert f"session {logged}: missing: created by audit entry" in result.stdout


def test_a_row_inserted_without_an_audit_entry_is_reported(cli, program_db, logged):
    tamper(program_db, "INSERT INTO site VALUES ('S9', 'Made up in the shell')",
         "INSERT INTO participant (id, site_id, enrolled_on) VALUES ('P-0999', 'S1', '2026-01-01')")
    out = _refused(cli, "audit", "verify").stdout
    assert "site S9: has no audit entry: it was added outside vpslog" in out
    assert "participant P-0999: has no audit entry" in out


def test_flipping_an_arm_or_an_allocation_is_caught(cli, program_db):
    cli.ok("participant", "add", "P-0003", "--site", "S1", "--enrolled", days_ago(5))
    answers = {"smi": "yes", "wants-peer-support": "yes", "vocational-goal": "yes", "data-collection": "yes",
               "in-peer-support": "no", "cannot-consent": "no"}
    cli.ok("screen", "P-0003", "-d", days_ago(5), *[a for k, v in answers.items() for a in ("--answer", f"{k}={v}")])
    cli.ok("enroll", "P-0003", "--consent", days_ago(4), "--randomize")
    arm, allocation = _one(program_db, "SELECT p.arm, a.id FROM participant p JOIN allocation a "
                                       "ON a.participant_id = p.id WHERE p.id = 'P-0003'")
    other = "control" if arm == "vps" else "vps"
    tamper(program_db, f"UPDATE participant SET arm = '{other}' WHERE id = 'P-0003'",
         f"UPDATE allocation SET arm = '{other}' WHERE id = '{allocation}'")
    out = _refused(cli, "audit", "verify").stdout
    assert "participant P-0003: arm changed outside vpslog" in out
    assert f"allocation {allocation}: arm changed outside vpslog" in out


def test_dropped_triggers_are_recreated_on_open_said_and_recorded(cli, program_db, logged):
    tamper(program_db)  # drops both triggers and changes nothing else
    result = cli.ok("sessions")
    assert "warning: the audit triggers (audit_no_update, audit_no_delete) were missing" in result.stderr
    names = {row[0] for row in open_db(program_db).execute("SELECT name FROM sqlite_master WHERE type='trigger'")}
    assert names == {"audit_no_update", "audit_no_delete"}
    verified = cli.ok("audit", "verify")
    assert "note: repaired before: audit entry" in verified.stderr and "audit triggers were missing" in verified.stderr
    assert cli.ok("history", logged[:8]).stdout  # the records themselves were not touched


def test_missing_triggers_are_reported_when_they_cannot_be_recreated(cli, program_db, env, logged):
    tamper(program_db)
    secret = env.parent.parent / "config" / "secret"
    secret.rename(secret.with_suffix(".away"))
    result = cli("doctor")
    assert result.exit_code == 3 and "the project secret is missing" in result.stdout
    secret.with_suffix(".away").rename(secret)
    verify = cli("audit", "verify")  # the secret is back: recreated on open, then verified
    assert verify.exit_code == 0 and "were missing or altered outside vpslog; recreated" in verify.stderr


def test_a_cut_tail_with_a_rewritten_head_is_caught_by_the_witness_and_blocks_writes(cli, program_db, logged):
    tamper(program_db, "DELETE FROM audit WHERE seq > 6",
         "UPDATE meta SET value = (SELECT seq || ':' || hash FROM audit WHERE seq = 6) WHERE key = 'audit_head'")
    result = _refused(cli, "audit", "verify")
    assert "the audit trail ends at entry 6 but the witness file recorded entry 10" in result.stdout
    before = snapshot(program_db)
    log = _refused(cli, "log", "P-0001", "30")
    assert log.stderr.startswith("error: the audit trail ends at entry 6 but the witness file recorded entry 10")
    assert "nothing was written" in log.stderr
    assert snapshot(program_db) == before


def test_a_wiped_trail_is_caught(cli, program_db, logged):
    tamper(program_db, "DELETE FROM audit", "DELETE FROM meta WHERE key = 'audit_head'")
    out = _refused(cli, "audit", "verify").stdout
    assert "the audit trail is empty but the witness file recorded entry 10" in out
    assert "has no audit entry" in out  # and every record is now unaccounted for


def test_a_witness_one_write_behind_is_fine(cli, program_db, env, logged):
    """A crash between the commit and the witness update leaves the witness one entry behind."""
    [witness] = (env.parent.parent / "config" / "witness").iterdir()
    entry = _one(program_db, "SELECT seq, hash FROM audit WHERE seq = 9")
    witness.write_text(json.dumps({"seq": entry[0], "hash": entry[1]}))
    assert cli.ok("audit", "verify").stdout.startswith("audit trail verified: 10 entries")
    cli.ok("log", "P-0001", "20")
    assert json.loads(witness.read_text())["seq"] == 11


def test_a_restored_older_copy_must_be_accepted_with_a_reason(cli, program_db, tmp_path, logged):
    older = tmp_path / "older.db"
    cli.ok("backup", str(older))
    cli.ok("log", "P-0001", "20")
    shutil.copyfile(older, program_db)
    for suffix in ("-wal", "-shm"):
        Path(str(program_db) + suffix).unlink(missing_ok=True)
    assert "witness file recorded entry 11" in _refused(cli, "audit", "verify").stdout
    refused = cli("audit", "accept-head")
    assert refused.exit_code == 2  # the reason is required
    assert cli.ok("audit", "accept-head", "--reason", "restored last week's backup").stdout.startswith(
        "the witness now keeps entry 11")
    assert cli.ok("audit", "verify").stdout.startswith("audit trail verified: 11 entries")
    cli.ok("log", "P-0001", "20")
    reason = _one(program_db, "SELECT reason FROM audit WHERE action = 'accept-head'")[0]
    assert reason == "restored last week's backup"


def test_accept_head_refuses_a_broken_chain(cli, program_db, logged):
    tamper(program_db, "UPDATE audit SET actor = 'x' WHERE seq = 2")
    result = _refused(cli, "audit", "accept-head", "--reason", "trying")
    assert "the audit chain is broken, so its head cannot be accepted: audit entry 2" in result.stderr


def test_init_on_an_existing_store_never_makes_a_new_secret(cli, program_db, env):
    secret = env.parent.parent / "config" / "secret"
    secret.unlink()
    before = snapshot(program_db)
    result = _refused(cli, "init")
    assert result.stderr == (f"error: {program_db} already exists but the project secret its audit trail is keyed "
                             f"with is not at {secret}: restore that file from your backup (a new secret would "
                             "break the trail, so none is made for an existing store)\n")
    assert not secret.exists() and snapshot(program_db) == before


def test_init_never_takes_a_link_to_nothing_for_the_secret(cli, env, tmp_path):
    """A dangling link where the secret goes: the write found the link and took it for another init's
    secret; init then said it had made one and made a store whose every write was refused."""
    secret = tmp_path / "config" / "secret"
    secret.parent.mkdir(exist_ok=True)
    secret.symlink_to(tmp_path / "elsewhere")
    result = _refused(cli, "init")
    assert result.stderr == (f"error: {secret} is a symbolic link to nothing: vpslog never writes the project "
                             "secret through a link; remove the link, or restore the file it points to\n")
    assert not env.exists() and not (tmp_path / "elsewhere").exists()


def test_a_secret_that_does_not_verify_the_trail_refuses_every_write(cli, program_db, env):
    secret = env.parent.parent / "config" / "secret"
    secret.write_text("ab" * 32 + "\n")
    before = snapshot(program_db)
    for args in (("log", "P-0001", "30"), ("init",), ("site", "add", "S2", "--name", "Two")):
        result = _refused(cli, *args)
        assert result.stderr == (f"error: the project secret in {secret} is not the one the audit trail of "
                                 f"{program_db} was written with (it does not verify entry 5); nothing was "
                                 "written: restore the secret that belongs to this store\n")
    assert snapshot(program_db) == before


def test_a_missing_secret_refuses_writes_and_says_where_it_belongs(cli, program_db, env):
    secret = env.parent.parent / "config" / "secret"
    secret.unlink()
    result = _refused(cli, "log", "P-0001", "30")
    assert result.stderr == (f"error: the project secret is missing (expected at {secret}), so the audit trail "
                             "cannot be written or checked; restore it from your backup\n")


_FIELDS = {  # table: (column, a value of the right type that differs from the fixture's)
    "site": [("name", "'Renamed'")],
    "specialist": [("active", "1 - active"), ("trained_on", "'2020-01-01'")],
    "participant": [("arm", "CASE arm WHEN 'vps' THEN 'control' ELSE 'vps' END"), ("consent_on", "'2020-01-01'"),
                    ("status", "status")],
    "session": [("minutes", "minutes + 1"), ("clinical", "1 - clinical"), ("date", "date(date, '-1 day')"),
                ("components", "'hope'"), ("specialist_id", "'PS2'"), ("voided", "0"), ("entered_at", "'x'")],
    "supervision": [("minutes", "minutes + 5"), ("supervisor", "'Someone else'")],
    "milestone": [("kind", "'interview'"), ("detail", "'made up'")],
}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from([(t, c, v) for t, fields in _FIELDS.items() for c, v in fields]), st.integers(0, 9))
def test_any_single_edit_of_any_record_is_reported_by_field(cli, program_db, logged, tmp_path, change, pick):
    """Property: whatever row and field an attacker changes, verify names exactly that row and field."""
    table, column, value = change
    work = tmp_path / f"edit-{table}-{column}-{pick}.db"
    shutil.copyfile(program_db, work)
    conn = open_db(work)
    ids = [row[0] for row in conn.execute(f'SELECT id FROM "{table}" ORDER BY id')]
    record_id = ids[pick % len(ids)]
    conn.close()
    tamper(work, f'UPDATE "{table}" SET "{column}" = {value} WHERE id = \'{record_id}\'')
    changed = _one(work, f'SELECT "{column}" FROM "{table}" WHERE id = ?', record_id) != \
        _one(program_db, f'SELECT "{column}" FROM "{table}" WHERE id = ?', record_id)
    result = cli("--db", str(work), "audit", "verify")
    if changed:
        assert result.exit_code == 3
        assert f"{table} {record_id}: {column} changed outside vpslog" in result.stdout
    else:  # the "edit" wrote the same value: nothing to report
        assert result.exit_code == 0


def test_the_witness_is_private_and_doctor_says_when_it_is_not(cli, program_db, env, logged):
    folder = env.parent.parent / "config" / "witness"
    [witness] = folder.iterdir()
    assert (folder.stat().st_mode & 0o777, witness.stat().st_mode & 0o777) == (0o700, 0o600)
    assert json.loads(witness.read_text())["seq"] == 10
    witness.chmod(0o644)
    result = cli("doctor")
    assert result.exit_code == 3
    assert f"readable by others; fix with: chmod 600 {witness}" in result.stdout
    cli.ok("log", "P-0001", "20")  # rewritten whole: private again
    assert witness.stat().st_mode & 0o777 == 0o600 and json.loads(witness.read_text())["seq"] == 11


def test_a_damaged_witness_stops_writes_until_the_head_is_accepted(cli, program_db, env, logged):
    [witness] = (env.parent.parent / "config" / "witness").iterdir()
    witness.write_text('{"seq": "ten"')  # edited by hand, or by something that is not vpslog
    damaged = (f"error: {witness}: the witness file is damaged; compare the store with a backup, then take "
               "its trail as the one to keep with `vpslog audit accept-head --reason ...`\n")
    before = snapshot(program_db)
    for args in (("audit", "verify"), ("log", "P-0001", "20")):
        result = cli(*args)
        assert (result.exit_code, result.stderr) == (3, damaged)
    assert snapshot(program_db) == before
    cli.ok("audit", "accept-head", "--reason", "witness file overwritten by a sync tool")
    assert json.loads(witness.read_text())["seq"] == 11
    cli.ok("log", "P-0001", "20")
    assert cli.ok("audit", "verify").stdout.startswith("audit trail verified: 12 entries")


def test_an_older_copy_swapped_in_through_a_symbolic_link_is_caught_by_the_witness(cli, program_db, tmp_path, logged):
    """`mv vpslog.db .hidden.db; ln -s .old.db vpslog.db`: the witness was filed under the path the link
    pointed to, so the older copy found none, passed `audit verify`, and took writes."""
    older = program_db.with_name(".old.db")
    cli.ok("backup", str(older))
    cli.ok("log", "P-0001", "20")
    program_db.rename(program_db.with_name(".hidden.db"))
    for suffix in ("-wal", "-shm"):
        Path(str(program_db) + suffix).unlink(missing_ok=True)
    program_db.symlink_to(older.name)
    assert "witness file recorded entry 11" in _refused(cli, "audit", "verify").stdout
    before = snapshot(older)
    result = cli("log", "P-0001", "25")
    assert result.exit_code == 3 and "the witness file recorded entry 11" in result.stderr
    assert snapshot(older) == before


@pytest.mark.parametrize("text", ["", "ab", "ab" * 31, "ab" * 33])
def test_a_secret_that_is_not_32_bytes_is_refused_as_no_secret(cli, program_db, env, text):
    """An empty secret (a file created and then killed before its write) keyed the trail with nothing:
    anyone could then rewrite it. Any length but the 64 hex digits vpslog writes is refused."""
    secret = env.parent.parent / "config" / "secret"
    secret.write_text(text + "\n")
    before = snapshot(program_db)
    result = cli("log", "P-0001", "45")
    assert (result.exit_code, result.stderr) == (3, f"error: {secret}: not a vpslog secret (expected 64 hex digits)\n")
    assert snapshot(program_db) == before


def test_a_look_alike_trigger_that_lets_edits_through_is_replaced_said_and_recorded(cli, program_db, logged):
    """A trigger of the same name that does nothing (`BEGIN SELECT 1; END`) passed `audit verify` and
    `doctor`, which checked names only, and the trail could be edited in place."""
    tamper(program_db, "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT 1; END",
           "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT 1; END")
    result = cli.ok("sessions")
    assert ("warning: the audit triggers (audit_no_update, audit_no_delete) were missing or altered outside vpslog; "
            "recreated") in result.stderr
    conn = open_db(program_db)
    with pytest.raises(Exception, match="append-only"):  # sqlite3 or sqlcipher3, as the store is
        conn.execute("UPDATE audit SET reason = 'x' WHERE seq = 1")
    conn.close()


def test_the_witness_is_filed_under_the_folder_the_system_reaches_and_an_earlier_one_still_counts(
        cli, program_db, tmp_path):
    """`..` after a linked folder goes where the system goes (filed as text, a store there was checked
    against another store's witness). A witness filed the earlier way still counts until the next
    write files it anew (an upgrade must not forget a head: a rollback would pass), and is never
    moved (moved by a read through a link, it left the store's own path without one)."""
    from vpslog import config

    (tmp_path / "home").mkdir()
    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "home" / "link").symlink_to(tmp_path / "real" / "sub")
    through = tmp_path / "home" / "link" / ".." / "s.db"
    assert config.witness_path(through) == config.witness_path(tmp_path / "real" / "s.db")
    assert config.witness_path(through) != config.witness_path(tmp_path / "home" / "s.db")
    (tmp_path / "alias").symlink_to(program_db.parent)  # the store reached through a linked folder
    db = str(tmp_path / "alias" / program_db.name)
    current = config.witness_path(db)
    earlier = config.earlier_witness_paths(db)[0]  # the previous version's: the path as text
    assert current == config.witness_path(program_db) and earlier != current
    current.rename(earlier)
    cli.ok("--db", db, "log", "P-0001", "20")  # the earlier witness's head is in the trail: fine, then filed anew
    assert current.exists() and earlier.exists()
    current.unlink()
    earlier.write_text('{"seq": 999, "hash": "' + "0" * 64 + '"}')  # a head the trail never reached
    assert "the witness file recorded entry 999" in _refused(cli, "--db", db, "audit", "verify").stdout
