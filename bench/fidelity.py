"""Benchmark: how long does `vpslog fidelity` take on a big store, and in how much memory?

Builds a synthetic store of a large program and times the whole
`vpslog --db PATH fidelity --format json --as-of LAST_DAY` process against a
reference measured in the same run on the same machine and the same store:
the sqlite3 command-line shell computing, with window functions, the two core
aggregates of the report for every participant:

* the best 182-day window: the most individual (non-voided) sessions in 182
  consecutive days, both ends included (rule adequate-dose, `best_window`);
* the longest gap between consecutive contact dates (non-voided sessions of
  the continuity rule's types), counting for a participant still active on the
  as-of date the open gap from the last contact to that date, and for one
  without any contact the days since enrollment (rule continuity,
  `longest_gap`).

The bench checks that the two agree exactly, participant by participant.

The store: created with `vpslog --db PATH init` (config folder in the
temporary directory), then filled by a fast bulk path: plain sqlite3
`executemany` in one transaction into the real tables (site, specialist,
participant, screening, session, supervision), with foreign keys on, so the
rows pass the tables' CHECK and FOREIGN KEY constraints. The data are
synthetic and deterministic (seeded): sites of 30 specialists, rolling
enrollment over the whole period (so some participants enrolled recently and
their dose is pending), arms vps/control (4:1), consent and an eligible
screening per participant (a few consents dated after the first session),
about half of the vps-arm participants exiting after 1 to 18 months, some
participants who drift away without an exit, irregular session spacing with
occasional long breaks, a mix of session types (mostly individual, some
no-show, collateral and group), components from schemas/curriculum.toml,
about 3% of sessions entered late, a few voided or clinical ones, and
individual and group supervision for every specialist. The allocation,
milestone and audit tables are left empty: the audit entries (one per record
in a store written through vpslog) are not read by the fidelity check, so
they are not needed for this bench. The build time is reported separately
and is not part of the comparison.

Memory: each timed command runs as its own child process, under GNU time
(`/usr/bin/time -f %M`) when present, which reports the child's peak resident
set size (else `os.wait4`'s ru_maxrss, which also counts this bench's own RSS
at the fork, so it is then only an upper bound). To
show whether memory grows with the number of sessions, vpslog fidelity is also
run on a second store with the same participants, specialists and days but a
quarter of the sessions (`--small-sessions`).

Aims: the whole report under 10 s; within 3x of the sqlite3 shell's time for
the two aggregates; memory that does not grow with the number of sessions.

Run from the repository root, with `vpslog` installed (standard library only):

    python bench/fidelity.py [--sessions 1000000] [--participants 10000]
        [--specialists 300] [--days 730] [--runs 3] [--keep DIR]

`--sessions 100000` gives a quick check. `--keep DIR` builds the stores in DIR
and reuses them on later runs with the same sizes and seed. Each command gets
one untimed warm-up run (which also fills the page cache), then the timed
runs, interleaved; the table gives the median and minimum wall time.
"""

from __future__ import annotations

import argparse
import csv
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
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"
AIM = ("whole report under 10 s; within 3x of the sqlite3 shell's time for the two aggregates; "
       "memory that does not grow with the number of sessions")
AIM_SECONDS = 10.0
AIM_RATIO = 3.0
AIM_MEMORY_GROWTH = 0.10  # "does not grow": full-size peak RSS within 10% of the small store's
GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
LAST_DAY = date(2026, 11, 26)
SPECIALISTS_PER_SITE = 30
DATA_VERSION = 1  # bump when the generator changes, so --keep rebuilds its stores
EXIT_REASONS = ("moved away", "withdrew", "lost contact", "reached goal")
VOID_REASON = "entered in error"


