"""Benchmark: how fast are `vpslog export sessions` and `vpslog import sessions` on a big store, in how much memory?

Builds a synthetic store (default 1,000,000 sessions of 10,000 participants
and 300 specialists over two years) and times two whole vpslog processes
against the sqlite3 command-line shell doing the bare job, in the same run on
the same machine:

* export: `vpslog --db STORE export sessions --out DIR` (SQL-built CSV lines
  with quoting and spreadsheet formula neutralization, the sha256 of the file,
  the Data Package descriptor, codebook and manifest, an audit entry) against
  `sqlite3 -csv -header STORE "SELECT * FROM session" > FILE`;
* import: `vpslog --db FRESH import sessions sessions.csv` of the exported file
  into a fresh store (made with `vpslog init`, then given the same sites,
  specialists and participants with `vpslog import`, untimed), which validates
  every row (the validator compiled from the Session model, the model itself for
  a row it refuses), checks the references and dates, inserts all or nothing and
  writes one audit entry per row, against the sqlite3 shell's `.import` of the
  same sessions into the real `session` table of a fresh store made like
  vpslog's (same schema, CHECK constraints, three indexes, WAL mode,
  `PRAGMA foreign_keys=ON`), from the sqlite3 shell's own export (18 columns,
  no formula guard to undo): the database work any import into this schema
  pays, however fast its validation.

For scale only (no aim), the import is also set against the sqlite3 shell's
`.import --csv --skip 1 FILE session_bare` into a bare table with the CSV's
column names and no constraints, in a fresh database made untimed.

The bench checks the exported CSV has sessions + 1 records (counted with the
csv module, since some notes span lines), that each import inserted every
session, and (once, after the warm-up) that the imported rows equal the
original ones column for column, so the quoting and the formula guard round-trip.

The store: `vpslog --db PATH init` (config folder in the bench folder), then a
bulk fill with plain sqlite3 `executemany` in one transaction, foreign keys on,
so every row passes the tables' CHECK and FOREIGN KEY constraints. The data are
synthetic and seeded: ids of 32 lower-case hex digits, ISO dates, sessions on
or after enrollment, not after an exit and not after the last day (yesterday's
date at the time of writing, LAST_DAY), codes from schemas/curriculum.toml and
schemas/participants.toml, `;`-joined lists. About 1% of sessions carry a
location or note that needs CSV quoting (a comma, a double quote, a line break)
or formula neutralization (starting with = + - @). The build time is reported
separately.

Memory: each timed command runs as its own child process under GNU time
(`/usr/bin/time -f %M`, the child's peak resident set size). Without GNU time,
a small fresh Python child runs the command and reports
`resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`.

Aims (issue 11): export within 1.5x of the sqlite3 shell (formula guard on),
import within 1.5x of `.import` into the real table, each under 150 MB peak RSS.

Run from the repository root, with `vpslog` installed (standard library only):

    python bench/export_import.py [--sessions 1000000] [--participants 10000]
        [--specialists 300] [--days 730] [--runs 3] [--keep DIR] [--profile FILE]

`--sessions 100000` gives a quick check. `--keep DIR` builds the store in DIR
and reuses it on later runs with the same sizes and seed. Each command gets one
untimed warm-up run (which also fills the page cache and is the run that is
checked), then the timed runs, interleaved; the tables give the median and the
minimum wall time. `--profile FILE` adds one untimed import under cProfile
(`python -m cProfile -o FILE -m vpslog ...`) and prints its top entries.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shlex
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import benchlib
from benchlib import (LAST_DAY, MEDIAN_S, MIN_S, PEAK_RSS, PARTICIPANT_COLUMNS, SESSION_COLUMNS, SESSION_MINUTES,
                      VOID_REASON, Bench, BenchError, Column, Sizes, Vocabulary, hex_id, positive, remove_store,
                      run_checked, run_once, stamp, verdict)

BenchError.name = "export_import bench"
AIM_RATIO = 1.5
AIM_RSS_MB = 150.0
AIM = (f"export within {AIM_RATIO}x of the sqlite3 shell and import within {AIM_RATIO}x of its `.import` into the real "
       f"session table, each under {AIM_RSS_MB:.0f} MB peak RSS")
# Cells a spreadsheet would run as a formula, or that need CSV quoting (~1% of sessions).
TRICKY_LOCATIONS = ("=A1", "room 2, floor 3", "+1 555 0100 (by the phone)", "@library", "-1 basement",
                    'the "blue" cafe')
TRICKY_NOTES = ('said "fine", then left early', "=SUM(A1:A9)", "first line\nsecond line",
                'comma, and a "quote"', "-5 min late, rescheduled", "+ new goal: resume", "@employer visit",
                "line one\r\nline two, done")


# -- the synthetic program ---------------------------------------------------------


@dataclass
class Person:
    id: str
    site: str
    specialist: str
    enrolled: date
    last: date  # the exit date, else LAST_DAY


def build_people(rng: random.Random, sizes: Sizes, by_site: dict[str, list[str]], vocab: Vocabulary):
    """The participant rows and each participant's span of contact."""
    sites = sorted(by_site)
    width = max(4, len(str(sizes.participants)))
    people, rows = [], []
    for n in range(1, sizes.participants + 1):
        pid, site = f"P-{n:0{width}d}", sites[n % len(sites)]
        enrolled = sizes.first_day + timedelta(days=int((sizes.days - 30) * rng.random() ** 1.3))
        exited = None
        if rng.random() < 0.15:
            out = enrolled + timedelta(days=rng.randint(60, 500))
            exited = out if out <= LAST_DAY else None
        age = rng.randint(19, 64) if rng.random() < 0.8 else None
        people.append(Person(pid, site, rng.choice(by_site[site]), enrolled, exited or LAST_DAY))
        arm = "vps" if rng.random() < 0.8 else "control"
        rows.append(benchlib.participant_row(rng, vocab, pid, site, enrolled, arm, enrolled, exited, age))
    return people, rows


