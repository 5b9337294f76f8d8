"""Benchmark: how long does a quick `vpslog log` entry take, end to end?

Logging a session must feel instant, so this times the whole `vpslog log`
process (interpreter start, imports, validation, database write and audit
entry), as users run it: installed with pip (a wheel built from this checkout,
into a virtualenv under the cache dir, its bytecode compiled). It times both
paths of the command: quick entry (`vpslog log ...`, vpslog/quick.py) and the
full typer path (`vpslog --debug log ...`, which quick entry hands to typer),
and sets them against references measured in the same run on the same machine:

* `python -c pass` - the floor for any Python CLI on this interpreter;
* the sqlite3 shell inserting one row into the `session` table of a copy of
  the vpslog store (same schema, constraints and WAL mode, with
  `PRAGMA foreign_keys=ON` as vpslog sets) - the floor for the database write;
* a "typer+pydantic floor": a throwaway app, written into the temporary
  directory at run time and run with vpslog's interpreter, whose `log`
  command has the same parameters as `vpslog log` and builds and validates
  one small pydantic model of the session, writing nothing - the floor for
  any CLI built on this framework, so the rest is vpslog's own work;
* jrnl making a one-line entry and Watson's `watson add` - comparable
  Python CLIs, each installed in its own virtualenv under the cache dir
  (created on first run with `python -m venv` and pip; a tool that cannot
  be installed is skipped with a note).

The aim is for `vpslog log` (quick entry) to be faster than Watson's `add`.
And on an encrypted store (issue 12: `vpslog init --encrypt`, its key a raw key in a 0600 key file
named by $VPSLOG_KEY_FILE, SQLCipher from the `encrypt` extra, which the bench's virtualenv gets):
quick entry within 1.15x of the plain store's, timed in the same rounds.

Run from the repository root (standard library only; the first run needs PyPI
for the virtualenvs):

    python bench/quick_entry.py [--runs N] [--vpslog PATH] [--cache-dir DIR]

`--vpslog PATH` measures that executable instead of installing this checkout.

Every tool works on scratch data in a temporary directory; the commands are
run in interleaved rounds, after one untimed warm-up run each, and the table
gives the median and minimum wall time of each.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib
from benchlib import Bench, BenchError, Column, failure, run, run_checked, verdict

BenchError.name = "quick_entry"

RUN_TIMEOUT_S = 60
AIM = "vpslog log (quick entry) faster than Watson's add"
WATSON_AIM_RATIO = 1.0
ENCRYPTED_AIM_RATIO = 1.15  # quick entry on an encrypted store, against the plain one
ROOT = Path(__file__).resolve().parent.parent

VPSLOG_SETUP = [
    ["init"],
    ["site", "add", "S1", "--name", "Site one"],
    ["specialist", "add", "PS1", "--site", "S1", "--trained", "2026-01-05"],
    ["participant", "add", "P-0001", "--site", "S1", "--enrolled", "2026-01-10",
     "--arm", "vps", "--consent", "2026-01-10"],
    ["config", "set", "specialist", "PS1"],
]
VPSLOG_LOG = ["log", "P-0001", "45m", "-d", "2026-03-02", "-c", "career,hope",
              "-s", "emotional", "-m", "in-person", "-t", "individual",
              "-n", "bench note"]

# The row `vpslog log` above writes (vpslog joins code lists with ';'), with
# a fresh 32-hex id, inserted into the real `session` table.
SQLITE_INSERT = (
    "INSERT INTO session (id, participant_id, specialist_id, date, minutes, type, "
    "mode, components, supports, note, entered_at, entered_by) "
    "VALUES (lower(hex(randomblob(16))), 'P-0001', 'PS1', '2026-03-02', 45, "
    "'individual', 'in-person', 'career-exploration;hope', 'emotional', 'bench note', "
    "strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), 'PS1');"
)

# The typer+pydantic floor: written to the temporary directory and run with
# vpslog's interpreter. Its `log` takes the parameters of `vpslog log` (under
# a callback, so the argv is the same) and validates one pydantic v2 model.
FLOOR_APP = '''\
"""Throwaway typer+pydantic floor app written by bench/quick_entry.py."""
import re
import uuid
from datetime import UTC, date, datetime, time
from typing import Annotated, Optional

import typer
from pydantic import BaseModel, Field

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)


class Session(BaseModel):
    id: str = Field(pattern=r"^[0-9a-f]{32}$")
    participant_id: str = Field(pattern=r"^P-[0-9]{4}$")
    specialist_id: str = Field(min_length=1, max_length=40)
    date: date
    start_time: time | None = None
    minutes: int = Field(ge=1, le=480)
    type: str
    mode: str
    location: str | None = None
    components: tuple[str, ...] = ()
    supports: tuple[str, ...] = ()
    phase: str | None = None
    clinical: bool = False
    note: str | None = None
    entered_at: datetime
    entered_by: str


@app.callback()
def main(db: Annotated[Optional[str], typer.Option("--db", envvar="VPSLOG_DB")] = None,
         debug: Annotated[bool, typer.Option("--debug")] = False) -> None:
    """Floor app."""


def _split(values):
    return tuple(v for value in values or () for v in value.split(",") if v)


@app.command("log")
def log(
    participant: Annotated[Optional[str], typer.Argument()] = None,
    duration: Annotated[Optional[str], typer.Argument()] = None,
    date_: Annotated[Optional[str], typer.Option("-d", "--date")] = None,
    mode: Annotated[Optional[str], typer.Option("-m", "--mode")] = None,
    type_: Annotated[Optional[str], typer.Option("-t", "--type")] = None,
    codes: Annotated[Optional[list[str]], typer.Option("-c", "--codes")] = None,
    support: Annotated[Optional[list[str]], typer.Option("-s", "--support")] = None,
    phase: Annotated[Optional[str], typer.Option("-p", "--phase")] = None,
    note: Annotated[Optional[str], typer.Option("-n", "--note")] = None,
    edit: Annotated[bool, typer.Option("-e", "--edit")] = False,
    specialist: Annotated[Optional[str], typer.Option("--specialist")] = None,
    clinical: Annotated[Optional[bool], typer.Option("--clinical/--no-clinical")] = None,
    at: Annotated[Optional[str], typer.Option("--at")] = None,
    location: Annotated[Optional[str], typer.Option("--location")] = None,
    interactive: Annotated[bool, typer.Option("-i", "--interactive")] = False,
) -> None:
    """Validate one session and insert nothing."""
    match = re.fullmatch(r"(?:(\\d+)h)?(?:(\\d+)m?)?", duration or "")
    minutes = int(match[1] or 0) * 60 + int(match[2] or 0) if match else 0
    session = Session(
        id=uuid.uuid4().hex, participant_id=(participant or "").upper(),
        specialist_id=specialist or "PS1", date=date_ or date.today(), start_time=at,
        minutes=minutes, type=type_ or "individual", mode=mode or "in-person",
        location=location, components=_split(codes), supports=_split(support), phase=phase,
        clinical=bool(clinical), note=note, entered_by=specialist or "PS1",
        entered_at=datetime.now(UTC).replace(microsecond=0))
    print(f"validated session {session.id[:8]}: {session.participant_id} {session.date} "
          f"{session.minutes} min {session.type} {session.mode} (nothing written)")


app()
'''


def try_warm_up(bench: Bench) -> Bench | None:
    """Run a reference once untimed; skip it (with a note) if it fails or prompts."""
    proc = run(bench.argv, bench.env, RUN_TIMEOUT_S)
    if proc.returncode == 0:
        return bench
    print(f"note: skipping {bench.label}: {failure(bench.argv, proc)}")
    return None


def time_once(bench: Bench) -> None:
    start = time.perf_counter()
    proc = run(bench.argv, bench.env, RUN_TIMEOUT_S)
    elapsed_ms = (time.perf_counter() - start) * 1000
    if proc.returncode != 0:
        raise BenchError(f"timed run of {bench.label} failed: {failure(bench.argv, proc)}")
    bench.times.append(elapsed_ms)


def isolated_env(home: Path, **extra: str) -> dict[str, str]:
    """The current environment, with HOME and XDG dirs moved into `home`."""
    home.mkdir(parents=True)
    return dict(os.environ, HOME=str(home),
                XDG_CONFIG_HOME=str(home / ".config"),
                XDG_DATA_HOME=str(home / ".local" / "share"),
                **extra)


def vpslog_store(tmp: Path) -> Path:
    return tmp / "bench.db"


def set_up_store(exe: str, tmp: Path, *init: str, **extra: str) -> dict[str, str]:
    """A store at vpslog_store(tmp) set up by VPSLOG_SETUP (`init` given `init`); the environment to use it."""
    env = dict(os.environ, VPSLOG_DB=str(vpslog_store(tmp)), VPSLOG_CONFIG_DIR=str(tmp / "config"), **extra)
    for args in VPSLOG_SETUP:
        run_checked([exe, *args, *(init if args == ["init"] else ())], env, RUN_TIMEOUT_S)
    return env


def prepare_vpslog(exe: str, tmp: Path) -> tuple[Bench, Bench]:
    """The quick path (`vpslog log ...`) and the full typer path (`vpslog --debug log ...`) on one store."""
    env = set_up_store(exe, tmp)
    quick = Bench("vpslog log (quick entry)", [exe, *VPSLOG_LOG], env=env)
    full = Bench("vpslog --debug log (typer)", [exe, "--debug", *VPSLOG_LOG], env=env)
    for bench in (quick, full):
        run_checked(bench.argv, env, RUN_TIMEOUT_S)  # warm-up (the first also compiles the checks)
    return quick, full


def prepare_encrypted(exe: str, tmp: Path) -> Bench | None:
    """Quick entry on an encrypted store; None (said why) where SQLCipher cannot be used."""
    folder = tmp / "encrypted"
    folder.mkdir()
    try:
        env = set_up_store(exe, folder, "--encrypt", VPSLOG_KEY_FILE=str(folder / "bench.key"))
    except BenchError as exc:
        print(f"encrypted store skipped: {exc}")
        return None
    return try_warm_up(Bench("vpslog log (quick entry, encrypted)", [exe, *VPSLOG_LOG], env=env))


def install_vpslog(cache: Path) -> str:
    """vpslog as users install it: this checkout built and installed with pip into a virtualenv
    under `cache` (made, with the dependencies, on first use; vpslog itself reinstalled every
    run), its bytecode compiled. The path of its `vpslog` script."""
    venv = cache / "vpslog"
    python = venv / "bin" / "python"
    steps = [[str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall", str(ROOT)]]
    if not python.exists():
        print(f"setting up {venv} (first run only) ...", flush=True)
        steps[:0] = [[sys.executable, "-m", "venv", str(venv)],
                     [str(python), "-m", "pip", "install", "--quiet", f"{ROOT}[encrypt]"]]
    elif subprocess.run([str(python), "-c", "import sqlcipher3, keyring"], capture_output=True).returncode:
        steps[:0] = [[str(python), "-m", "pip", "install", "--quiet", f"{ROOT}[encrypt]"]]  # a venv from before
    for argv in steps:
        proc = subprocess.run(argv, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BenchError(f"could not install vpslog: {failure(argv, proc)}")
    site = run_checked([str(python), "-c", "import vpslog, os; print(os.path.dirname(vpslog.__file__))"],
                       timeout=RUN_TIMEOUT_S).strip()
    run_checked([str(python), "-m", "compileall", "-q", site], timeout=RUN_TIMEOUT_S)
    return str(venv / "bin" / "vpslog")


def prepare_baseline(vpslog_exe: str) -> Bench:
    """`python -c pass` with vpslog's interpreter (else this one)."""
    python = Path(vpslog_exe).parent / "python"
    bench = Bench("python -c pass", [str(python) if python.is_file() else sys.executable, "-c", "pass"])
    run_checked(bench.argv, timeout=RUN_TIMEOUT_S)  # warm-up
    return bench


