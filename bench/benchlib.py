"""Helpers shared by the benchmarks in bench/ (standard library only).

The scripts stay standalone (`python bench/NAME.py` puts bench/ on sys.path,
so they `import benchlib`); what they have in common lives here once, so a fix
to how a child is timed, how vpslog is found or how a store is filled reaches
every bench.

Three parts: finding the tools and running children (all benches), timing and
reporting them, and the synthetic store the two store benches (fidelity.py and
export_import.py) build and reuse.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"
GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
# Without GNU time, this small fresh child runs the command and reports its peak: a child forked
# from the (big) bench process would count the bench's own RSS at the fork in its ru_maxrss.
RSS_HELPER = """\
import resource, subprocess, sys
code = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as out:
    out.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(code)
"""
RSS_METHOD = ("GNU time (/usr/bin/time -f %M) around each child" if GNU_TIME else
              "ru_maxrss of RUSAGE_CHILDREN, reported by a fresh small Python child per run")

# The synthetic store (fidelity.py and export_import.py): its data end on LAST_DAY.
LAST_DAY = date(2026, 11, 26)
SPECIALISTS_PER_SITE = 30
DATA_VERSION = 3  # bump when a generator or the store schema changes, so --keep rebuilds the stores
EXIT_REASONS = ("moved away", "withdrew", "lost contact", "reached goal")
VOID_REASON = "entered in error"
SESSION_MINUTES = (15, 30, 45, 45, 60, 60, 90)
SESSION_COLUMNS = ("id", "participant_id", "specialist_id", "date", "start_time", "minutes", "type", "mode",
                   "location", "components", "supports", "phase", "clinical", "note", "entered_at", "entered_by",
                   "voided", "void_reason")
PARTICIPANT_COLUMNS = ("id", "site_id", "enrolled_on", "arm", "consent_on", "status", "exited_on", "exit_reason",
                       "age", "birth_year", "gender", "race", "residence", "marital", "education", "working",
                       "ssdi_ssi", "psych_meds")
SITE_COLUMNS = ("id", "name")
SPECIALIST_COLUMNS = ("id", "site_id", "name", "trained_on", "active")


class BenchError(SystemExit):
    """Abort the benchmark with a message (exit status 1).

    The message starts with `name`, which each script sets to its own, so the
    helpers here fail under the name of the bench that called them.
    """

    name = "bench"

    def __init__(self, message: str) -> None:
        super().__init__(f"{self.name}: {message}")


# -- finding the tools, command-line options ------------------------------------------


def find_vpslog(explicit: str | None) -> str:
    """The vpslog to measure: `--vpslog`, else the one installed with this Python, else on PATH."""
    if explicit:
        if not Path(explicit).is_file():
            raise BenchError(f"--vpslog {explicit}: no such file")
        return explicit
    beside = Path(sys.executable).parent / "vpslog"
    if beside.is_file():
        return str(beside)
    on_path = shutil.which("vpslog")
    if on_path is None:
        raise BenchError("vpslog not found next to the interpreter nor on PATH; "
                         "install the package (pip install -e .) or pass --vpslog PATH")
    return on_path


def find_sqlite3(explicit: str) -> str:
    """The sqlite3 shell of the references: `--sqlite3` if it exists, else the one on PATH."""
    found = explicit if Path(explicit).is_file() else shutil.which("sqlite3")
    if found is None:
        raise BenchError("no sqlite3 shell: install it (apt-get install sqlite3) or pass --sqlite3 PATH")
    return found


def positive(text: str) -> int:
    """argparse type for the sizes and run counts, which make no sense below 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_size_options(parser: argparse.ArgumentParser) -> None:
    """--participants, --specialists, --days, --runs, --seed: the same in both store benches."""
    parser.add_argument("--participants", type=positive, default=10_000, help="default 10000")
    parser.add_argument("--specialists", type=positive, default=300, help="default 300")
    parser.add_argument("--days", type=int, default=730, help=f"days of records, ending {LAST_DAY} (default 730)")
    parser.add_argument("--runs", type=positive, default=3, help="timed runs of each command (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the synthetic data (default 1)")