def allocate(rng: random.Random, people: list[Person], total: int) -> list[int]:
    """Session counts in proportion to each span (times some spread), summing exactly to `total`."""
    weights = [((p.last - p.enrolled).days + 1) * rng.lognormvariate(0, 0.5) for p in people]
    scale = total / sum(weights)
    return benchlib.apportion([w * scale for w in weights], total)


def session_rows(rng: random.Random, people: list[Person], counts: list[int], by_site: dict[str, list[str]],
                 vocab: Vocabulary):
    """Every session row, participant by participant, in date order (a generator)."""
    pool = random.Random(rng.getrandbits(64))
    components = [";".join(pool.sample(vocab.components, pool.randint(1, 3))) for _ in range(4096)]
    supports = [";".join(pool.sample(vocab.supports, pool.randint(1, 2))) for _ in range(256)]
    random_ = rng.random
    for person, count in zip(people, counts):
        colleagues = by_site[person.site]
        start, span = person.enrolled.toordinal(), (person.last - person.enrolled).days
        for ordinal in sorted(start + int(random_() * (span + 1)) for _ in range(count)):
            day = date.fromordinal(ordinal)
            kind = benchlib.session_type(random_())
            specialist = person.specialist if random_() < 0.95 else colleagues[int(random_() * len(colleagues))]
            entered = min(day + timedelta(days=(0, 0, 0, 1, 1, 3)[int(random_() * 6)]), LAST_DAY)
            voided = int(random_() < 0.005)
            location = note = None
            roll = random_()
            if roll < 0.005:
                location = TRICKY_LOCATIONS[int(random_() * len(TRICKY_LOCATIONS))]
            elif roll < 0.01:
                note = TRICKY_NOTES[int(random_() * len(TRICKY_NOTES))]
            elif roll < 0.06:
                note = "bench note"
            elif roll < 0.10:
                location = "office"
            clock = (f"{9 + int(random_() * 8):02d}:{(0, 15, 30, 45)[int(random_() * 4)]:02d}:00"
                     if random_() < 0.5 else None)
            yield (hex_id(rng), person.id, specialist, day.isoformat(), clock, SESSION_MINUTES[int(random_() * 7)],
                   kind, vocab.modes[int(random_() * len(vocab.modes))], location,
                   "" if kind == "no-show" else components[int(random_() * 4096)],
                   "" if kind == "no-show" else supports[int(random_() * 256)],
                   None if kind == "no-show" else vocab.phases[int(random_() * len(vocab.phases))],
                   0, note, stamp(entered, 17, int(random_() * 60)), specialist, voided,
                   VOID_REASON if voided else None)