def prepare_sqlite(tmp: Path) -> Bench | None:
    """The sqlite3 shell writing a session row into a copy of the vpslog store.

    Call after prepare_vpslog: the copy (made with SQLite's backup API, so it
    is consistent and keeps WAL mode) has the same schema, site, specialist
    and participant, and vpslog's own store is left alone.
    """
    exe = shutil.which("sqlite3")
    if exe is None:
        print("note: skipping sqlite3 insert: no `sqlite3` shell on PATH")
        return None
    db = tmp / "sqlite-ref.db"
    source = sqlite3.connect(vpslog_store(tmp))
    target = sqlite3.connect(db)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    argv = [exe, "-bail", "-cmd", "PRAGMA foreign_keys=ON", str(db), SQLITE_INSERT]
    return try_warm_up(Bench("sqlite3 insert", argv))


def prepare_floor(vpslog_exe: str, tmp: Path) -> Bench | None:
    """The typer+pydantic floor app, run with the interpreter next to vpslog."""
    python = Path(vpslog_exe).parent / "python"
    if not python.is_file():
        print(f"note: skipping typer+pydantic floor: no python next to {vpslog_exe}")
        return None
    app = tmp / "typer_floor.py"
    app.write_text(FLOOR_APP, encoding="utf-8")
    return try_warm_up(Bench("typer+pydantic floor", [str(python), str(app), *VPSLOG_LOG]))


