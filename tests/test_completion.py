"""Shell completion offers participant ids from the store and codes from the curriculum."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys


def complete(words: str, cword: int) -> list[str]:
    env = {**os.environ, "_VPSLOG_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    done = subprocess.run([sys.executable, "-c", "import sys; sys.argv[0] = 'vpslog'; from vpslog.cli import run; run()"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_participant_ids_complete_from_the_store_active_only(cli, program_db):
    cli.ok("participant", "add", "P-0100", "--site", "S1", "--enrolled", "2026-01-01")
    cli.ok("participant", "exit", "P-0002", "--on", "2026-11-01", "--reason", "moved")
    assert complete("vpslog log P-0", 2) == ["P-0001", "P-0100"]


def test_component_codes_complete_the_last_item_of_a_comma_list(cli, program_db):
    assert complete("vpslog log P-0001 45 -c hope,jo", 5) == ["hope,job-search", "hope,job-keeping"]
    assert complete("vpslog log P-0001 45 -c res", 5) == ["resume"]


def test_completion_without_a_store_offers_nothing_and_does_not_fail(cli, env):
    assert complete("vpslog log P-0", 2) == []


def test_participant_ids_complete_from_the_store_the_command_line_names(cli, program_db, tmp_path, monkeypatch):
    """`vpslog --db OTHER log P-0<Tab>` (the form the demo tells users to run) completed from $VPSLOG_DB."""
    other = tmp_path / "other.db"
    cli.ok("--db", str(other), "init")
    cli.ok("--db", str(other), "site", "add", "S1", "--name", "Site one")
    cli.ok("--db", str(other), "participant", "add", "P-0777", "--site", "S1", "--enrolled", "2026-01-01")
    assert complete(f"vpslog --db {other} log P-0", 4) == ["P-0777"]


def test_completion_never_asks_for_a_key(cli, program_db, tmp_path, monkeypatch):
    """An encrypted store whose key is typed: completing asked for it on the terminal, and the shell
    hung until the completion was killed. Now it completes nothing."""
    from conftest import write_key_file

    key = write_key_file(tmp_path / "k.key")
    encrypted = tmp_path / "enc.db"
    monkeypatch.setenv("VPSLOG_KEY_FILE", str(key))
    cli.ok("--db", str(encrypted), "init", "--encrypt")
    monkeypatch.delenv("VPSLOG_KEY_FILE")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    assert complete(f"vpslog --db {encrypted} log P-0", 4) == []
    if shutil.which("script"):  # on a terminal, where the prompt was shown and waited for
        env = {**os.environ, "_VPSLOG_COMPLETE": "complete_bash", "COMP_WORDS": f"vpslog --db {encrypted} log P-0",
               "COMP_CWORD": "4"}
        command = f"{sys.executable} -c \"import sys; sys.argv[0] = 'vpslog'; from vpslog.cli import run; run()\""
        done = subprocess.run(["script", "-qec", command, "/dev/null"], env=env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=30)
        assert "Key for" not in done.stdout and done.returncode == 0, done.stdout
