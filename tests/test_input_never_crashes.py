"""Whatever a person types or stored, vpslog answers with a result or a one-line refusal, never
an internal error (exit 70): markup and control characters in stored text, out-of-range dates and
durations, bytes that are not UTF-8, the end of input at a prompt, an editor that is not there."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Cli, days_ago, session_rows, snapshot
from vpslog.cli import app

HOSTILE = "a [/x] [bold]b\x1b]0;title\x07 \x1b[31mred\x9b2J"
"""Rich markup, an OSC title change, an ANSI colour and a C1 CSI: shown as text, never run."""


def _shown_as_text(output: str) -> None:
    assert "[/x] [bold]b" in output
    assert "\x1b" not in output and "\x07" not in output and "\x9b" not in output
    assert "\\x1b]0;title\\x07" in output and "\\x9b2J" in output


@pytest.fixture
def hostile_store(cli, program_db) -> str:
    """Every kind of stored text that a listing shows holds markup and escape sequences;
    returns the id of a voided session with such a note and location."""
    cli.ok("site", "add", "S2", "--name", HOSTILE)
    cli.ok("specialist", "add", "PS3", "--site", "S2", "--name", HOSTILE)
    cli.ok("supervision", "log", "PS1", "45", "--supervisor", HOSTILE)
    cli.ok("log", "P-0001", "45", "-n", HOSTILE, "--location", HOSTILE)
    [row] = session_rows(program_db)
    cli.ok("void", row["id"], "--reason", HOSTILE)
    cli.ok("participant", "exit", "P-0002", "--on", days_ago(1), "--reason", HOSTILE)
    return row["id"]


@pytest.mark.parametrize("command", [
    ["site", "list"], ["specialist", "list"], ["supervision", "list"], ["history", "P-0002"],
    ["participant", "show", "P-0002"], ["show", "SESSION"], ["history", "SESSION"]])
def test_listings_show_stored_markup_and_escape_sequences_as_text(cli, hostile_store, command, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # wide enough that no text wraps
    result = cli.ok(*[hostile_store if arg == "SESSION" else arg for arg in command])
    _shown_as_text(result.stdout)


OUT_OF_RANGE = "error: date '-1000000d' is out of range: it is before the year 1"


@pytest.mark.parametrize("args", [
    ["log", "P-0001", "45", "-d", "-1000000d"],
    ["sessions", "--since", "-1000000d"],
    ["fidelity", "--as-of", "-1000000d"],
    ["supervision", "log", "PS1", "45", "--supervisor", "Supervisor A", "-d", "-1000000d"],
    ["milestone", "P-0001", "interview", "-d", "-1000000d"],
    ["participant", "add", "P-0003", "--site", "S1", "--enrolled", "-1000000d"],
], ids=lambda args: " ".join(args[:2]))
def test_every_date_option_refuses_a_date_before_the_year_1(cli, program_db, args):
    before = snapshot(program_db)
    result = cli(*args)
    assert (result.exit_code, result.stderr) == (1, OUT_OF_RANGE + "\n")
    assert snapshot(program_db) == before


def test_log_refuses_a_duration_of_thousands_of_digits_in_one_short_line(cli, program_db):
    before = snapshot(program_db)
    result = cli("log", "P-0001", "9" * 5000)
    assert result.exit_code == 1
    assert result.stderr == f"error: duration '{'9' * 37}...' is out of range: at most 480 minutes\n"
    assert snapshot(program_db) == before


def _vpslog(*args: str | bytes, stdin=subprocess.DEVNULL, **env: str) -> subprocess.CompletedProcess:
    """vpslog as a person runs it: a process of its own, real standard input and arguments as bytes."""
    return subprocess.run([sys.executable, "-m", "vpslog", *args], stdin=stdin, capture_output=True,
                          env={**os.environ, **env}, timeout=60)


def test_log_refuses_an_argument_that_is_not_utf8(program_db):
    before = snapshot(program_db)
    result = _vpslog(b"log", b"P-\xff", b"30")
    assert (result.returncode, result.stderr) == (
        1, b"error: argument 2 is not valid UTF-8 text (it is not shown: it may be a note); type it again as UTF-8\n")
    assert snapshot(program_db) == before


@pytest.mark.parametrize("command", [["init"], ["demo"]])
def test_a_store_path_that_is_not_utf8_is_a_store_like_any_other(env, tmp_path, command):
    """$VPSLOG_DB (or a HOME) naming a folder or file in another encoding: the witness file's name was
    hashed from the path as UTF-8, which it cannot be: exit 70, and `demo` left its temp file."""
    db = os.fsdecode(os.fsencode(str(tmp_path)) + b"/\xffstore.db")
    done = subprocess.run([sys.executable, "-m", "vpslog", *command], stdin=subprocess.DEVNULL, capture_output=True,
                          env={**os.environ, "VPSLOG_DB": db}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert _vpslog("sessions", VPSLOG_DB=db).returncode == 0
    assert not [name for name in os.listdir(os.fsencode(str(tmp_path))) if b".tmp-" in name]  # no temp file left


def test_log_at_the_end_of_input_logs_nothing(program_db):
    before = snapshot(program_db)
    result = _vpslog("log")
    assert (result.returncode, result.stderr) == (1, b"error: input ended at the Participant prompt; nothing was logged\n")
    assert snapshot(program_db) == before


def test_log_with_an_editor_that_is_not_there_logs_nothing(program_db):
    before = snapshot(program_db)
    result = _vpslog("log", "P-0001", "45", "-e", EDITOR="/nonexistent")
    assert result.returncode == 1
    assert result.stderr == (b"error: the editor (/nonexistent) could not be started: No such file or directory; "
                             b"set $EDITOR, or give the note with -n; nothing was saved\n")
    assert snapshot(program_db) == before


WORDS = st.sampled_from([
    "P-0001", "P-0002", "P-9", "PS1", "S1", "45", "0", "1h15m", "9" * 60, "-1000000d", "-99999999999d",
    "2026-02-30", "today", "fri", "[/x]", "\x1b]0;x\x07", "=1+1", "", " ", "ind", "job", "career", "no-show",
    "-d", "-c", "-s", "-t", "-n", "--since", "--as-of", "--format", "csv", "json", "--limit", "10" * 30,
    "--supervisor", "--reason", "--site", "--enrolled", "--age", "-1", "--all", "--strict", "--explain", "dose",
])
COMMANDS = st.sampled_from([
    ["log"], ["sessions"], ["show"], ["void"], ["history"], ["amend"], ["fidelity"], ["due"],
    ["milestone"], ["milestones"], ["supervision", "log"], ["supervision", "list"], ["site", "list"],
    ["specialist", "list"], ["participant", "add"], ["participant", "list"], ["participant", "show"],
    ["participant", "exit"], ["participant", "edit"], ["report", "dose"],
])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command=COMMANDS, words=st.lists(WORDS | st.text(max_size=12), max_size=6))
def test_any_command_line_gets_an_answer_or_a_one_line_refusal_that_writes_nothing(
        program_db, tmp_path_factory, command, words):
    """Each example runs on a fresh copy of the store (its own path, so no witness applies)."""
    home = tmp_path_factory.mktemp("store")
    shutil.copytree(program_db.parent.parent, home, dirs_exist_ok=True)
    db = home / "data" / "vpslog.db"
    before = snapshot(db)
    result = Cli().runner.invoke(app, [*command, *words], input="",
                                 env={"VPSLOG_DB": str(db), "VPSLOG_CONFIG_DIR": str(home / "config")})
    assert result.exit_code in {0, 1, 2, 3, 4}, (result.exit_code, result.stderr, result.exception)
    if result.exit_code not in (0, 4):
        assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1, result.stderr
        assert snapshot(db) == before


@pytest.mark.parametrize("answers,prompt", [(b"P-00\xff\n", "Participant"),
                                            (b"P-0001\n45\n\n\n\n\n\n\nnote \xff\n", "Note")])
def test_an_answer_that_is_not_utf8_at_a_prompt_is_refused_not_a_crash(program_db, tmp_path, answers, prompt):
    """Standard input reads bad bytes as lone surrogates: they reached the store (exit 70) at the
    Participant prompt, and at the Note prompt were refused only after the summary was confirmed."""
    before = snapshot(program_db)
    typed = tmp_path / "typed"
    typed.write_bytes(answers + b"y\n")
    with typed.open("rb") as stdin:
        result = _vpslog(b"log", stdin=stdin)
    assert result.returncode == 1
    assert result.stderr.endswith(
        f"error: the answer at the {prompt} prompt is not valid UTF-8 text; nothing was logged\n".encode())
    assert snapshot(program_db) == before


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_note_being_edited_is_removed_when_vpslog_is_ended(program_db, tmp_path, signum):
    """`log -e` writes the note to a private temp file for the editor; SIGTERM or SIGHUP (the terminal
    closed) left it in the temp folder, in clear, outside an encrypted store."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    editor = tmp_path / "editor.sh"
    editor.write_text('#!/bin/sh\necho "private words" > "$1"\ntouch "$1.opened"\n'
                      'exec sleep 30 </dev/null >/dev/null 2>&1\n')  # not holding vpslog's pipes open
    editor.chmod(0o700)
    before = snapshot(program_db)
    logging = subprocess.Popen([sys.executable, "-m", "vpslog", "log", "P-0001", "45", "-e"], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, "EDITOR": str(editor), "TMPDIR": str(temp)})
    deadline = time.monotonic() + 30
    while not list(temp.glob("*.opened")) and time.monotonic() < deadline:
        time.sleep(0.05)
    logging.send_signal(signum)
    logging.communicate(timeout=30)
    assert logging.returncode == 128 + signum
    assert [p.name for p in temp.iterdir() if not p.name.endswith(".opened")] == []
    assert snapshot(program_db) == before
