"""Fixtures: every test gets its own store and config folder under tmp_path."""

from __future__ import annotations

import functools
import importlib.util
import os
import secrets
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest
import typer.testing
from typer.testing import CliRunner

from vpslog.cli import app
from vpslog.store.base import connect, key_for

typer.testing._get_command = functools.lru_cache(maxsize=None)(typer.testing._get_command)
"""typer turns the app into click commands on every CliRunner.invoke (about 25 ms, most of a test's
set-up); the vpslog command does it once per process, and so do the tests, once per session."""

TODAY = date.today()
NO_SQLCIPHER = (None if importlib.util.find_spec("sqlcipher3") else
                "encrypted store not tested: sqlcipher3 is not installed (vpslog[encrypt] brings its wheel on "
                "Linux x86-64; elsewhere build it against a system SQLCipher)")


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "both_stores: run the module's store tests on a plain and an encrypted store")


def pytest_generate_tests(metafunc) -> None:
    """Modules marked `both_stores` run each test that uses a store on both kinds of store."""
    if metafunc.definition.get_closest_marker("both_stores") and "store_kind" in metafunc.fixturenames:
        metafunc.parametrize("store_kind", ["plain", "encrypted"], indirect=True)


@pytest.fixture
def store_kind(request) -> str:
    """plain, unless a `both_stores` module asks for encrypted too (skipped, saying why, without sqlcipher3)."""
    kind = getattr(request, "param", "plain")
    if kind == "encrypted" and NO_SQLCIPHER:
        pytest.skip(NO_SQLCIPHER)
    return kind


def write_key_file(path: Path, text: str | None = None, mode: int = 0o600) -> Path:
    """A key file as an administrator would make one (a random raw key unless `text`)."""
    path.write_text((text or secrets.token_hex(32)) + "\n", encoding="utf-8")
    os.chmod(path, mode)
    return path


def days_ago(n: int) -> str:
    return (TODAY - timedelta(days=n)).isoformat()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_kind: str) -> Path:
    """Point vpslog at a store and a config folder inside tmp_path; for an encrypted store kind, at a
    key file there too (`init` then makes the store encrypted: see Cli). Never the user's keyring."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    if store_kind == "encrypted":
        monkeypatch.setenv("VPSLOG_KEY_FILE", str(write_key_file(tmp_path / "store.key")))
    else:
        monkeypatch.delenv("VPSLOG_KEY_FILE", raising=False)
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
    """Runs vpslog in-process through typer's CliRunner; with `encrypt`, `init` makes encrypted stores."""

    def __init__(self, encrypt: bool = False) -> None:
        self.runner = CliRunner()
        self.encrypt = encrypt

    def __call__(self, *args: str, input: str | None = None):
        args = list(args)
        command = args[2:3] if args[:1] == ["--db"] else args[:1]
        if self.encrypt and command == ["init"] and "--encrypt" not in args:
            args.append("--encrypt")
        return self.runner.invoke(app, args, input=input)

    def ok(self, *args: str, input: str | None = None):
        result = self(*args, input=input)
        assert result.exit_code == 0, (result.exit_code, result.output, result.stderr)
        return result


@pytest.fixture
def cli(env: Path, store_kind: str) -> Cli:
    return Cli(encrypt=store_kind == "encrypted")


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


def open_db(db: Path) -> sqlite3.Connection:
    """A connection to the store at `db` as the sqlite3 shell (or SQLCipher's, with the key) gives one."""
    return connect(db, key_for(db))


def snapshot(db: Path) -> dict[str, list[tuple]]:
    """Every row of every table, to show that a refused command wrote nothing."""
    conn = open_db(db)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: [tuple(row) for row in conn.execute(f'SELECT * FROM "{t}" ORDER BY rowid')] for t in tables}
    finally:
        conn.close()


def session_rows(db: Path) -> list[sqlite3.Row]:
    return table_rows(db, "session")


def table_rows(db: Path, table: str) -> list[sqlite3.Row]:
    """The rows of a table of logged events (session, supervision, milestone), oldest first."""
    conn = open_db(db)
    try:
        return conn.execute(f'SELECT * FROM "{table}" ORDER BY date, entered_at').fetchall()
    finally:
        conn.close()


def tamper(db: Path, *statements: str) -> None:
    """What an attacker who can write the store file does with the sqlite3 shell: drop the
    audit triggers, then run `statements`."""
    conn = open_db(db)
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
