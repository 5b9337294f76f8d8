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
    return tmp_path / "data" / "vpslog.db"


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