def ensure_venv(cache: Path, package: str) -> tuple[Path, str] | None:
    """The virtualenv with `package` under `cache` (created if needed) and its version."""
    venv = cache / package
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"setting up {venv} (first run only) ...", flush=True)
        for argv in ([sys.executable, "-m", "venv", str(venv)],
                     [str(python), "-m", "pip", "install", "--quiet", package]):
            proc = subprocess.run(argv, capture_output=True, text=True)
            if proc.returncode != 0:
                shutil.rmtree(venv, ignore_errors=True)
                print(f"note: skipping {package}: could not install it: {failure(argv, proc)}")
                return None
    proc = run([str(python), "-c",
                f"from importlib.metadata import version; print(version({package!r}))"], timeout=RUN_TIMEOUT_S)
    if proc.returncode != 0:
        print(f"note: skipping {package}: its virtualenv {venv} is broken "
              f"(delete it to rebuild): {proc.stderr.strip()}")
        return None
    return venv, proc.stdout.strip()


def prepare_jrnl(cache: Path, tmp: Path) -> Bench | None:
    installed = ensure_venv(cache, "jrnl")
    if installed is None:
        return None
    venv, version = installed
    env = isolated_env(tmp / "jrnl-home")
    journal = tmp / "jrnl-home" / "journal.txt"
    journal.touch()
    config_dir = tmp / "jrnl-home" / ".config" / "jrnl"
    config_dir.mkdir(parents=True)
    # jrnl asks set-up questions when it has no config file; this one has the
    # keys of jrnl.config.get_default_config, with an unencrypted journal.
    (config_dir / "jrnl.yaml").write_text(
        f"version: '{version}'\n"
        "journals:\n"
        f"  default:\n    journal: {journal}\n"
        "editor: ''\n"
        "encrypt: false\n"
        "template: false\n"
        "default_hour: 9\n"
        "default_minute: 0\n"
        "timeformat: '%F %r'\n"
        "tagsymbols: '#@'\n"
        "highlight: false\n"
        "linewrap: 79\n"
        "indent_character: '|'\n"
        "colors:\n  body: none\n  date: none\n  tags: none\n  title: none\n",
        encoding="utf-8",
    )
    bench = Bench(f"jrnl {version} one-line entry",
                  [str(venv / "bin" / "jrnl"), "bench note @career."], env=env)
    return try_warm_up(bench)