def build_store(vpslog_exe: str, db: Path, env: dict[str, str], sizes: Sizes) -> dict:
    """`vpslog init`, then the bulk fill in one transaction; the row counts."""
    vocab = Vocabulary()
    rng = random.Random(sizes.seed)
    sites, specialists, by_site = benchlib.build_staff(
        sizes, lambda n: (sizes.first_day - timedelta(days=30 + n % 60)).isoformat())
    people, participants = build_people(rng, sizes, by_site, vocab)
    counts = allocate(rng, people, sizes.sessions)
    found = benchlib.fill_store(vpslog_exe, db, env, sizes.sessions, [
        ("site", benchlib.SITE_COLUMNS, sites),
        ("specialist", benchlib.SPECIALIST_COLUMNS, specialists),
        ("participant", PARTICIPANT_COLUMNS, participants),
        ("session", SESSION_COLUMNS, session_rows(random.Random(sizes.seed + 1), people, counts, by_site, vocab)),
    ])
    conn = sqlite3.connect(db)
    try:
        found["tricky"] = conn.execute(
            f"SELECT count(*) FROM session WHERE location IN ({', '.join('?' * len(TRICKY_LOCATIONS))}) "
            f"OR note IN ({', '.join('?' * len(TRICKY_NOTES))})", (*TRICKY_LOCATIONS, *TRICKY_NOTES)).fetchone()[0]
    finally:
        conn.close()
    return found


# -- checks ----------------------------------------------------------------------------


def csv_records(path: Path) -> int:
    """Records (header included) as the csv module reads them: a quoted line break stays inside its cell."""
    with open(path, encoding="utf-8", newline="") as file:
        return sum(1 for _ in csv.reader(file, strict=True))


def csv_header(path: Path) -> list[str]:
    with open(path, encoding="utf-8", newline="") as file:
        return next(csv.reader(file))


