"""Shell completion offers participant ids from the store and codes from the curriculum."""

from __future__ import annotations

import os
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