def prepare_watson(cache: Path, tmp: Path) -> Bench | None:
    installed = ensure_venv(cache, "td-watson")
    if installed is None:
        return None
    venv, version = installed
    home = tmp / "watson-home"
    env = isolated_env(home, WATSON_DIR=str(home / "watson"))
    bench = Bench(f"watson add (td-watson {version})",
                  [str(venv / "bin" / "watson"), "add", "-f", "10:00", "-t", "11:00",
                   "project", "+tag"], env=env)
    return try_warm_up(bench)


def ratio_line(name: str, vpslog: Bench, ref: Bench | None, aim: float | None) -> str:
    if ref is None:
        return f"  {vpslog.label} / {name:<20} n/a (reference skipped)"
    line = f"  {vpslog.label} / {name:<20} {benchlib.versus(vpslog, ref, gap='   ', diff='+7.1f', unit='ms')}"
    if aim is not None:
        line += f"   aim < {aim:.1f}x: {verdict(vpslog.median / ref.median < aim)}"
    return line


def report(baseline: Bench, sqlite_ref: Bench | None, floor: Bench | None, jrnl: Bench | None,
           watson: Bench | None, quick: Bench, full: Bench, encrypted: Bench | None, runs: int) -> None:
    benches = [b for b in (baseline, sqlite_ref, floor, jrnl, watson, quick, full, encrypted) if b is not None]
    print(f"\nWall time of the whole process, {runs} runs each (ms):\n")
    benchlib.print_table(benches, [Column("median", 8, ".1f", lambda b: b.median),
                                   Column("min", 8, ".1f", lambda b: b.best),
                                   Column("x python -c pass", 16, ".2f", lambda b: b.median / baseline.median)])
    for vpslog in (quick, full):
        print()
        print(ratio_line("Watson", vpslog, watson, WATSON_AIM_RATIO if vpslog is quick else None))
        print(ratio_line("jrnl", vpslog, jrnl, None))
        print(ratio_line("sqlite3 insert", vpslog, sqlite_ref, None))
        print(ratio_line("typer+pydantic floor", vpslog, floor, None))
    print(f"\n  quick entry / typer path  {benchlib.versus(quick, full, gap='   ', diff='+7.1f', unit='ms')}")
    if encrypted is None:
        print("  encrypted store: not measured (see above)")
    else:
        print(f"  encrypted / plain store   {benchlib.versus(encrypted, quick, gap='   ', diff='+7.1f', unit='ms')}"
              f"   aim < {ENCRYPTED_AIM_RATIO}x: {verdict(encrypted.median / quick.median < ENCRYPTED_AIM_RATIO)}")
    print(f"\nAim: {AIM}.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15,
                        help="timed runs of each command (at least 10; default 15)")
    benchlib.add_tool_options(parser, sqlite3=False)
    parser.add_argument("--cache-dir", type=Path,
                        default=Path.home() / ".cache" / "vpslog-bench",
                        help="where the vpslog, jrnl and Watson virtualenvs live "
                             "(default: ~/.cache/vpslog-bench)")
    args = parser.parse_args()
    if args.runs < 10:
        parser.error("--runs must be at least 10")

    print(benchlib.machine_info())
    vpslog_exe = benchlib.find_vpslog(args.vpslog) if args.vpslog else install_vpslog(args.cache_dir)
    print(f"vpslog: {vpslog_exe}")
    with tempfile.TemporaryDirectory(prefix="vpslog-bench-") as tmp_name:
        tmp = Path(tmp_name)
        quick, full = prepare_vpslog(vpslog_exe, tmp)
        baseline = prepare_baseline(vpslog_exe)
        sqlite_ref = prepare_sqlite(tmp)
        floor = prepare_floor(vpslog_exe, tmp)
        jrnl = prepare_jrnl(args.cache_dir, tmp)
        watson = prepare_watson(args.cache_dir, tmp)
        encrypted = prepare_encrypted(vpslog_exe, tmp)
        benches = [b for b in (baseline, sqlite_ref, floor, jrnl, watson, quick, full, encrypted) if b is not None]
        print(f"timing {len(benches)} commands x {args.runs} runs ...", flush=True)
        for _ in range(args.runs):  # interleaved, so drift hits all commands alike
            for bench in benches:
                time_once(bench)
    report(baseline, sqlite_ref, floor, jrnl, watson, quick, full, encrypted, args.runs)


if __name__ == "__main__":
    main()