def count_rows(db: Path, table: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
    finally:
        conn.close()


def same_rows(imported: Path, original: Path) -> tuple[int, int]:
    """(rows of `imported` equal to the original row with the same id in every column, tricky ones among them)."""
    conn = sqlite3.connect(imported)
    try:
        conn.execute("ATTACH DATABASE ? AS o", (str(original),))
        equal = " AND ".join(f'n."{c}" IS o_s."{c}"' for c in SESSION_COLUMNS)
        tricky = (f"o_s.location IN ({', '.join('?' * len(TRICKY_LOCATIONS))}) "
                  f"OR o_s.note IN ({', '.join('?' * len(TRICKY_NOTES))})")
        return conn.execute(
            f"SELECT count(*), coalesce(sum({tricky}), 0) FROM session n JOIN o.session o_s ON o_s.id = n.id "
            f"WHERE {equal}", (*TRICKY_LOCATIONS, *TRICKY_NOTES)).fetchone()
    finally:
        conn.close()


# -- the import stores -------------------------------------------------------------------


class ImportStores:
    """A fresh store per import run: `vpslog init` and the base tables imported (untimed)."""

    def __init__(self, vpslog_exe: str, env: dict[str, str], base: Path, folder: Path):
        self.vpslog, self.env, self.base, self.folder = vpslog_exe, env, base, folder
        self.path = folder / "import-target.db"
        self.bare = folder / "import-bare.db"
        self.real = folder / "import-real.db"

    def fresh(self, path: Path | None = None) -> Path:
        path = path or self.path
        remove_store(path)
        run_checked([self.vpslog, "--db", str(path), "init"], self.env)
        for table in ("sites", "specialists", "participants"):
            run_checked([self.vpslog, "--db", str(path), "import", table, str(self.base / f"{table}.csv")],
                        self.env)
        return path

    def fresh_bare(self, header: list[str]) -> Path:
        remove_store(self.bare)
        conn = sqlite3.connect(self.bare)
        try:
            conn.execute(f"CREATE TABLE session_bare({', '.join(chr(34) + c + chr(34) for c in header)})")
            conn.commit()
        finally:
            conn.close()
        return self.bare


# -- report ----------------------------------------------------------------------------


def report(sizes: Sizes, build: tuple[float | None, dict], files: dict[str, int], benches: list[Bench],
           pairs: list[tuple[str, Bench, Bench]], scale: tuple[Bench, Bench], runs: int) -> None:
    elapsed, counts = build
    print("\nBuild (not part of the comparison):")
    print(f"  {'reused (--keep)' if elapsed is None else f'{elapsed:.1f} s'}: {counts['session']:,} sessions "
          f"({counts['tricky']:,} with a cell that needs quoting or neutralization), {counts['participant']:,} "
          f"participants, {counts['specialist']} specialists, {counts['site']} sites")
    print("Files: " + ", ".join(f"{name} {size / 2**20:.1f} MiB" for name, size in files.items()))
    print(f"\nWall time of the whole process ({runs} runs each), throughput and peak RSS:\n")
    benchlib.print_table(benches, [MEDIAN_S, MIN_S, Column("rows/s", 9, ",.0f", lambda b: sizes.sessions / b.median),
                                   PEAK_RSS])
    print("\nRatios and aims (peak RSS in MiB of 2^20 bytes):")
    for what, vps, ref in pairs:
        print(f"  {what}: vpslog / sqlite3 shell {benchlib.versus(vps, ref)}; "
              f"aim within {AIM_RATIO}x: {verdict(vps.median / ref.median <= AIM_RATIO)}")
        print(f"  {what}: vpslog peak RSS {vps.peak_mb:.1f} MiB (sqlite3 shell {ref.peak_mb:.1f} MiB); "
              f"aim under {AIM_RSS_MB:.0f} MiB: {verdict(vps.peak_mb < AIM_RSS_MB)}")
    vps, bare = scale
    print(f"  for scale: vpslog import / sqlite3 .import into a bare table {benchlib.versus(vps, bare)}")
    print(f"\nAims: {AIM}.")


def profile_import(vpslog_exe: str, stores: ImportStores, csv_file: Path, target: Path, expected: int,
                   env: dict[str, str]) -> None:
    """One more import, untimed, under cProfile; print the top entries by cumulative time."""
    import pstats

    python = Path(vpslog_exe).parent / "python"
    db = stores.fresh()
    argv = [str(python), "-m", "cProfile", "-o", str(target), "-m", "vpslog", "--db", str(db), "import", "sessions",
            str(csv_file)]
    print(f"\nprofiling one import: {shlex.join(argv)}", flush=True)
    start = time.perf_counter()
    run_checked(argv, env)
    print(f"  took {time.perf_counter() - start:.1f} s under the profiler", flush=True)
    if count_rows(db, "session") != expected:
        raise BenchError(f"the profiled import left {count_rows(db, 'session')} sessions, not {expected}")
    remove_store(db)
    stats = pstats.Stats(str(target))
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=positive, default=1_000_000, help="sessions in the store (default 1000000)")
    benchlib.add_size_options(parser)
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="build the store in DIR and reuse it on later runs (default: a temporary dir)")
    parser.add_argument("--profile", type=Path, metavar="FILE",
                        help="after timing, profile one import with cProfile into FILE and print the top entries")
    benchlib.add_tool_options(parser)
    args = parser.parse_args()
    if args.days < 90:
        parser.error("--days must be at least 90")
    if date.today() <= LAST_DAY:
        raise BenchError(f"the data end on {LAST_DAY}; vpslog refuses sessions in the future, so run it after that day")
    sqlite_exe = benchlib.find_sqlite3(args.sqlite3)
    vpslog_exe = benchlib.find_vpslog(args.vpslog)
    sizes = Sizes(args.sessions, args.participants, args.specialists, args.days, args.seed)

    benchlib.print_store_header(sqlite_exe, Path(vpslog_exe).parent / "python")
    with tempfile.TemporaryDirectory(prefix="vpslog-export-import-") as tmp_name:
        tmp = Path(tmp_name)
        folder = args.keep or tmp
        env = benchlib.store_env(folder)
        db, built, counts = benchlib.prepare_store(build_store, "export-import-v2",  # v2: no-shows without content
                                                   vpslog_exe, folder, env, sizes)

        # the files the imports read: an export of the base tables and of the sessions (untimed)
        base = tmp / "base"
        run_checked([vpslog_exe, "--db", str(db), "export", "sites", "specialists", "participants", "--out",
                     str(base)], env)
        source = tmp / "source"
        run_checked([vpslog_exe, "--db", str(db), "export", "sessions", "--out", str(source)], env)
        sessions_csv = source / "sessions.csv"
        header = csv_header(sessions_csv)
        stores = ImportStores(vpslog_exe, env, base, tmp)

        vps_export = Bench("vpslog export sessions", [vpslog_exe, "--db", str(db), "export", "sessions", "--out",
                                                      str(tmp / "export")], tmp / "vpslog-export.out", env)
        ref_export = Bench("sqlite3 -csv SELECT * FROM session",
                           [sqlite_exe, "-csv", "-header", str(db), "SELECT * FROM session"], tmp / "sqlite3.csv")
        vps_import = Bench("vpslog import sessions", [vpslog_exe, "--db", str(stores.path), "import", "sessions",
                                                      str(sessions_csv)], tmp / "vpslog-import.out", env)
        ref_import = Bench("sqlite3 .import (bare table)",
                           [sqlite_exe, str(stores.bare), f".import --csv --skip 1 {sessions_csv} session_bare"],
                           tmp / "sqlite3-import.out")
        sessions_18 = tmp / "sessions-sqlite3.csv"  # the sqlite3 shell's export, copied after the warm-up
        real_import = Bench("sqlite3 .import (real session table)",
                            [sqlite_exe, "-bail", "-cmd", "PRAGMA foreign_keys=ON", str(stores.real),
                             f".import --csv --skip 1 {sessions_18} session"], tmp / "sqlite3-import-real.out")
        for bench in (vps_export, ref_export, vps_import, ref_import, real_import):
            print(f"{bench.label}: {shlex.join(bench.argv)} > {bench.output}")
        print("vpslog import target: a fresh store per run, made untimed with `vpslog init` and "
              "`vpslog import sites|specialists|participants` of an export of the big store")
        print(f"sqlite3 .import target: a fresh database per run, made untimed with "
              f"CREATE TABLE session_bare({', '.join(header)})")
        print(f"sqlite3 .import (real session table) target: a fresh store per run, made like vpslog's; "
              f"{sessions_18} is a copy of the sqlite3 shell's export", flush=True)

        def export_check() -> None:
            records = csv_records(tmp / "export" / "sessions.csv")
            if records != sizes.sessions + 1:
                raise BenchError(f"vpslog's sessions.csv has {records:,} CSV records, not {sizes.sessions + 1:,}")
            manifest = json.loads((tmp / "export" / "manifest.json").read_text())
            if manifest["rows"]["sessions"] != sizes.sessions:
                raise BenchError(f"vpslog's manifest counts {manifest['rows']['sessions']:,} sessions")

        def import_check(label: str, target: Path, table: str) -> None:
            found = count_rows(target, table)
            if found != sizes.sessions:
                raise BenchError(f"{label} left {found:,} rows in {table}, not {sizes.sessions:,}")

        print("\nwarm-up and checks ...", flush=True)
        run_once(vps_export, timed=False)
        export_check()
        run_once(ref_export, timed=False)
        ref_records = csv_records(ref_export.output)
        print(f"  vpslog sessions.csv: {sizes.sessions + 1:,} CSV records (header included), as expected; "
              f"sqlite3's CSV: {ref_records:,}", flush=True)
        stores.fresh()
        run_once(vps_import, timed=False)
        import_check("vpslog import", stores.path, "session")
        equal, tricky = same_rows(stores.path, db)
        if equal != sizes.sessions or tricky != counts["tricky"]:
            raise BenchError(f"after export and import, {equal:,} of {sizes.sessions:,} sessions equal the original "
                             f"in every column ({tricky:,} of the {counts['tricky']:,} with tricky text)")
        print(f"  vpslog import: {equal:,} sessions inserted, each equal to the original in every column "
              f"(including the {tricky:,} with cells that needed quoting or neutralization)", flush=True)
        stores.fresh_bare(header)
        run_once(ref_import, timed=False)
        import_check("sqlite3 .import", stores.bare, "session_bare")
        shutil.copyfile(ref_export.output, sessions_18)
        stores.fresh(stores.real)
        run_once(real_import, timed=False)
        import_check("sqlite3 .import (real table)", stores.real, "session")
        files = {"store": db.stat().st_size, "vpslog sessions.csv": sessions_csv.stat().st_size,
                 "sqlite3 CSV": ref_export.output.stat().st_size}

        print(f"\ntiming 5 commands x {args.runs} runs (interleaved) ...", flush=True)
        for run in range(args.runs):  # interleaved, so drift hits all commands alike
            run_once(vps_export, timed=True)
            export_check()
            run_once(ref_export, timed=True)
            stores.fresh()
            run_once(vps_import, timed=True)
            import_check("vpslog import", stores.path, "session")
            stores.fresh_bare(header)
            run_once(ref_import, timed=True)
            import_check("sqlite3 .import", stores.bare, "session_bare")
            stores.fresh(stores.real)
            run_once(real_import, timed=True)
            import_check("sqlite3 .import (real table)", stores.real, "session")
            print(f"  round {run + 1}: " + ", ".join(
                f"{b.label} {b.times[-1]:.2f} s / {b.rss_kb[-1] / 1024:.0f} MiB"
                for b in (vps_export, ref_export, vps_import, ref_import, real_import)), flush=True)
        for db_file in (stores.path, stores.bare, stores.real):
            remove_store(db_file)
        benches = [vps_export, ref_export, vps_import, ref_import, real_import]
        report(sizes, (built, counts), files, benches,
               [("export", vps_export, ref_export), ("import", vps_import, real_import)],
               (vps_import, ref_import), args.runs)
        if args.profile:
            profile_import(vpslog_exe, stores, sessions_csv, args.profile, sizes.sessions, env)


if __name__ == "__main__":
    main()
