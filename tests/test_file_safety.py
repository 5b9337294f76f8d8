"""Files vpslog writes: nothing half-written, nothing followed through a link, nothing left behind."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import days_ago, snapshot

NO_LINKS = "vpslog does not create files through links"
EXPORT_FILES = ["codebook.md", "datapackage.json", "manifest.json"]


def _listing(folder: Path) -> dict[str, bytes | str]:
    """Every entry under `folder`: a file's bytes, or where a link points."""
    return {str(p.relative_to(folder)): (f"-> {os.readlink(p)}" if p.is_symlink() else
                                          p.read_bytes() if p.is_file() else "folder")
            for p in sorted(folder.rglob("*"))}


def _audit_count(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT count(*) FROM audit").fetchone()[0]
    finally:
        conn.close()


# -- creating a store -----------------------------------------------------------


def test_init_refuses_a_dangling_symbolic_link_instead_of_creating_its_target(cli, env, tmp_path):
    target = tmp_path / "elsewhere.db"
    link = tmp_path / "link.db"
    link.symlink_to(target)
    result = cli("--db", str(link), "init")
    assert (result.exit_code, result.stderr) == (
        3, f"error: {link} is a symbolic link to {target}, which does not exist; {NO_LINKS}\n")
    assert link.is_symlink() and not target.exists()
    assert not any(tmp_path.glob("elsewhere.db*")) and not any(tmp_path.glob("link.db?*"))
    assert not (tmp_path / "config" / "secret").exists()  # no secret made for a store that could not be


# -- backup ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["file", "link to a file", "dangling link"])
def test_backup_refuses_an_existing_destination_or_a_link(cli, program_db, tmp_path, kind):
    folder = tmp_path / "backups"
    folder.mkdir()
    dest, other = folder / "copy.db", folder / "other.db"
    if kind == "file":
        dest.write_text("an earlier backup\n")
        error = f"{dest} already exists"
    else:
        if kind == "link to a file":
            other.write_text("someone else's file\n")
        dest.symlink_to(other)
        gone = "" if other.exists() else ", which does not exist"
        error = f"{dest} is a symbolic link to {other}{gone}; {NO_LINKS}"
    before, store = _listing(folder), snapshot(program_db)
    result = cli("backup", str(dest))
    assert (result.exit_code, result.stderr, result.stdout) == (
        1, f"error: {error}; choose a new file for the backup\n", "")
    assert _listing(folder) == before and snapshot(program_db) == store


def test_backup_creates_missing_folders_private_and_leaves_only_the_copy(cli, program_db, tmp_path):
    dest = tmp_path / "new" / "deeper" / "copy.db"
    cli.ok("backup", str(dest))
    assert [p.name for p in dest.parent.iterdir()] == ["copy.db"]
    assert os.stat(dest).st_mode & 0o777 == 0o600
    assert all(os.stat(p).st_mode & 0o777 == 0o700 for p in (tmp_path / "new", dest.parent))
    assert snapshot(dest) == snapshot(program_db)


def test_a_backup_copy_that_does_not_verify_is_not_put_in_place(cli, program_db, tmp_path, monkeypatch):
    from vpslog.store import Store

    counts = Store.record_counts

    def one_session_lost_in_the_copy(self):
        found = counts(self)
        return {**found, "session": found["session"] - 1} if self.path.name.startswith(".copy.db.tmp-") else found

    monkeypatch.setattr(Store, "record_counts", one_session_lost_in_the_copy)
    folder = tmp_path / "backups"
    folder.mkdir()
    result = cli("backup", str(folder / "copy.db"))
    assert (result.exit_code, result.stderr) == (
        3, "error: the backup copy did not verify (its audit head or record counts differ from the store's); "
           f"nothing was written at {folder / 'copy.db'}\n")
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("dies_in", ["Store.record_counts", "os.fsync"])
def test_a_killed_backup_leaves_no_file_at_the_destination(cli, program_db, tmp_path, dies_in):
    """Killed with SIGKILL, no clean-up runs: the destination appears only once the copy is verified."""
    dest = tmp_path / "backups" / "copy.db"
    owner, name = dies_in.split(".")
    dies_midway = (
        "import os, signal, sys\n"
        "from vpslog.store import Store\n"
        f"setattr({owner}, {name!r}, lambda *args: os.kill(os.getpid(), signal.SIGKILL))\n"
        "from vpslog.cli import app\n"
        "app(sys.argv[1:])\n")
    child = subprocess.run([sys.executable, "-c", dies_midway, "backup", str(dest)], env=os.environ.copy(),
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert not dest.exists()
    assert [p.name.startswith(".copy.db.tmp-") for p in dest.parent.iterdir()] == [True]
    cli.ok("backup", str(dest))  # the re-run is not blocked by the killed one
    assert snapshot(dest) == snapshot(program_db)


# -- export ----------------------------------------------------------------------


def _refused_export(cli, db: Path, out: Path, error: str, *args: str) -> None:
    """The export is refused with `error`, and neither the store, its audit trail nor anything under
    the folder that holds `out` changed."""
    folder = out.parent
    before, store = _listing(folder), snapshot(db)
    result = cli("export", *args, "--out", str(out))
    assert (result.exit_code, result.stderr, result.stdout) == (1, f"error: {error}\n", "")
    assert _listing(folder) == before and snapshot(db) == store


def test_export_refuses_an_out_folder_that_is_a_link(cli, program_db, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    out = tmp_path / "out"
    out.symlink_to(shared)
    _refused_export(cli, program_db, out,
                    f"--out {out} is a symbolic link to {shared}; {NO_LINKS}; use another --out")


def test_export_never_writes_identified_rows_through_a_link_in_an_earlier_export(cli, program_db, tmp_path):
    out = tmp_path / "out"
    cli.ok("export", "--out", str(out))
    elsewhere = tmp_path / "public.csv"
    elsewhere.write_text("visible to all\n")
    os.chmod(elsewhere, 0o644)
    (out / "sessions.csv").unlink()
    (out / "sessions.csv").symlink_to(elsewhere)
    _refused_export(cli, program_db, out,
                    f"--out {out} is not empty and not an earlier vpslog export (sessions.csv is a symbolic link); "
                    "an export replaces only those: use another --out")
    assert elsewhere.read_text() == "visible to all\n"


@pytest.mark.parametrize("files, why", [
    ({"thesis.docx": "my thesis"}, "thesis.docx is not a file an export writes"),
    ({"sessions.csv": "id\n"}, "no manifest.json with an export_id"),
    ({"sessions.csv": "id\n", "manifest.json": "{}"}, "no manifest.json with an export_id"),
    ({"manifest.json": '{"export_id": "1"}', "data": None}, "data is not a file an export writes"),
])
def test_export_refuses_a_folder_that_is_not_empty_and_not_an_earlier_export(cli, program_db, tmp_path, files, why):
    out = tmp_path / "out"
    out.mkdir()
    for name, text in files.items():
        (out / name).mkdir() if text is None else (out / name).write_text(text)
    _refused_export(cli, program_db, out, f"--out {out} is not empty and not an earlier vpslog export ({why}); "
                                          "an export replaces only those: use another --out")


def test_export_refuses_a_file_as_out(cli, program_db, tmp_path):
    out = tmp_path / "out"
    out.write_text("a file\n")
    _refused_export(cli, program_db, out, f"--out {out} is a file, not a folder; use another --out")


def test_a_deidentified_export_replaces_an_identified_one_whole(cli, program_db, tmp_path):
    out = tmp_path / "out"
    cli.ok("export", "--out", str(out))
    assert "allocations.csv" in os.listdir(out)
    for path in out.iterdir():
        os.chmod(path, 0o644)
    result = cli.ok("export", "sessions", "participants", "--deidentify", "--out", str(out))
    assert result.stdout.startswith(f"de-identified export written to {out}: ")
    assert sorted(os.listdir(out)) == [*EXPORT_FILES, "participants.csv", "sessions.csv"]
    assert "P-0001" not in (out / "participants.csv").read_text()
    assert os.stat(out).st_mode & 0o777 == 0o700
    assert all(os.stat(p).st_mode & 0o777 == 0o600 for p in out.iterdir())
    assert sorted(os.listdir(tmp_path)) == ["config", "data", "out"]  # no temp or set-aside folder left
    assert json.loads((out / "manifest.json").read_text())["deidentified"] is True


def test_export_into_an_empty_folder_or_missing_parents_makes_them_private(cli, program_db, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir(mode=0o755)
    os.chmod(empty, 0o755)
    cli.ok("export", "sites", "--out", str(empty))
    assert sorted(os.listdir(empty)) == [*EXPORT_FILES, "sites.csv"]
    assert os.stat(empty).st_mode & 0o777 == 0o700
    deep = tmp_path / "a" / "b" / "out"
    cli.ok("export", "sites", "--out", str(deep))
    assert all(os.stat(p).st_mode & 0o777 == 0o700 for p in (tmp_path / "a", deep.parent, deep))
    assert sorted(os.listdir(deep.parent)) == ["out"]


@pytest.mark.parametrize("earlier", [False, True])
def test_an_export_blocked_by_a_lock_leaves_no_csv_behind(cli, program_db, tmp_path, monkeypatch, earlier):
    """The audit entry cannot be written while another writer holds the store: the CSVs already
    written must go too, and an earlier export in the folder stays as it was."""
    monkeypatch.setattr("vpslog.store.base.BUSY_TIMEOUT_MS", 200)
    out = tmp_path / "out"
    if earlier:
        cli.ok("export", "sites", "--out", str(out))
    before, audit = _listing(tmp_path / "out") if earlier else None, _audit_count(program_db)
    writer = sqlite3.connect(program_db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        result = cli("export", "--out", str(out))
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert result.exit_code == 3 and result.stderr.startswith(f"error: {program_db} is busy")
    assert sorted(os.listdir(tmp_path)) == ["config", "data", *(["out"] if earlier else [])]
    assert (_listing(out) if earlier else None) == before
    assert _audit_count(program_db) == audit


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux), a device that is always full")
@pytest.mark.parametrize("command", [["sessions"], ["export", "sessions", "--out", "-"], ["fidelity", "--format", "json"],
                                     ["log", "P-0001", "45", "-c", "hope"], ["--version"], ["log", "--help"]])
def test_a_full_disk_under_the_output_is_one_line_and_exit_74_not_a_crash(cli, program_db, command):
    """Output that the system refuses to write (a full disk or quota, a failing device) is the
    machine's problem, not a bug: one line that says so, exit 74 (EX_IOERR), no traceback; the
    store stays whole. (`log` has stored its session by then: only the line saying so is lost.)"""
    before = snapshot(program_db)["session"]
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "vpslog", *command], stdout=full, stderr=subprocess.PIPE,
                              text=True, env=os.environ.copy())
    assert (done.returncode, done.stderr) == (74, "error: the system refused a read or write: No space left on device\n")
    assert cli.ok("audit", "verify").stdout.startswith("audit trail verified")
    assert len(snapshot(program_db)["session"]) == len(before) + (command[0] == "log" and "--help" not in command)


def _sessions_file(path: Path, count: int) -> Path:
    """`count` phone sessions of P-0001 with PS1, to import."""
    rows = [f"{n:032x},P-0001,PS1,{days_ago(10)},45,individual,phone,2026-01-01T10:00:00Z,PS1" for n in range(1, count + 1)]
    path.write_text("\n".join(["id,participant_id,specialist_id,date,minutes,type,mode,entered_at,entered_by", *rows])
                    + "\n", encoding="utf-8")
    return path


def test_a_backup_the_file_system_refuses_leaves_nothing_beside_its_destination(cli, program_db, tmp_path):
    """A copy that outgrows what the system lets it write (a file-size limit here; a full disk alike) is
    one line and exit 74; neither the temp copy nor its journal stays beside the destination."""
    import resource

    cli.ok("import", "sessions", str(_sessions_file(tmp_path / "s.csv", 3000)))  # a store bigger than the limit
    folder = tmp_path / "backups"
    folder.mkdir()

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    done = subprocess.run([sys.executable, "-m", "vpslog", "backup", str(folder / "copy.db")], preexec_fn=small_files,
                          capture_output=True, text=True, env=os.environ.copy())
    assert done.returncode == 74 and done.stderr.startswith("error: the system refused a read or write (SQLite: ")
    assert len(done.stderr.splitlines()) == 1 and list(folder.iterdir()) == []
    assert cli.ok("audit", "verify").stdout.startswith("audit trail verified")


def test_a_demo_the_file_system_refuses_leaves_nothing_beside_its_store(env, tmp_path):
    """A demo stopped by a full disk (a file-size limit here) removed its temp store but left its
    write-ahead log (hundreds of kB) and shared-memory file beside it."""
    import resource

    folder = tmp_path / "demo"
    folder.mkdir()

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (150_000, 150_000))

    done = subprocess.run([sys.executable, "-m", "vpslog", "--db", str(folder / "demo.db"), "demo"],
                          preexec_fn=small_files, capture_output=True, text=True, env=os.environ.copy(), timeout=120)
    assert done.returncode == 74, done.stderr
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("args", [["sessions"], ["log", "P-0001", "45"]])
def test_a_store_the_system_will_not_let_open_is_exit_74_not_a_damaged_store(cli, program_db, args):
    """Opening writes the WAL's -shm file beside the store; when the system refuses it (a full disk,
    here a file-size limit) that is the system's refusal (exit 74), on the quick path and typer's alike,
    not "is not a vpslog store" (exit 3), which sent people to restore a healthy store. (A read-only
    file system is said the same way: checked by hand on a remounted tmpfs.)"""
    import resource

    for leftover in (program_db.with_name(program_db.name + "-wal"), program_db.with_name(program_db.name + "-shm")):
        leftover.unlink(missing_ok=True)  # closed cleanly: the next open makes them anew
    before = snapshot(program_db)

    def tiny_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (1, 1))

    done = subprocess.run([sys.executable, "-m", "vpslog", *args], preexec_fn=tiny_files, capture_output=True,
                          text=True, env=os.environ.copy())
    assert (done.returncode, done.stderr) == (74, "error: the system refused a read or write (SQLite: disk I/O error)\n")
    assert snapshot(program_db) == before