def add_tool_options(parser: argparse.ArgumentParser, *, sqlite3: bool = True) -> None:
    """--vpslog (every bench) and --sqlite3 (the store benches), for find_vpslog and find_sqlite3."""
    parser.add_argument("--vpslog", metavar="PATH",
                        help="vpslog executable (default: next to this Python, else on PATH)")
    if sqlite3:
        parser.add_argument("--sqlite3", metavar="PATH", default="/usr/bin/sqlite3",
                            help="sqlite3 shell (default /usr/bin/sqlite3, else on PATH)")


# -- running children ------------------------------------------------------------------


def failure(argv: list[str], proc: subprocess.CompletedProcess[str]) -> str:
    """Why a child failed: its command, exit status and whatever it said."""
    message = f"`{shlex.join(argv)}` exited with status {proc.returncode}"
    for name, text in (("stderr", proc.stderr), ("stdout", proc.stdout)):
        if text.strip():
            message += f"\n--- {name} ---\n{text.strip()}"
    return message


def run(argv: list[str], env: dict[str, str] | None = None,
        timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """Run an untimed child with no stdin (so a prompt fails instead of hanging), output captured."""
    try:
        return subprocess.run(argv, env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"`{shlex.join(argv)}` did not finish in {timeout} s") from None


def run_checked(argv: list[str], env: dict[str, str] | None = None, timeout: float | None = None) -> str:
    """run(), aborting the bench if the child fails; its stdout."""
    proc = run(argv, env, timeout)
    if proc.returncode != 0:
        raise BenchError(failure(argv, proc))
    return proc.stdout


@dataclass
class Bench:
    """One command under test and what its timed runs gave.

    `times` are in the unit the bench reports (ms for quick_entry, s for the
    store benches), so the figures are not converted back and forth.
    """

    label: str
    argv: list[str]
    output: Path | None = None  # the child's stdout, for measure()
    env: dict[str, str] | None = None
    times: list[float] = field(default_factory=list)
    rss_kb: list[int] = field(default_factory=list)
    tree: bool = False  # sample its whole process tree's memory (workers too) in the untimed warm-up run
    tree_pss_kb: list[int] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def best(self) -> float:
        return min(self.times)

    @property
    def peak_mb(self) -> float:
        return max(self.rss_kb) / 1024

    @property
    def tree_peak_mb(self) -> float:
        return max(self.tree_pss_kb) / 1024


def tree_pss_kb(root: int) -> int:
    """The proportional set size (KiB) of a process and all its descendants, from Linux's /proc: the
    memory a command and the workers it forks use together, pages they share counted once. 0 where
    /proc has no smaps_rollup."""
    total, pending = 0, [root]
    while pending:
        pid = pending.pop()
        try:
            with open(f"/proc/{pid}/smaps_rollup") as rollup:
                total += next((int(line.split()[1]) for line in rollup if line.startswith("Pss:")), 0)
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as children:
                    pending.extend(int(child) for child in children.read().split())
        except (OSError, ValueError):  # the process ended meanwhile
            continue
    return total


def measure(argv: list[str], env: dict[str, str] | None, output: Path,
            tree: list[int] | None = None) -> tuple[float, int, int, str]:
    """Run one child with stdout to `output`: (wall seconds, its peak RSS in KiB, exit status, stderr).

    The peak comes from GNU time (`/usr/bin/time -f %M`) when it is there, else
    from RSS_HELPER; both add the same small start-up to every command timed.
    Either gives the largest single process; with `tree`, a thread also samples the
    whole process tree's PSS every 100 ms (reading /proc costs CPU: only in untimed runs)
    and appends its peak to `tree`.
    """
    with open(output, "wb") as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(mode="r", suffix=".rss") as rss:
        if GNU_TIME:
            wrapped = [GNU_TIME, "-o", rss.name, "-f", "%M", *argv]
        else:
            wrapped = [sys.executable, "-c", RSS_HELPER, rss.name, *argv]
        start = time.perf_counter()
        proc = subprocess.Popen(wrapped, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        sampler = None if tree is None else TreeSampler(proc.pid)
        proc.wait()
        elapsed = time.perf_counter() - start
        if sampler is not None:
            tree.append(sampler.stop())
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
        words = rss.read().split()
        peak = int(words[-1]) if words and words[-1].isdigit() else 0
    return elapsed, peak, proc.returncode, stderr


class TreeSampler:
    """Samples tree_pss_kb of a process in a thread until stopped; the peak."""

    def __init__(self, pid: int) -> None:
        import threading

        self.pid, self.peak, self.done = pid, 0, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.wait(0.1):
            self.peak = max(self.peak, tree_pss_kb(self.pid))

    def stop(self) -> int:
        self.done.set()
        self.thread.join()
        return self.peak


def run_once(bench: Bench, *, timed: bool) -> None:
    """measure() `bench` once; abort if it fails, and record the run if it is a timed one."""
    tree: list[int] | None = [] if bench.tree and not timed else None
    elapsed, rss, code, stderr = measure(bench.argv, bench.env, bench.output, tree)
    if code != 0:
        raise BenchError(f"{bench.label}: `{shlex.join(bench.argv)}` exited with status {code}\n{stderr.strip()}")
    bench.tree_pss_kb.extend(tree or ())
    if timed:
        bench.times.append(elapsed)
        bench.rss_kb.append(rss)


# -- reporting ---------------------------------------------------------------------------


def machine_info(sqlite_exe: str | None = None, vpslog_python: Path | None = None) -> str:
    """Interpreter and machine, printed first so that figures from different runs can be told apart.

    The store benches pass their sqlite3 shell: then the SQLite versions and the
    RAM (they measure memory) are given too; with `vpslog_python`, the versions
    of vpslog and its main dependencies in that interpreter.
    """
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    python = f"Python {platform.python_version()} ({platform.python_implementation()}, {sys.executable})"
    machine = f"Machine: {platform.platform()}, {platform.machine()}, nproc={nproc}"
    if sqlite_exe is None:
        return f"{python}\n{machine}"
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            kib = int(handle.readline().split()[1])
        machine += f", {kib / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    shell = subprocess.run([sqlite_exe, "--version"], capture_output=True, text=True).stdout.split()[:1]
    python += (f", sqlite3 module's SQLite {sqlite3.sqlite_version}, "
               f"sqlite3 shell {' '.join(shell) or '?'}")
    versions = ""
    if vpslog_python is not None and vpslog_python.is_file():
        versions = subprocess.run(
            [str(vpslog_python), "-c", "from importlib.metadata import version as v; "
             "print(', '.join(f'{p} {v(p)}' for p in ('vpslog', 'pydantic', 'pydantic-core', 'typer')))"],
            capture_output=True, text=True).stdout.strip()
    return f"{python}\n{machine}" + (f"\nVersions: {versions}" if versions else "")


def note_bytecode(effect: str = "an editable vpslog is compiled on every run "
                                "(tens of ms, small next to this bench)") -> None:
    """Warn that PYTHONDONTWRITEBYTECODE, when set, inflates vpslog's start-up in the figures."""
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print(f"note: PYTHONDONTWRITEBYTECODE is set: {effect}")


def print_store_header(sqlite_exe: str, vpslog_python: Path | None = None) -> None:
    """What the store benches print first: machine_info, how peak RSS is measured, note_bytecode."""
    print(machine_info(sqlite_exe, vpslog_python))
    print(f"peak RSS: {RSS_METHOD}")
    note_bytecode()


class Column(NamedTuple):
    """A column of print_table: its header, width and format spec, and the figure of a Bench."""

    header: str
    width: int
    spec: str
    value: Callable[[Bench], float]


MEDIAN_S = Column("median s", 9, ".2f", lambda b: b.median)
MIN_S = Column("min s", 7, ".2f", lambda b: b.best)
PEAK_RSS = Column("peak RSS MiB", 12, ".1f", lambda b: b.peak_mb)


def print_table(benches: Iterable[Bench], columns: list[Column]) -> None:
    """One line per command, its label padded to the longest, then the columns' figures."""
    benches = list(benches)
    width = max(len(b.label) for b in benches)
    print(f"  {'command':<{width}}" + "".join(f"  {c.header:>{c.width}}" for c in columns))
    for b in benches:
        print(f"  {b.label:<{width}}" + "".join(f"  {c.value(b):{c.width}{c.spec}}" for c in columns))


def versus(bench: Bench, ref: Bench, *, gap: str = " ", diff: str = "+.2f", unit: str = "s") -> str:
    """`bench`'s median as a ratio to `ref`'s and as a difference, e.g. ` 2.31x (+1.20 s)`."""
    return f"{bench.median / ref.median:6.2f}x{gap}({bench.median - ref.median:{diff}} {unit})"


def verdict(ok: bool) -> str:
    """How every aim line ends, so the reports read alike."""
    return "met" if ok else "NOT met"


# -- the synthetic store of the store benches ------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    """What a synthetic store holds; its tag names the store file that --keep reuses."""

    sessions: int
    participants: int
    specialists: int
    days: int
    seed: int

    @property
    def first_day(self) -> date:
        return LAST_DAY - timedelta(days=self.days - 1)

    def tag(self) -> str:
        return (f"s{self.sessions}-p{self.participants}-sp{self.specialists}-d{self.days}-seed{self.seed}"
                f"-v{DATA_VERSION}")


def load_toml(name: str) -> dict:
    return tomllib.loads((SCHEMAS / name).read_text(encoding="utf-8"))


class Vocabulary:
    """The codes of schemas/*.toml the generators draw from, so every row passes vpslog's checks."""

    def __init__(self) -> None:
        curriculum = load_toml("curriculum.toml")
        self.components = [c["code"] for c in curriculum["component"]]
        self.vocational = [c["code"] for c in curriculum["component"] if c["vocational"]]
        self.other = [c["code"] for c in curriculum["component"] if not c["vocational"]]
        self.supports = [c["code"] for c in curriculum["support_type"]]
        self.phases = [c["code"] for c in curriculum["phase"]]
        self.types = [c["code"] for c in curriculum["session_type"]]
        self.modes = [c["code"] for c in curriculum["mode"]]
        self.topics = [c["code"] for c in curriculum["supervision_topic"]]
        for needed in ("individual", "group", "collateral", "no-show"):
            if needed not in self.types:
                raise BenchError(f"schemas/curriculum.toml has no session type {needed!r}")
        self.demographics = load_toml("participants.toml")["demographics"]
        eligibility = SCHEMAS / "eligibility.toml"
        criteria = tomllib.loads(eligibility.read_text(encoding="utf-8"))["criterion"]
        self.passing_answers = json.dumps({c["id"]: c["required"] == "yes" for c in criteria}, sort_keys=True)
        self.eligibility_version = hashlib.sha256(eligibility.read_bytes()).hexdigest()[:16]


def hex_id(rng: random.Random) -> str:
    """A record id as vpslog makes them (32 lower-case hex digits), but seeded."""
    return f"{rng.getrandbits(128):032x}"


def stamp(day: date, hour: int, minute: int) -> str:
    """An entered_at timestamp as vpslog writes them."""
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}:00Z"


def build_staff(sizes: Sizes, trained_on: Callable[[int], str | None]
                ) -> tuple[list[tuple], list[tuple], dict[str, list[str]]]:
    """Site and specialist rows (specialists dealt round the sites), and each site's specialists.

    `trained_on(n)` gives specialist n's training date; it is called in order
    of n, so it may draw from the bench's generator.
    """
    nsites = max(1, round(sizes.specialists / SPECIALISTS_PER_SITE))
    sites = [(f"S{n:02d}", f"Site {n:02d}") for n in range(1, nsites + 1)]
    specialists, by_site = [], {site: [] for site, _ in sites}
    for n in range(1, sizes.specialists + 1):
        sid, site = f"PS{n:03d}", sites[(n - 1) % nsites][0]
        specialists.append((sid, site, f"Specialist {n:03d}", trained_on(n), 1))
        by_site[site].append(sid)
    return sites, specialists, by_site


def participant_row(rng: random.Random, vocab: Vocabulary, pid: str, site: str, enrolled: date, arm: str,
                    consent: date | None, exited: date | None, age: int | None) -> tuple:
    """A participant row (PARTICIPANT_COLUMNS) with the rest of its fields drawn from `rng`."""
    demo = vocab.demographics
    return (
        pid, site, enrolled.isoformat(), arm, consent.isoformat() if consent else None,
        "exited" if exited else "active", exited.isoformat() if exited else None,
        rng.choice(EXIT_REASONS) if exited else None,
        age, None if age is not None else LAST_DAY.year - rng.randint(20, 64),
        rng.choice(demo["gender"]), rng.choice(demo["race"]), rng.choice(demo["residence"]),
        rng.choice(demo["marital"]), rng.choice(demo["education"]),
        int(rng.random() < 0.2), int(rng.random() < 0.6), int(rng.random() < 0.8))


def apportion(shares: list[float], total: int) -> list[int]:
    """Whole session counts from fractional `shares` summing to `total`, by largest remainder."""
    counts = [int(s) for s in shares]
    short = total - sum(counts)
    for index in sorted(range(len(shares)), key=lambda i: counts[i] - shares[i])[:short]:
        counts[index] += 1
    return counts


def session_type(roll: float) -> str:
    """The type of a session for a uniform `roll`: mostly individual, some no-show, collateral and group."""
    return ("no-show" if roll < 0.08 else "collateral" if roll < 0.12 else "group" if roll < 0.15
            else "individual")


def insert(conn: sqlite3.Connection, table: str, columns: tuple[str, ...], rows: Iterable[tuple]) -> None:
    names = ", ".join(f'"{c}"' for c in columns)
    conn.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})', rows)


