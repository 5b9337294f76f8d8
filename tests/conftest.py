"""Fixtures: every test gets its own store and config folder under tmp_path."""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vpslog.cli import app

TODAY = date.today()


def days_ago(n: int) -> str:
    return (TODAY - timedelta(days=n)).isoformat()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point vpslog at a store and a config folder inside tmp_path."""
    monkeypatch.setenv("VPSLOG_DB", str(tmp_path / "data" / "vpslog.db"))
    monkeypatch.setenv("VPSLOG_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("VPSLOG_SCHEMAS", raising=False)
    monkeypatch.delenv("EDITOR", raising=False)
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # tables as wide as a wide terminal, unless a test narrows them
    return tmp_path / "data" / "vpslog.db"


@pytest.fixture
def default_demo_db(env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Neither --db nor VPSLOG_DB: the default store under tmp_path (platformdirs follows XDG_DATA_HOME,
    else HOME, on Linux). Returns where `vpslog demo` then puts its store: demo.db beside the default."""
    monkeypatch.delenv("VPSLOG_DB")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    return tmp_path / "share" / "vpslog" / "demo.db"


class Cli:
    """Runs vpslog in-process through typer's CliRunner."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None):
        return self.runner.invoke(app, list(args), input=input)

    def ok(self, *args: str, input: str | None = None):
        result = self(*args, input=input)
        assert result.exit_code == 0, (result.exit_code, result.output, result.stderr)
        return result


@pytest.fixture
def cli(env: Path) -> Cli:
    return Cli()


@pytest.fixture
def program_db(cli: Cli, env: Path) -> Path:
    """A store with one site, two specialists and two participants (P-0001 active, P-0002 active)."""
    cli.ok("init")
    cli.ok("site", "add", "S1", "--name", "Site one")
    cli.ok("specialist", "add", "PS1", "--site", "S1", "--trained", days_ago(200))
    cli.ok("specialist", "add", "PS2", "--site", "S1", "--name", "Specialist B")
    cli.ok("participant", "add", "P-0001", "--site", "S1", "--enrolled", days_ago(120),
           "--arm", "vps", "--consent", days_ago(120))
    cli.ok("participant", "add", "P-0002", "--site", "S1", "--enrolled", days_ago(60), "--arm", "control")
    cli.ok("config", "set", "specialist", "PS1")
    return env


def snapshot(db: Path) -> dict[str, list[tuple]]:
    """Every row of every table, to show that a refused command wrote nothing."""
    conn = sqlite3.connect(db)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: conn.execute(f'SELECT * FROM "{t}" ORDER BY rowid').fetchall() for t in tables}
    finally:
        conn.close()


def session_rows(db: Path) -> list[sqlite3.Row]:
    return table_rows(db, "session")


def table_rows(db: Path, table: str) -> list[sqlite3.Row]:
    """The rows of a table of logged events (session, supervision, milestone), oldest first."""
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(f'SELECT * FROM "{table}" ORDER BY date, entered_at').fetchall()
    finally:
        conn.close()


def tamper(db: Path, *statements: str) -> None:
    """What an attacker who can write the store file does with the sqlite3 shell: drop the
    audit triggers, then run `statements`."""
    conn = sqlite3.connect(db)
    conn.execute("DROP TRIGGER IF EXISTS audit_no_update")
    conn.execute("DROP TRIGGER IF EXISTS audit_no_delete")
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


@pytest.fixture
def demo(cli, env):
    """The demo program (2 sites, 6 specialists, about 9 months of sessions up to today)."""
    cli.ok("demo")
    return env


@pytest.fixture
def demo_prog(demo):
    """The demo program, open as a Program."""
    from vpslog.core import Program

    prog = Program.open(demo)
    yield prog
    prog.close()
