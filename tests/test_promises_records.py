"""The README's promises about logging, records, the store and its audit trail, tried the way a crash,
a tired user or an attacker would break them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TODAY, days_ago, open_db, session_rows, snapshot, tamper


def _witness(env: Path) -> Path:
    [witness] = (env.parent.parent / "config" / "witness").glob("*.json")
    return witness


def _head(db: Path) -> int:
    conn = open_db(db)
    try:
        return conn.execute("SELECT max(seq) FROM audit").fetchone()[0]
    finally:
        conn.close()


def _killed_log(patch: str) -> subprocess.CompletedProcess:
    """`vpslog log P-0001 45` through the console script (quick entry, what a specialist runs),
    killed with SIGKILL where `patch` says: no clean-up, no rollback of its own."""
    dies = (
        "import os, signal, sys\n"
        "def die(*args, **kwargs): os.kill(os.getpid(), signal.SIGKILL)\n"
        f"{patch}\n"
        "from vpslog.quick import main\n"
        "main()\n")
    return subprocess.run([sys.executable, "-c", dies, "log", "P-0001", "45", "-n", "a private note"],
                          env=os.environ.copy(), capture_output=True, text=True, timeout=120)


# -- a crash while logging ----------------------------------------------------------


def test_a_log_killed_before_its_commit_leaves_no_session_and_no_audit_entry(cli, program_db, env):
    """Every change is one transaction: killed after its audit entry is written but before the
    commit, neither the session nor the entry is in the store, and the trail still verifies."""
    before, witness = snapshot(program_db), _witness(env).read_text()
    child = _killed_log("import vpslog.store.base as base; base.Store.set_head = die")
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert snapshot(program_db) == before and _witness(env).read_text() == witness
    assert cli.ok("audit", "verify").stdout.startswith("audit trail verified")
    cli.ok("log", "P-0001", "45")
    assert len(session_rows(program_db)) == 1


@pytest.mark.parametrize("dies_in,half_made", [
    ("import vpslog.store.base as base; base.write_private = die", 0),
    ("real = os.replace\n"
     "os.replace = lambda src, dst, **kw: die() if os.path.basename(os.path.dirname(dst)) == 'witness' "
     "else real(src, dst, **kw)", 1),
], ids=["before writing the witness", "before the rename of the new witness"])
def test_a_log_killed_between_its_commit_and_the_witness_leaves_a_witness_the_next_write_extends(
        cli, program_db, env, dies_in, half_made):
    """The witness is rewritten whole after the commit: killed there, it still holds the previous
    head (never half a file), `audit verify` and the next write take it, and `doctor` removes a
    half-made witness the kill left."""
    witness = _witness(env)
    earlier = json.loads(witness.read_text())
    child = _killed_log(dies_in)
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert len(session_rows(program_db)) == 1  # committed
    assert json.loads(witness.read_text()) == earlier and _head(program_db) == earlier["seq"] + 1
    assert cli.ok("audit", "verify").stdout.startswith(f"audit trail verified: {earlier['seq'] + 1} entries")
    left = [p for p in witness.parent.iterdir() if p != witness]
    assert [p.name.startswith(f".{witness.name}.tmp-") for p in left] == [True] * half_made
    doctor = "".join(c for c in cli.ok("doctor").stdout if c not in " \n│")  # the cells as rich wraps them, unwrapped
    assert all(f"removed{p}(leftbyaninterruptedvpslogcommand)" in doctor for p in left)
    assert list(witness.parent.iterdir()) == [witness]
    cli.ok("log", "P-0001", "30")
    assert json.loads(witness.read_text())["seq"] == _head(program_db) == earlier["seq"] + 2


# -- asked field by field -------------------------------------------------------------


def test_answering_no_at_the_summary_logs_nothing(cli, program_db):
    before = snapshot(program_db)
    result = cli("log", input="P-0001\n" + "\n" * 7 + "a private note\nn\n")
    assert "to save: P-0001" in result.stdout and "with a note" in result.stdout
    assert (result.exit_code, result.stderr) == (1, "error: not saved; nothing was logged\n")
    assert "private note" not in result.stdout
    assert snapshot(program_db) == before


def test_the_date_prompt_refuses_a_date_the_participant_rules_out_and_asks_again(cli, program_db):
    """Today is after the exit, then a future date, then one before enrollment: each said at once."""
    cli.ok("participant", "exit", "P-0002", "--on", days_ago(10), "--reason", "moved away")
    answers = ["P-0002", "30", "", "2999-01-01", days_ago(61), days_ago(11), "", "", "", "", "", "", "y"]
    result = cli.ok("log", input="\n".join(answers) + "\n")
    said = result.stdout.replace("\n", " ")
    for refusal in (f"P-0002 exited on {days_ago(10)}; no session can be logged after that (session date {TODAY})",
                    "session date 2999-01-01 is in the future",
                    f"session date {days_ago(61)} is before P-0002 enrolled on {days_ago(60)}"):
        assert refusal in said
    [row] = session_rows(program_db)
    assert (row["participant_id"], row["date"], row["minutes"]) == ("P-0002", days_ago(11), 30)


def test_a_no_show_is_not_asked_for_content(cli, program_db):
    result = cli.ok("log", input="\n".join(["P-0001", "30", "", "no", "", "", "y"]) + "\n")
    assert "Components" not in result.stdout and "Support types" not in result.stdout and "Phase" not in result.stdout
    [row] = session_rows(program_db)
    assert (row["type"], row["components"], row["supports"], row["phase"]) == ("no-show", "", "", None)


# -- what a tired user types ------------------------------------------------------------


def test_ids_and_codes_are_found_whatever_their_case_and_surrounding_spaces(cli, program_db):
    cli.ok("log", " p-0001 ", " 1H15M ", "-c", " CAREER , Hope ", "-s", "EMO", "-m", " PH ", "-t", "IND",
           "-p", "GET", "--specialist", " ps2 ")
    [row] = session_rows(program_db)
    assert (row["participant_id"], row["specialist_id"], row["minutes"], row["mode"], row["type"], row["phase"]) == (
        "P-0001", "PS2", 75, "phone", "individual", "get")
    assert (row["components"], row["supports"]) == ("career-exploration;hope", "emotional")


def test_a_no_show_with_support_types_is_refused(cli, program_db):
    before = snapshot(program_db)
    result = cli("log", "P-0001", "30", "-t", "no-show", "-s", "emotional")
    assert (result.exit_code, result.stderr) == (
        1, "error: a no-show session records no content: leave out its components, support types and phase\n")
    assert snapshot(program_db) == before


def _inactive(db: Path, specialist: str) -> None:
    """As an import of a specialist marked inactive leaves one (vpslog has no command for it)."""
    conn = open_db(db)
    conn.execute("UPDATE specialist SET active = 0 WHERE id = ?", (specialist,))
    conn.commit()
    conn.close()


def test_an_inactive_specialist_is_refused_on_both_paths(cli, program_db):
    from io import StringIO

    from vpslog import quick

    _inactive(program_db, "PS2")
    before = snapshot(program_db)
    args = ["log", "P-0001", "45", "--specialist", "ps2", "-n", "a private note"]
    out, err = StringIO(), StringIO()
    assert (quick.run(args, out, err), out.getvalue(), err.getvalue()) == (1, "", "error: specialist PS2 is not active\n")
    result = cli(*args)
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", "error: specialist PS2 is not active\n")
    assert snapshot(program_db) == before


def test_an_older_stores_lower_case_specialist_blocks_an_upper_case_twin(cli, program_db):
    conn = open_db(program_db)  # as an earlier vpslog would have stored it
    conn.execute("INSERT INTO specialist (id, site_id, active) VALUES ('ps9', 'S1', 1)")
    conn.commit()
    conn.close()
    before = snapshot(program_db)
    result = cli("specialist", "add", "PS9", "--site", "S1")
    assert (result.exit_code, result.stderr) == (1, "error: specialist ps9 already exists\n")
    assert snapshot(program_db) == before


def test_a_long_start_time_is_quoted_escaped_and_cut_in_its_refusal(cli, program_db):
    before = snapshot(program_db)
    typed = "\x1b[31m" + "9" * 60
    result = cli("log", "P-0001", "45", "--at", typed)
    assert (result.exit_code, result.stderr) == (
        1, f"error: start time '\\x1b[31m{'9' * 32}...' not understood: use HH:MM, e.g. 14:30\n")
    assert snapshot(program_db) == before


@pytest.mark.parametrize("command", [["site", "list"], ["init"], ["log", "P-0001", "45", "-c", "career"], ["fidelity"]])
def test_a_folder_given_as_the_store_is_refused_in_one_line(cli, env, tmp_path, command):
    """A tired `--db backups/` (a folder, not the store's file): one line naming the file wanted,
    exit 3, nothing made inside it and no project secret (`init` must not take it for a store)."""
    folder = tmp_path / "backups"
    folder.mkdir()
    argv = ["--db", str(folder), *command]
    expected = f"error: {folder} is a folder, not a store: name the store's file (e.g. {folder / 'vpslog.db'})\n"
    result = cli(*argv)
    assert (result.exit_code, result.stderr) == (3, expected)
    quick = subprocess.run([sys.executable, "-m", "vpslog", *argv], capture_output=True, text=True, env=os.environ.copy())
    assert (quick.returncode, quick.stderr) == (3, expected)
    assert list(folder.iterdir()) == [] and not (tmp_path / "config" / "secret").exists()


def test_merging_a_folder_is_refused_in_one_line(cli, program_db, tmp_path):
    folder = tmp_path / "other"
    folder.mkdir()
    before = snapshot(program_db)
    result = cli("merge", str(folder))
    assert (result.exit_code, result.stderr) == (
        3, f"error: {folder} is a folder, not a store: name the store's file (e.g. {folder / 'vpslog.db'})\n")
    assert snapshot(program_db) == before and list(folder.iterdir()) == []


@pytest.mark.parametrize("command, what", [
    (["participant", "add", "P-0003", "--site", "S1", "--enrolled", "0026-03-02", "--arm", "vps"], "enrollment date"),
    (["supervision", "log", "PS1", "60", "--supervisor", "Supervisor X", "-d", "0026-03-02"], "supervision date"),
    (["log", "P-0001", "45", "-c", "career", "-d", "0026-03-02"], "session date"),
])
def test_a_year_typed_short_is_refused_not_stored(cli, program_db, command, what):
    """`0026-03-02` for 2026-03-02: stored, it would sit 2,000 years before the rest, and a
    de-identified export would shift it out of the calendar."""
    before = snapshot(program_db)
    result = cli(*command)
    assert (result.exit_code, result.stderr) == (
        1, f"error: {what} 0026-03-02 is before 1900-01-01: check the year (dates are YYYY-MM-DD)\n")
    assert snapshot(program_db) == before


def test_an_import_with_a_year_typed_short_is_refused_with_its_line(cli, program_db, tmp_path):
    out = tmp_path / "out"
    cli.ok("export", "participants", "--out", str(out))
    text = (out / "participants.csv").read_text().splitlines()
    header, first = text[0].split(","), text[1].split(",")
    first[header.index("id")], first[header.index("enrolled_on")] = "P-0099", "0026-03-02"
    for column in ("consent_on",):
        first[header.index(column)] = ""
    path = tmp_path / "participants.csv"
    path.write_text(text[0] + "\n" + ",".join(first) + "\n")
    before = snapshot(program_db)
    result = cli("import", "participants", str(path))
    assert result.exit_code == 1
    assert f"{path}:2: enrollment date 0026-03-02 is before 1900-01-01: check the year" in result.stderr
    assert snapshot(program_db) == before


def test_quick_entry_escapes_control_characters_in_its_error_line_as_the_full_path_does(cli, env, tmp_path):
    """A store path carrying an escape sequence (a colour, a terminal title) is shown, never run by
    the terminal, and the same on both paths."""
    db = tmp_path / "nox\x1b[31mRED\x1b]0;title\x07.db"
    expected = ("error: no store at " + str(tmp_path) + "/nox\\x1b[31mRED\\x1b]0;title\\x07.db: create one with "
                "`vpslog init` (or choose another with --db)\n")
    for debug in ([], ["--debug"]):
        run = subprocess.run([sys.executable, "-m", "vpslog", *debug, "--db", str(db), "log", "P-0001", "45"],
                             capture_output=True, text=True, env=os.environ.copy())
        assert (run.returncode, run.stderr) == (3, expected)
    assert not db.exists()


@pytest.mark.parametrize("command", [["site", "list"], ["init"], ["log", "P-0001", "45", "-c", "career"]])
def test_a_pipe_given_as_the_store_is_refused_at_once(env, tmp_path, command):
    """`--db` naming a pipe (or a device): reading it would wait forever for a writer; refused in
    one line, exit 3, on both paths, no secret made."""
    pipe = tmp_path / "pipe.db"
    os.mkfifo(pipe)
    for debug in ([], ["--debug"]):
        run = subprocess.run([sys.executable, "-m", "vpslog", *debug, "--db", str(pipe), *command],
                             capture_output=True, text=True, env=os.environ.copy(), timeout=30)
        assert (run.returncode, run.stderr) == (
            3, f"error: {pipe} is not a regular file (a pipe or a device), so it cannot be a store\n")
    assert not (tmp_path / "config" / "secret").exists()


@pytest.mark.parametrize("command", [["sessions"], ["show", "{id}"], ["export", "sessions", "--out", "-"],
                                     ["export", "--out", "{tmp}/out"], ["audit", "verify"], ["doctor"]])
def test_a_note_that_is_not_utf8_is_never_shown_in_the_error_it_causes(cli, program_db, tmp_path, command):
    """A store edited outside vpslog can hold bytes that are not UTF-8 text; Python's sqlite3 quotes
    the value it cannot decode (an export, a whole batch of lines) in its error: vpslog says which
    column, never the value."""
    cli.ok("log", "P-0001", "45", "-n", "private words about a relapse")
    record_id = session_rows(program_db)[0]["id"]
    tamper(program_db, "UPDATE session SET note = CAST(x'707269766174652077ff72647320' AS TEXT)")  # private w\xffrds
    result = cli(*[part.format(id=record_id, tmp=tmp_path) for part in command])
    last = result.stderr.strip().splitlines()[-1]  # after the warning that the triggers were recreated
    assert result.exit_code == 3
    assert last.startswith("error: store problem: a stored value")
    assert last.endswith(
        "is not UTF-8 text, which vpslog never writes: the store was changed outside vpslog (the value is not shown)")
    assert "rds" not in result.stdout + result.stderr and "private" not in result.stdout + result.stderr


@pytest.mark.parametrize("args,message", [
    (["site", "add", "S9", "--name", "a very long site name " * 12], "error: name: string should have at most 200 characters\n"),
    (["participant", "add", "P-" + "1" * 60, "--site", "S1", "--enrolled", days_ago(3)],
     "error: id: string should have at most 32 characters\n"),  # a length error needs no value
    (["screen", "P-0001", "--answer", "smi=" + "y" * 200], f"error: answer '{'y' * 37}...' not understood: use yes or no\n"),
    (["log", "P-0001", "45", "-n", "private words", "--at", "25:99"], "error: start time '25:99' not understood: use HH:MM, e.g. 14:30\n"),
])
def test_typed_text_in_an_error_is_cut_at_40_characters_and_a_name_is_never_shown(cli, program_db, args, message):
    before = snapshot(program_db)
    result = cli(*args)
    assert (result.exit_code, result.stderr) == (1, message)
    assert snapshot(program_db) == before