def fill_store(vpslog_exe: str, db: Path, env: dict[str, str], sessions: int,
               tables: list[tuple[str, tuple[str, ...], Iterable[tuple]]]) -> dict[str, int]:
    """`vpslog init`, then each table's rows in one transaction; the row count of each table.

    Plain sqlite3 `executemany` is the fast bulk path; with foreign keys on,
    every row still passes the tables' CHECK and FOREIGN KEY constraints.
    Sessions are stored in the order a program logs them (by entry time), not
    participant by participant as generated: reads by participant then find
    them spread over the table, as they are in a real store.
    """
    run_checked([vpslog_exe, "--db", str(db), "init"], env)
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        for pragma in ("foreign_keys = ON", "synchronous = OFF", "cache_size = -1000000"):
            conn.execute(f"PRAGMA {pragma}")
        conn.execute("BEGIN IMMEDIATE")
        for table, columns, rows in tables:
            if table != "session":
                insert(conn, table, columns, rows)
                continue
            conn.execute("CREATE TEMP TABLE generated AS SELECT * FROM main.session WHERE 0")
            insert(conn, "generated", columns, rows)
            names = ", ".join(f'"{c}"' for c in columns)
            conn.execute(f"INSERT INTO main.session ({names}) SELECT {names} FROM generated ORDER BY entered_at, date")
            conn.execute("DROP TABLE generated")
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        found = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t, _, _ in tables}
    except sqlite3.Error as exc:
        raise BenchError(f"building {db} failed: {exc}") from None
    finally:
        conn.close()
    if found["session"] != sessions:
        raise BenchError(f"{db}: {found['session']} sessions instead of {sessions}")
    return found