class BenchError(SystemExit):
    """Abort the benchmark with a message (exit status 1)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"fidelity bench: {message}")


# -- running and measuring child processes -------------------------------------


@dataclass
class Bench:
    label: str
    argv: list[str]
    output: Path
    env: dict[str, str] | None = None
    times_s: list[float] = field(default_factory=list)
    rss_kb: list[int] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.times_s)

    @property
    def best(self) -> float:
        return min(self.times_s)

    @property
    def peak_mb(self) -> float:
        return max(self.rss_kb) / 1024


def measure(argv: list[str], env: dict[str, str] | None, output: Path) -> tuple[float, int, int, str]:
    """Run one child with stdout to `output`: (wall seconds, its peak RSS in KiB, exit status, stderr).

    The peak comes from GNU time (`/usr/bin/time -f %M`) when it is there: a
    child forked from this (big) Python process would report this process's
    RSS at the fork in its ru_maxrss. Without it, from `os.wait4`, with that caveat.
    """
    with open(output, "wb") as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(mode="r", suffix=".rss") as rss:
        wrapped = [GNU_TIME, "-o", rss.name, "-f", "%M", *argv] if GNU_TIME else argv
        start = time.perf_counter()
        proc = subprocess.Popen(wrapped, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            raise
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
        peak = usage.ru_maxrss
        if GNU_TIME:
            lines = rss.read().split()
            peak = int(lines[-1]) if lines and lines[-1].isdigit() else 0
    return elapsed, peak, proc.returncode, stderr


def run_once(bench: Bench, *, timed: bool) -> None:
    elapsed, rss, code, stderr = measure(bench.argv, bench.env, bench.output)
    if code != 0:
        raise BenchError(f"{bench.label}: `{shlex.join(bench.argv)}` exited with status {code}\n{stderr.strip()}")
    if timed:
        bench.times_s.append(elapsed)
        bench.rss_kb.append(rss)


def run_checked(argv: list[str], env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BenchError(f"`{shlex.join(argv)}` exited with status {proc.returncode}\n"
                         f"{proc.stderr.strip()}\n{proc.stdout.strip()}")


# -- the synthetic program ---------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
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
    """The codes of schemas/*.toml the generator draws from."""

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
    return f"{rng.getrandbits(128):032x}"


def stamp(day: date, hour: int, minute: int) -> str:
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}:00Z"


@dataclass
class Person:
    id: str
    site: str
    specialist: str
    arm: str
    enrolled: date
    consent: date | None
    exited: date | None
    first_contact: date  # the earliest a session may be
    last_contact: date  # the latest (exit, drifting away, or the last day)
    weight: float  # share of the sessions, before scaling to the total


def build_staff(rng: random.Random, sizes: Sizes) -> tuple[list[tuple], list[tuple], dict[str, list[str]]]:
    nsites = max(1, round(sizes.specialists / SPECIALISTS_PER_SITE))
    sites = [(f"S{n:02d}", f"Site {n:02d}") for n in range(1, nsites + 1)]
    specialists, by_site = [], {site: [] for site, _ in sites}
    for n in range(1, sizes.specialists + 1):
        sid, site = f"PS{n:03d}", sites[(n - 1) % nsites][0]
        roll = rng.random()
        if roll < 0.02:
            trained = None
        elif roll < 0.05:  # trained after starting to deliver
            trained = (sizes.first_day + timedelta(days=rng.randint(30, 200))).isoformat()
        else:
            trained = (sizes.first_day - timedelta(days=rng.randint(10, 90))).isoformat()
        specialists.append((sid, site, f"Specialist {n:03d}", trained, 1))
        by_site[site].append(sid)
    return sites, specialists, by_site


def build_people(rng: random.Random, sizes: Sizes, by_site: dict[str, list[str]], vocab: Vocabulary):
    """The participant and screening rows, and each participant's contact plan."""
    sites = sorted(by_site)
    width = max(4, len(str(sizes.participants)))
    people, participants, screenings = [], [], []
    demo = vocab.demographics
    for n in range(1, sizes.participants + 1):
        pid, site = f"P-{n:0{width}d}", sites[n % len(sites)]
        referred = sizes.first_day + timedelta(days=int((sizes.days - 8) * rng.random() ** 1.5))
        enrolled = min(referred + timedelta(days=rng.randint(0, 3)), LAST_DAY)
        consent = referred + timedelta(days=rng.randint(0, (enrolled - referred).days))
        arm = "vps" if rng.random() < 0.8 else "control"
        first = consent + timedelta(days=rng.randint(0, 5))
        roll = rng.random()
        if roll < 0.003:
            consent = None  # never recorded
        elif roll < 0.008:  # consent dated after the first session
            first = enrolled + timedelta(days=rng.randint(0, 2))
            consent = first + timedelta(days=rng.randint(1, 10))
        exited, last = None, LAST_DAY
        if rng.random() < (0.5 if arm == "vps" else 0.03):  # most leave the program after a while
            out = enrolled + timedelta(days=rng.randint(30, 119) if rng.random() < 0.1 else rng.randint(120, 540))
            if out <= LAST_DAY:
                exited, last = out, out
        if exited is None and rng.random() < 0.08:  # drifts away without an exit
            last = first + timedelta(days=int((LAST_DAY - first).days * rng.uniform(0.3, 0.9)))
        span = max(0, (last - first).days)
        if arm == "vps":
            weight = (span + 1) * rng.lognormvariate(0, 0.6)
        else:
            weight = (span + 1) * 0.05 if rng.random() < 0.03 else 0.0  # rarely, a control gets VPS
        people.append(Person(pid, site, rng.choice(by_site[site]), arm, enrolled, consent, exited,
                             first, last, weight if first <= last else 0.0))
        age = rng.randint(19, 64) if rng.random() < 0.8 else None
        participants.append((
            pid, site, enrolled.isoformat(), arm, consent.isoformat() if consent else None,
            "exited" if exited else "active", exited.isoformat() if exited else None,
            rng.choice(EXIT_REASONS) if exited else None,
            age, None if age is not None else LAST_DAY.year - rng.randint(20, 64),
            rng.choice(demo["gender"]), rng.choice(demo["race"]), rng.choice(demo["residence"]),
            rng.choice(demo["marital"]), rng.choice(demo["education"]),
            int(rng.random() < 0.2), int(rng.random() < 0.6), int(rng.random() < 0.8)))
        screenings.append((hex_id(rng), pid, referred.isoformat(), vocab.passing_answers, 1, "",
                           vocab.eligibility_version, stamp(referred, 16, rng.randint(0, 59)),
                           people[-1].specialist))
    return people, participants, screenings


def allocate(people: list[Person], total: int) -> list[int]:
    """Session counts in proportion to the weights, summing exactly to `total` (largest remainder)."""
    weights = sum(p.weight for p in people)
    if weights <= 0:
        raise BenchError("no participant can receive sessions: increase --days")
    shares = [p.weight * total / weights for p in people]
    counts = [int(s) for s in shares]
    short = total - sum(counts)
    for index in sorted(range(len(people)), key=lambda i: counts[i] - shares[i])[:short]:
        counts[index] += 1
    return counts


def session_days(rng: random.Random, first: date, last: date, count: int) -> list[date]:
    """`count` irregularly spaced dates from `first` to at most `last`, with occasional long breaks."""
    if count == 0:
        return []
    steps = [0.0]
    for _ in range(count - 1):
        step = rng.expovariate(1.0)
        steps.append(steps[-1] + (step * rng.uniform(4, 10) if rng.random() < 0.04 else step))
    span, scale = (last - first).days, steps[-1] or 1.0
    start = first.toordinal()
    # the last contact lands somewhere in the final stretch, not always on the last day
    reach = span * (1.0 if span < 30 else rng.uniform(0.97, 1.0))
    return [date.fromordinal(start + int(s / scale * reach)) for s in steps]


def session_rows(rng: random.Random, people: list[Person], counts: list[int], by_site: dict[str, list[str]],
                 vocab: Vocabulary):
    """Every session row, participant by participant, in date order (a generator)."""
    pool_rng = random.Random(rng.getrandbits(64))
    components = [";".join(pool_rng.sample(vocab.vocational, pool_rng.randint(1, 2) if pool_rng.random() < 0.75 else 0)
                           + pool_rng.sample(vocab.other, pool_rng.randint(1, 2))) for _ in range(4096)]
    supports = [";".join(pool_rng.sample(vocab.supports, pool_rng.randint(1, 2))) for _ in range(256)]
    modes = pool_rng.choices(vocab.modes, weights=[6, 3, 1, 1][:len(vocab.modes)] + [1] * (len(vocab.modes) - 4),
                             k=256)
    minutes = (15, 30, 45, 45, 60, 60, 90)
    entered_limit = LAST_DAY + timedelta(days=1)
    random_ = rng.random
    for person, count in zip(people, counts):
        colleagues = by_site[person.site]
        for day in session_days(rng, person.first_contact, person.last_contact, count):
            roll = random_()
            kind = ("no-show" if roll < 0.08 else "collateral" if roll < 0.12 else "group" if roll < 0.15
                    else "individual")
            specialist = person.specialist if random_() < 0.95 else colleagues[int(random_() * len(colleagues))]
            lag = (0, 0, 0, 1, 1, 2)[int(random_() * 6)] if random_() < 0.97 else rng.randint(4, 20)
            entered = day + timedelta(days=lag)
            entered_at = (f"{entered_limit.isoformat()}T00:00:00Z" if entered >= entered_limit
                          else stamp(entered, 17, int(random_() * 60)))
            voided = int(random_() < 0.005)
            start = f"{9 + int(random_() * 8):02d}:{(0, 15, 30, 45)[int(random_() * 4)]:02d}"
            yield (hex_id(rng), person.id, specialist, day.isoformat(), start if random_() < 0.5 else None,
                   minutes[int(random_() * 7)], kind, modes[int(random_() * 256)], None,
                   "" if kind == "no-show" else components[int(random_() * 4096)],
                   supports[int(random_() * 256)], vocab.phases[int(random_() * len(vocab.phases))],
                   int(random_() < 0.003), "bench note" if random_() < 0.05 else None,
                   entered_at, specialist, voided, VOID_REASON if voided else None)


def supervision_rows(rng: random.Random, sizes: Sizes, specialists: list[tuple], vocab: Vocabulary):
    rows = []
    for sid, site, *_ in specialists:
        spacing = (20, 50) if rng.random() < 0.1 else (7, 28)  # a few are rarely supervised
        day = sizes.first_day - timedelta(days=rng.randint(0, 20))
        while day <= LAST_DAY:
            group = int(rng.random() < 0.15)  # a group meeting on top of the individual ones
            voided = int(rng.random() < 0.005)
            entered = min(day + timedelta(days=rng.randint(0, 2)), LAST_DAY)
            rows.append((hex_id(rng), sid, f"Supervisor {site}", day.isoformat(), rng.choice((30, 45, 60)),
                         group, ";".join(rng.sample(vocab.topics, 2)), None,
                         stamp(entered, 12, rng.randint(0, 59)), f"Supervisor {site}", voided,
                         VOID_REASON if voided else None))
            if not group:
                day += timedelta(days=rng.randint(*spacing))
    return rows


def insert(conn: sqlite3.Connection, table: str, columns: tuple[str, ...], rows) -> None:
    names = ", ".join(f'"{c}"' for c in columns)
    conn.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})', rows)


def build_store(vpslog_exe: str, db: Path, env: dict[str, str], sizes: Sizes) -> dict:
    """`vpslog init`, then the bulk fill in one transaction; the row counts."""
    run_checked([vpslog_exe, "--db", str(db), "init"], env)
    vocab = Vocabulary()
    rng = random.Random(sizes.seed)  # staff and participants: the same whatever the number of sessions
    sites, specialists, by_site = build_staff(rng, sizes)
    people, participants, screenings = build_people(rng, sizes, by_site, vocab)
    supervisions = supervision_rows(random.Random(sizes.seed + 2), sizes, specialists, vocab)
    counts = allocate(people, sizes.sessions)
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        for pragma in ("foreign_keys = ON", "synchronous = OFF", "cache_size = -1000000"):
            conn.execute(f"PRAGMA {pragma}")
        conn.execute("BEGIN IMMEDIATE")
        insert(conn, "site", ("id", "name"), sites)
        insert(conn, "specialist", ("id", "site_id", "name", "trained_on", "active"), specialists)
        insert(conn, "participant", (
            "id", "site_id", "enrolled_on", "arm", "consent_on", "status", "exited_on", "exit_reason", "age",
            "birth_year", "gender", "race", "residence", "marital", "education", "working", "ssdi_ssi",
            "psych_meds"), participants)
        insert(conn, "screening", ("id", "participant_id", "date", "answers", "eligible", "reasons",
                                   "rules_version", "entered_at", "entered_by"), screenings)
        insert(conn, "supervision", ("id", "specialist_id", "supervisor", "date", "minutes", "group", "topics",
                                     "note", "entered_at", "entered_by", "voided", "void_reason"), supervisions)
        insert(conn, "session", (
            "id", "participant_id", "specialist_id", "date", "start_time", "minutes", "type", "mode", "location",
            "components", "supports", "phase", "clinical", "note", "entered_at", "entered_by", "voided",
            "void_reason"), session_rows(random.Random(sizes.seed + 1), people, counts, by_site, vocab))
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        tables = ("site", "specialist", "participant", "screening", "supervision", "session")
        found = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    except sqlite3.Error as exc:
        raise BenchError(f"building {db} failed: {exc}") from None
    finally:
        conn.close()
    if found["session"] != sizes.sessions:
        raise BenchError(f"{db}: {found['session']} sessions instead of {sizes.sessions}")
    return found


def prepare_store(vpslog_exe: str, folder: Path, env: dict[str, str], sizes: Sizes) -> tuple[Path, float | None, dict]:
    """The store for `sizes` in `folder`: reused when a finished one is there, else built and timed."""
    db = folder / f"fidelity-{sizes.tag()}.db"
    done = db.with_suffix(".done.json")
    if db.exists() and done.exists():
        counts = json.loads(done.read_text())
        print(f"reusing {db} ({counts['session']:,} sessions)", flush=True)
        return db, None, counts
    for stale in (db, done, Path(f"{db}-wal"), Path(f"{db}-shm")):
        stale.unlink(missing_ok=True)
    print(f"building {db.name}: {sizes.sessions:,} sessions, {sizes.participants:,} participants, "
          f"{sizes.specialists} specialists, {sizes.days} days ...", flush=True)
    start = time.perf_counter()
    counts = build_store(vpslog_exe, db, env, sizes)
    elapsed = time.perf_counter() - start
    done.write_text(json.dumps(counts))
    print(f"  built in {elapsed:.1f} s: " + ", ".join(f"{n:,} {t}" for t, n in counts.items())
          + f"; {db.stat().st_size / 2**20:.0f} MiB", flush=True)
    return db, elapsed, counts


# -- the reference: the two aggregates in the sqlite3 shell ---------------------------


def rule_params(rule_id: str) -> dict:
    for rule in load_toml("fidelity.toml")["rule"]:
        if rule["id"] == rule_id:
            return rule["params"]
    raise BenchError(f"schemas/fidelity.toml has no rule {rule_id!r}")


def quoted(values) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def aggregates_sql(as_of: str) -> str:
    """Per participant enrolled by `as_of`: id, best window count, longest gap (open gap included)."""
    dose, gap = rule_params("adequate-dose"), rule_params("continuity")
    ahead = dose["window_days"] - 1  # both ends included: [d, d + window - 1]
    return f"""
WITH
counted AS (
  SELECT participant_id AS pid,
         count(*) OVER (PARTITION BY participant_id ORDER BY julianday(date)
                        RANGE BETWEEN CURRENT ROW AND {ahead} FOLLOWING) AS n
  FROM session
  WHERE voided = 0 AND date <= '{as_of}' AND type IN ({quoted(dose['session_types'])})),
dose AS (SELECT pid, max(n) AS best FROM counted GROUP BY pid),
contact AS (
  SELECT DISTINCT participant_id AS pid, julianday(date) AS d
  FROM session
  WHERE voided = 0 AND date <= '{as_of}' AND type IN ({quoted(gap['session_types'])})),
gaps AS (SELECT pid, d, d - lag(d) OVER (PARTITION BY pid ORDER BY d) AS gap FROM contact),
closed AS (SELECT pid, max(gap) AS gap, max(d) AS last FROM gaps GROUP BY pid)
SELECT p.id, coalesce(dose.best, 0),
       CAST(CASE
         WHEN closed.pid IS NULL THEN
           julianday(CASE WHEN p.exited_on <= '{as_of}' THEN p.exited_on ELSE '{as_of}' END) - julianday(p.enrolled_on)
         WHEN p.exited_on <= '{as_of}' THEN coalesce(closed.gap, 0)
         ELSE max(coalesce(closed.gap, 0), julianday('{as_of}') - closed.last)
       END AS INTEGER)
FROM participant p
LEFT JOIN dose ON dose.pid = p.id
LEFT JOIN closed ON closed.pid = p.id
WHERE p.enrolled_on <= '{as_of}'
ORDER BY p.id;
"""


def read_sqlite_output(path: Path) -> dict[str, tuple[int, int]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return {pid: (int(best), int(gap)) for pid, best, gap in csv.reader(handle)}


def read_vpslog_output(path: Path) -> dict:
    """The JSON report: per participant (best_window, longest_gap), and what it covers."""
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BenchError(f"vpslog's JSON output {path} does not parse: {exc}") from None
    best, gaps, subjects, results = {}, {}, set(), report["results"]
    for r in results:
        if r["scope"] == "participant":
            subjects.add(r["subject"])
        if r["rule"] == "adequate-dose":
            best[r["subject"]] = r["numbers"]["best_window"]
        elif r["rule"] == "continuity":
            gaps[r["subject"]] = r["numbers"]["longest_gap"]
    return {"best": best, "gaps": gaps, "subjects": subjects, "results": len(results), "as_of": report["as_of"]}


def compare(vps: dict, ref: dict[str, tuple[int, int]]) -> tuple[int, int, list[str]]:
    """(participants compared, exact matches, a few mismatches) over the participants with both results."""
    compared = matched = 0
    mismatches = []
    for pid in sorted(vps["best"].keys() | vps["gaps"].keys()):
        compared += 1
        mine = (vps["best"].get(pid), vps["gaps"].get(pid))
        theirs = ref.get(pid)
        if theirs is not None and mine == theirs:
            matched += 1
        elif len(mismatches) < 5:
            mismatches.append(f"{pid}: vpslog (best_window, longest_gap) = {mine}, sqlite3 = {theirs}")
    return compared, matched, mismatches


# -- report ------------------------------------------------------------------------


def machine_info(sqlite_exe: str) -> str:
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory = ""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            kib = int(handle.readline().split()[1])
        memory = f", {kib / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    shell = subprocess.run([sqlite_exe, "--version"], capture_output=True, text=True).stdout.split()[:1]
    return (f"Python {platform.python_version()} ({platform.python_implementation()}, {sys.executable}), "
            f"sqlite3 module's SQLite {sqlite3.sqlite_version}, sqlite3 shell {' '.join(shell) or '?'}\n"
            f"Machine: {platform.platform()}, {platform.machine()}, nproc={nproc}{memory}")


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def report(sizes: Sizes, small: Sizes, builds: dict, full: Bench, ref: Bench, quarter: Bench,
           check: tuple[int, int, list[str]], covered: dict, runs: int) -> None:
    print("\nBuild (not part of the comparison):")
    for label, (elapsed, counts) in builds.items():
        took = "reused (--keep)" if elapsed is None else f"{elapsed:.1f} s"
        print(f"  {label:<28} {took:>16}   {counts['session']:,} sessions, {counts['participant']:,} participants, "
              f"{counts['specialist']} specialists, {counts['supervision']:,} supervisions")
    benches = (full, ref, quarter)
    width = max(len(b.label) for b in benches)
    print(f"\nWall time of the whole process ({runs} runs each) and peak RSS:\n")
    print(f"  {'command':<{width}}  {'median s':>9}  {'min s':>7}  {'peak RSS MiB':>12}")
    for b in benches:
        print(f"  {b.label:<{width}}  {b.median:9.2f}  {b.best:7.2f}  {b.peak_mb:12.1f}")
    compared, matched, mismatches = check
    print(f"\nAgreement: {matched:,} of {compared:,} vps-arm participants have the same best_window and "
          f"longest_gap in vpslog's report and the sqlite3 aggregates"
          + ("." if matched == compared else f"; {compared - matched:,} differ, e.g.:"))
    for line in mismatches:
        print(f"  {line}")
    print(f"vpslog's report covers {covered['subjects']:,} participants ({covered['dose']:,} adequate-dose results, "
          f"one per vps-arm participant; {covered['results']:,} results in all).")
    ratio = full.median / ref.median
    growth = full.peak_mb / quarter.peak_mb - 1
    print("\nRatios and aims:")
    print(f"  vpslog fidelity / sqlite3 aggregates   {ratio:6.2f}x   ({full.median - ref.median:+.2f} s)")
    print(f"  whole report under {AIM_SECONDS:.0f} s:               {full.median:6.2f} s   "
          f"{verdict(full.median < AIM_SECONDS)}")
    print(f"  within {AIM_RATIO:.0f}x of the sqlite3 shell:        {ratio:6.2f}x   {verdict(ratio <= AIM_RATIO)}")
    print(f"  memory flat in sessions:               {quarter.peak_mb:.1f} MiB at {small.sessions:,} sessions, "
          f"{full.peak_mb:.1f} MiB at {sizes.sessions:,} ({growth:+.0%}; aim within "
          f"{AIM_MEMORY_GROWTH:.0%})   {verdict(growth <= AIM_MEMORY_GROWTH)}")
    print(f"\nAims: {AIM}.")


def find_vpslog(explicit: str | None) -> str:
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


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=positive, default=1_000_000, help="sessions in the store (default 1000000)")
    parser.add_argument("--small-sessions", type=positive,
                        help="sessions in the second store, for the memory check (default: a quarter of --sessions)")
    parser.add_argument("--participants", type=positive, default=10_000, help="default 10000")
    parser.add_argument("--specialists", type=positive, default=300, help="default 300")
    parser.add_argument("--days", type=int, default=730, help=f"days of records, ending {LAST_DAY} (default 730)")
    parser.add_argument("--runs", type=positive, default=3, help="timed runs of each command (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the synthetic data (default 1)")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="build the stores in DIR and reuse them on later runs (default: a temporary dir)")
    parser.add_argument("--vpslog", metavar="PATH",
                        help="vpslog executable (default: next to this Python, else on PATH)")
    parser.add_argument("--sqlite3", metavar="PATH", default="/usr/bin/sqlite3",
                        help="sqlite3 shell (default /usr/bin/sqlite3, else on PATH)")
    args = parser.parse_args()
    if args.days < 60:
        parser.error("--days must be at least 60")
    sqlite_exe = args.sqlite3 if Path(args.sqlite3).is_file() else shutil.which("sqlite3")
    if sqlite_exe is None:
        raise BenchError("no sqlite3 shell: install it (apt-get install sqlite3) or pass --sqlite3 PATH")
    vpslog_exe = find_vpslog(args.vpslog)
    sizes = Sizes(args.sessions, args.participants, args.specialists, args.days, args.seed)
    small = Sizes(args.small_sessions or max(1, args.sessions // 4), args.participants, args.specialists,
                  args.days, args.seed)
    as_of = LAST_DAY.isoformat()

    print(machine_info(sqlite_exe))
    print("peak RSS: " + ("GNU time (/usr/bin/time -f %M) around each child" if GNU_TIME else
                          "os.wait4 ru_maxrss (no /usr/bin/time: an upper bound, it counts this process's RSS)"))
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print("note: PYTHONDONTWRITEBYTECODE is set: an editable vpslog is compiled on every run "
              "(tens of ms, small next to this bench)")
    with tempfile.TemporaryDirectory(prefix="vpslog-fidelity-") as tmp_name:
        tmp = Path(tmp_name)
        folder = args.keep or tmp
        folder.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, VPSLOG_CONFIG_DIR=str(folder / "config"), VPSLOG_SCHEMAS=str(SCHEMAS))
        env.pop("VPSLOG_DB", None)
        db, built, counts = prepare_store(vpslog_exe, folder, env, sizes)
        small_db, small_built, small_counts = prepare_store(vpslog_exe, folder, env, small)
        builds = {f"{sizes.sessions:,} sessions": (built, counts),
                  f"{small.sessions:,} sessions": (small_built, small_counts)}

        def fidelity(store: Path, label: str, out: str) -> Bench:
            return Bench(label, [vpslog_exe, "--db", str(store), "fidelity", "--format", "json", "--as-of", as_of],
                         tmp / out, env)

        full = fidelity(db, f"vpslog fidelity ({sizes.sessions:,} sessions)", "vpslog.json")
        quarter = fidelity(small_db, f"vpslog fidelity ({small.sessions:,} sessions)", "vpslog-small.json")
        sql = tmp / "aggregates.sql"
        sql.write_text(aggregates_sql(as_of), encoding="utf-8")
        ref = Bench(f"sqlite3 shell, 2 aggregates ({sizes.sessions:,})",
                    [sqlite_exe, "-bail", "-csv", "-noheader", str(db), f".read {sql}"], tmp / "sqlite.csv")
        print(f"command: {shlex.join(full.argv)} > {full.output}")
        print(f"reference: {shlex.join(ref.argv)} > {ref.output}   (SQL below)\n{sql.read_text().strip()}\n",
              flush=True)

        print("warm-up and check ...", flush=True)
        for bench in (full, ref, quarter):
            run_once(bench, timed=False)
        vps = read_vpslog_output(full.output)
        expected = counts["participant"]
        vps_arm = sqlite3.connect(db).execute(
            "SELECT count(*) FROM participant WHERE arm = 'vps' AND enrolled_on <= ?", (as_of,)).fetchone()[0]
        if len(vps["subjects"]) != expected or len(vps["best"]) != vps_arm:
            raise BenchError(f"vpslog's report covers {len(vps['subjects'])} participants (expected {expected}) "
                             f"with {len(vps['best'])} adequate-dose results (expected {vps_arm}, one per vps-arm "
                             "participant)")
        aggregates = read_sqlite_output(ref.output)
        if len(aggregates) != expected:
            raise BenchError(f"the sqlite3 aggregates have {len(aggregates)} participants (expected {expected})")
        check = compare(vps, aggregates)
        covered = {"subjects": len(vps["subjects"]), "dose": len(vps["best"]), "results": vps["results"]}

        print(f"timing 3 commands x {args.runs} runs (interleaved) ...", flush=True)
        for run in range(args.runs):  # interleaved, so drift hits all commands alike
            for bench in (full, ref, quarter):
                run_once(bench, timed=True)
            json.loads(full.output.read_text(encoding="utf-8"))  # every timed output parses
            print(f"  round {run + 1}: " + ", ".join(f"{b.times_s[-1]:.2f} s" for b in (full, ref, quarter)),
                  flush=True)
    report(sizes, small, builds, full, ref, quarter, check, covered, args.runs)


if __name__ == "__main__":
    main()