@pytest.mark.parametrize("command", [["report", "html", "--out"], ["export", "sites", "--out"], ["backup"]])
def test_a_name_too_long_for_its_temp_file_is_refused_before_any_work(cli, program_db, tmp_path, command):
    """A name the file system takes (240 bytes) but not once `.NAME.tmp-PID-…` is added (255): exit 70
    (internal error) before, after the whole report was computed."""
    folder = tmp_path / "out"
    folder.mkdir()
    name = "n" * 240 + ".html"
    result = cli(*command, str(folder / name))
    assert result.exit_code == 1
    assert (f"{folder / name}: the name is too long: at most 221 bytes here, since files are made beside it under "
            "longer names (a temp copy, SQLite's journal)") in result.stderr and len(result.stderr.splitlines()) == 1  # whole: it was cut at 40
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("command", [["init"], ["demo"]])
def test_a_store_name_too_long_for_the_files_beside_it_is_refused_before_any_work(cli, env, tmp_path, command):
    """A 248-character store name: SQLite could not make its journal beside it (exit 3, "not a vpslog
    store"), and init left an empty file of that name."""
    folder = tmp_path / "stores"
    folder.mkdir()
    db = folder / ("c" * 245 + ".db")
    result = cli("--db", str(db), *command)
    assert result.exit_code == 1 and result.stderr.startswith(f"error: {db}: the name is too long: at most 221 bytes")
    assert list(folder.iterdir()) == []
    cli.ok("--db", str(folder / ("d" * 218 + ".db")), *command)  # 221 bytes: made (demo builds under a longer one)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc, where no file can be created")
def test_a_folder_where_no_file_can_be_made_is_one_line_and_exit_1_not_an_internal_error(cli, program_db):
    result = cli("backup", "/proc/vpslog-backup.db")
    assert result.exit_code == 1
    assert re.fullmatch(r"error: /proc/\.vpslog-backup\.db\.tmp-\d+-[0-9a-f]{12} cannot be used: No such file or "
                        r"directory\n", result.stderr), result.stderr


@pytest.mark.parametrize("command", [["report", "html", "--out"], ["backup"]])
def test_a_folder_given_for_a_new_file_is_said_to_be_a_folder(cli, program_db, tmp_path, monkeypatch, command):
    """`--out ""` (an unset variable) reads as `.`: it said ". already exists"."""
    monkeypatch.chdir(tmp_path)
    before = sorted(os.listdir(tmp_path))
    result = cli(*command, "")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: . is a folder ({tmp_path.resolve()}), not a new file; choose a new file")
    assert sorted(os.listdir(tmp_path)) == before