def remove_store(db: Path) -> None:
    """Delete a store with its WAL, shared-memory and journal files."""
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), Path(f"{db}-journal")):
        path.unlink(missing_ok=True)


def prepare_store(build: Callable[[str, Path, dict[str, str], Sizes], dict], prefix: str, vpslog_exe: str,
                  folder: Path, env: dict[str, str], sizes: Sizes) -> tuple[Path, float | None, dict]:
    """The store `build` makes for `sizes` in `folder`: reused when a finished one is there, else built and timed.

    A `.done.json` beside the store (its row counts) marks it finished, so an
    interrupted build is never reused.
    """
    db = folder / f"{prefix}-{sizes.tag()}.db"
    done = db.with_suffix(".done.json")
    if db.exists() and done.exists():
        counts = json.loads(done.read_text())
        print(f"reusing {db} ({counts['session']:,} sessions)", flush=True)
        return db, None, counts
    remove_store(db)
    done.unlink(missing_ok=True)
    print(f"building {db.name}: {sizes.sessions:,} sessions, {sizes.participants:,} participants, "
          f"{sizes.specialists} specialists, {sizes.days} days ...", flush=True)
    start = time.perf_counter()
    counts = build(vpslog_exe, db, env, sizes)
    elapsed = time.perf_counter() - start
    done.write_text(json.dumps(counts))
    print(f"  built in {elapsed:.1f} s: " + ", ".join(f"{n:,} {t}" for t, n in counts.items())
          + f"; {db.stat().st_size / 2**20:.0f} MiB", flush=True)
    return db, elapsed, counts


def store_env(folder: Path) -> dict[str, str]:
    """The environment vpslog runs in on the bench's stores in `folder` (created if needed).

    Its own config folder and this checkout's schemas, and no VPSLOG_DB, so
    the user's vpslog set-up neither changes the figures nor is touched.
    """
    folder.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, VPSLOG_CONFIG_DIR=str(folder / "config"), VPSLOG_SCHEMAS=str(SCHEMAS))
    env.pop("VPSLOG_DB", None)
    return env
