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
set size (else a small fresh Python child runs the command and reports
`resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`). To show whether memory
grows with the number of sessions, vpslog fidelity is also run on a second
store with the same participants, specialists and days but a quarter of the
sessions (`--small-sessions`).

Aims: the whole report under 10 s; within 3x of the sqlite3 shell's time for
the two aggregates; memory that does not grow with the number of sessions.
And the supervisor's HTML report, `vpslog report html --as-of LAST_DAY --out FILE`
on the same store: within 2x of `fidelity --format json`, a peak RSS under
150 MB, and a file under 5 MB. And the trend, `vpslog fidelity --by month
--since FIRST_DAY --until LAST_DAY --format json` (every month of the store's
two years, each judged as of its last day): within 3x of one `fidelity` run.

And the report's cost in what it flags (`timely-documentation` flags a session entered more than
3 days after it happened): the same command on two copies of the store that differ only in when
each session was entered: 0 to 5 days after it (by its id, so a third is flagged), and 30 days
after it, as a history typed in from an old spreadsheet would be (every session flagged). Aims:
with a third flagged, under 10 s and a peak under 150 MB; with every session flagged, a peak under
150 MB and within 2x of the third; both within 2x of the sqlite3 aggregates (which do not read
`entered_at`, so they are the same on all three stores).

And on an encrypted store (issue 12): the same command on a SQLCipher copy of the store (made
once with `sqlcipher_export`, its key a raw 32-byte key in a 0600 key file named by
$VPSLOG_KEY_FILE), within 1.5x of the plain store. Left out, with the reason printed, where the
`sqlcipher3` module (`pip install 'vpslog[encrypt]'`) is not installed.

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
import json
import random
import secrets
import shlex
import sqlite3
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import benchlib
from benchlib import (LAST_DAY, MEDIAN_S, MIN_S, PEAK_RSS, PARTICIPANT_COLUMNS, SESSION_COLUMNS, SESSION_MINUTES,
                      VOID_REASON, Bench, BenchError, Sizes, Vocabulary, hex_id, positive, run_once, stamp, verdict)

BenchError.name = "fidelity bench"
AIM = ("whole report under 10 s; within 3x of the sqlite3 shell's time for the two aggregates; "
       "memory that does not grow with the number of sessions")
AIM_SECONDS = 10.0
AIM_RATIO = 3.0
AIM_MEMORY_GROWTH = 0.10  # "does not grow": full-size peak RSS within 10% of the small store's
HTML_AIM_RATIO = 2.0  # `report html` within 2x of `fidelity --format json` on the same store
HTML_AIM_MB = 150.0  # its peak RSS
HTML_AIM_FILE_MB = 5.0  # the file it writes
TREND_AIM_RATIO = 3.0  # `fidelity --by month` over the whole store within 3x of one `fidelity --format json`
FLAGGED_AIM_SECONDS = 10.0  # a third of the sessions flagged
FLAGGED_AIM_MB = 150.0  # peak RSS whatever is flagged
FLAGGED_AIM_RATIO = 2.0  # every session flagged, against a third; and each against the sqlite3 aggregates
ENCRYPTED_AIM_RATIO = 1.5  # on a SQLCipher copy of the store, against the plain one
ENTERED_LATE = {
    "third": "((instr('0123456789abcdef', substr(id, 31, 1)) - 1) * 16"
             " + instr('0123456789abcdef', substr(id, 32, 1)) - 1) % 6",  # 0-5 days, by the id's last byte
    "every": "30",
}
"""Days between a session and its entry, as SQL over the session row, for the stores that flag more."""


# -- the synthetic program ---------------------------------------------------------


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
    """benchlib.build_staff, with a few specialists never trained or trained after they started."""
    def trained_on(n: int) -> str | None:
        roll = rng.random()
        if roll < 0.02:
            return None
        if roll < 0.05:  # trained after starting to deliver
            return (sizes.first_day + timedelta(days=rng.randint(30, 200))).isoformat()
        return (sizes.first_day - timedelta(days=rng.randint(10, 90))).isoformat()

    return benchlib.build_staff(sizes, trained_on)


def build_people(rng: random.Random, sizes: Sizes, by_site: dict[str, list[str]], vocab: Vocabulary):
    """The participant and screening rows, and each participant's contact plan."""
    sites = sorted(by_site)
    width = max(4, len(str(sizes.participants)))
    people, participants, screenings = [], [], []
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
        participants.append(benchlib.participant_row(rng, vocab, pid, site, enrolled, arm, consent, exited, age))
        screenings.append((hex_id(rng), pid, referred.isoformat(), vocab.passing_answers, 1, "",
                           vocab.eligibility_version, stamp(referred, 16, rng.randint(0, 59)),
                           people[-1].specialist))
    return people, participants, screenings


def allocate(people: list[Person], total: int) -> list[int]:
    """Session counts in proportion to the weights, summing exactly to `total` (largest remainder)."""
    weights = sum(p.weight for p in people)
    if weights <= 0:
        raise BenchError("no participant can receive sessions: increase --days")
    return benchlib.apportion([p.weight * total / weights for p in people], total)


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
    entered_limit = LAST_DAY + timedelta(days=1)
    random_ = rng.random
    for person, count in zip(people, counts):
        colleagues = by_site[person.site]
        for day in session_days(rng, person.first_contact, person.last_contact, count):
            kind = benchlib.session_type(random_())
            specialist = person.specialist if random_() < 0.95 else colleagues[int(random_() * len(colleagues))]
            lag = (0, 0, 0, 1, 1, 2)[int(random_() * 6)] if random_() < 0.97 else rng.randint(4, 20)
            entered = day + timedelta(days=lag)
            entered_at = (f"{entered_limit.isoformat()}T00:00:00Z" if entered >= entered_limit
                          else stamp(entered, 17, int(random_() * 60)))
            voided = int(random_() < 0.005)
            start = f"{9 + int(random_() * 8):02d}:{(0, 15, 30, 45)[int(random_() * 4)]:02d}"
            yield (hex_id(rng), person.id, specialist, day.isoformat(), start if random_() < 0.5 else None,
                   SESSION_MINUTES[int(random_() * 7)], kind, modes[int(random_() * 256)], None,
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


def build_store(vpslog_exe: str, db: Path, env: dict[str, str], sizes: Sizes) -> dict:
    """`vpslog init`, then the bulk fill in one transaction; the row counts."""
    vocab = Vocabulary()
    rng = random.Random(sizes.seed)  # staff and participants: the same whatever the number of sessions
    sites, specialists, by_site = build_staff(rng, sizes)
    people, participants, screenings = build_people(rng, sizes, by_site, vocab)
    supervisions = supervision_rows(random.Random(sizes.seed + 2), sizes, specialists, vocab)
    counts = allocate(people, sizes.sessions)
    return benchlib.fill_store(vpslog_exe, db, env, sizes.sessions, [
        ("site", benchlib.SITE_COLUMNS, sites),
        ("specialist", benchlib.SPECIALIST_COLUMNS, specialists),
        ("participant", PARTICIPANT_COLUMNS, participants),
        ("screening", ("id", "participant_id", "date", "answers", "eligible", "reasons", "rules_version",
                       "entered_at", "entered_by"), screenings),
        ("supervision", ("id", "specialist_id", "supervisor", "date", "minutes", "group", "topics", "note",
                         "entered_at", "entered_by", "voided", "void_reason"), supervisions),
        ("session", SESSION_COLUMNS, session_rows(random.Random(sizes.seed + 1), people, counts, by_site, vocab)),
    ])


# -- the reference: the two aggregates in the sqlite3 shell ---------------------------


def rule_params(rule_id: str) -> dict:
    for rule in benchlib.load_toml("fidelity.toml")["rule"]:
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


def built_once(target: Path, build) -> Path:
    """`target`, made by `build(partial)` into a file beside it and renamed into place (0600) when it
    is not there yet: a run cut short leaves no half-built store that a later run would reuse."""
    if not target.exists():
        partial = target.with_name(target.name + ".partial")
        partial.unlink(missing_ok=True)
        build(partial)
        partial.chmod(0o600)
        partial.rename(target)
    return target


def entered_late(db: Path, name: str) -> Path:
    """A copy of the store (built once, beside it) whose sessions were entered ENTERED_LATE[name] days
    after they happened; nothing else differs."""
    def build(partial: Path) -> None:
        source, copy = sqlite3.connect(db), sqlite3.connect(partial)
        source.backup(copy)
        copy.execute(f"UPDATE session SET entered_at = date(date, '+' || ({ENTERED_LATE[name]}) || ' days') "
                     "|| substr(entered_at, 11)")
        copy.commit()
        source.close()
        copy.close()

    return built_once(db.with_name(f"{db.stem}-entered-{name}.db"), build)


def encrypted_copy(db: Path) -> tuple[Path, Path] | None:
    """A SQLCipher copy of the store and its key file (built once, beside it); None without sqlcipher3."""
    try:
        from sqlcipher3 import dbapi2
    except ImportError:
        return None
    target, key_file = db.with_name(f"{db.stem}-encrypted.db"), db.with_name(f"{db.stem}-encrypted.key")

    def build(partial: Path) -> None:
        key_file.unlink(missing_ok=True)
        key_file.touch(mode=0o600)
        key_file.write_text(secrets.token_hex(32), encoding="ascii")
        conn = dbapi2.connect(str(db), isolation_level=None)
        conn.execute("ATTACH DATABASE ? AS copy KEY ?", (str(partial), f"x'{key_file.read_text()}'"))
        conn.execute("SELECT sqlcipher_export('copy')")
        conn.execute(f"PRAGMA copy.user_version = {int(conn.execute('PRAGMA main.user_version').fetchone()[0])}")
        conn.execute("DETACH DATABASE copy")
        conn.close()

    return built_once(target, build), key_file


def flagged_share(db: Path) -> float:
    """The share of the non-voided sessions up to LAST_DAY entered more than 3 days after they happened."""
    with sqlite3.connect(db) as conn:
        late, total = conn.execute(
            "SELECT sum(substr(entered_at, 1, 10) > date(date, '+3 days')), count(*) FROM session "
            "WHERE voided = 0 AND date <= ?", (LAST_DAY.isoformat(),)).fetchone()
    return late / total


# -- report ------------------------------------------------------------------------


def report(sizes: Sizes, small: Sizes, builds: dict, full: Bench, ref: Bench, quarter: Bench, htmls: tuple,
           html_mb: float, by_month: Bench, flagged: dict[str, tuple[Bench, float]], encrypted: Bench | None,
           check: tuple[int, int, list[str]], covered: dict, runs: int) -> None:
    print("\nBuild (not part of the comparison):")
    for label, (elapsed, counts) in builds.items():
        took = "reused (--keep)" if elapsed is None else f"{elapsed:.1f} s"
        print(f"  {label:<28} {took:>16}   {counts['session']:,} sessions, {counts['participant']:,} participants, "
              f"{counts['specialist']} specialists, {counts['supervision']:,} supervisions")
    print(f"\nWall time of the whole process ({runs} runs each) and peak RSS:\n")
    html, serial = htmls
    benchlib.print_table((full, ref, quarter, html, serial, by_month, *(b for b, _ in flagged.values()),
                          *([encrypted] if encrypted else [])), [MEDIAN_S, MIN_S, PEAK_RSS])
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
    print(f"  vpslog fidelity / sqlite3 aggregates   {benchlib.versus(full, ref, gap='   ')}")
    print(f"  whole report under {AIM_SECONDS:.0f} s:               {full.median:6.2f} s   "
          f"{verdict(full.median < AIM_SECONDS)}")
    print(f"  within {AIM_RATIO:.0f}x of the sqlite3 shell:        {ratio:6.2f}x   {verdict(ratio <= AIM_RATIO)}")
    print(f"  memory flat in sessions:               {quarter.peak_mb:.1f} MiB at {small.sessions:,} sessions, "
          f"{full.peak_mb:.1f} MiB at {sizes.sessions:,} ({growth:+.0%}; aim within "
          f"{AIM_MEMORY_GROWTH:.0%})   {verdict(growth <= AIM_MEMORY_GROWTH)}")
    html_ratio = html.median / full.median
    print(f"  report html within {HTML_AIM_RATIO:.0f}x of fidelity json:  {html_ratio:6.2f}x   "
          f"{verdict(html_ratio <= HTML_AIM_RATIO)}")
    print(f"  report html --jobs 1 (charts drawn in one process):  {serial.median / full.median:6.2f}x")
    print(f"  report html peak RSS under {HTML_AIM_MB:.0f} MB:     {html.peak_mb:6.1f} MiB   "
          f"{verdict(html.peak_mb < HTML_AIM_MB)}   (its largest process)")
    for bench in (html, serial):
        print(f"    {bench.label}: whole process tree {bench.tree_peak_mb:.1f} MiB PSS (workers included; "
              f"sampled in the warm-up run)   {verdict(bench.tree_peak_mb < HTML_AIM_MB)}")
    print(f"  report html file under {HTML_AIM_FILE_MB:.0f} MB:          {html_mb:6.2f} MB    "
          f"{verdict(html_mb < HTML_AIM_FILE_MB)}")
    trend_ratio = by_month.median / full.median
    print(f"  fidelity --by month within {TREND_AIM_RATIO:.0f}x of one run: {trend_ratio:6.2f}x   "
          f"{verdict(trend_ratio <= TREND_AIM_RATIO)}")
    (third, third_share), (every, every_share) = flagged["third"], flagged["every"]
    print(f"  {third_share:.0%} of sessions flagged:            {third.median:6.2f} s, {third.peak_mb:.1f} MiB; "
          f"{third.median / ref.median:.2f}x the sqlite3 aggregates   "
          f"{verdict(third.median < FLAGGED_AIM_SECONDS and third.peak_mb < FLAGGED_AIM_MB)}")
    print(f"  {every_share:.0%} of sessions flagged:           {every.median:6.2f} s, {every.peak_mb:.1f} MiB; "
          f"{every.median / third.median:.2f}x the third, {every.median / ref.median:.2f}x the sqlite3 aggregates   "
          f"{verdict(every.peak_mb < FLAGGED_AIM_MB and every.median <= FLAGGED_AIM_RATIO * third.median)}")
    within = max(b.median / ref.median for b in (full, third, every))
    print(f"  flagged or not, within {FLAGGED_AIM_RATIO:.0f}x of the sqlite3 shell: {within:6.2f}x at most   "
          f"{verdict(within <= FLAGGED_AIM_RATIO)}")
    if encrypted:
        ratio = encrypted.median / full.median
        print(f"  encrypted store within {ENCRYPTED_AIM_RATIO}x of plain:  {ratio:6.2f}x   "
              f"{verdict(ratio <= ENCRYPTED_AIM_RATIO)}")
    else:
        print("  encrypted store: not measured (sqlcipher3 is not installed: pip install 'vpslog[encrypt]')")
    print(f"\nAims: {AIM}.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=positive, default=1_000_000, help="sessions in the store (default 1000000)")
    parser.add_argument("--small-sessions", type=positive,
                        help="sessions in the second store, for the memory check (default: a quarter of --sessions)")
    benchlib.add_size_options(parser)
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="build the stores in DIR and reuse them on later runs (default: a temporary dir)")
    benchlib.add_tool_options(parser)
    args = parser.parse_args()
    if args.days < 60:
        parser.error("--days must be at least 60")
    sqlite_exe = benchlib.find_sqlite3(args.sqlite3)
    vpslog_exe = benchlib.find_vpslog(args.vpslog)
    sizes = Sizes(args.sessions, args.participants, args.specialists, args.days, args.seed)
    small = Sizes(args.small_sessions or max(1, args.sessions // 4), args.participants, args.specialists,
                  args.days, args.seed)
    as_of = LAST_DAY.isoformat()

    benchlib.print_store_header(sqlite_exe)
    with tempfile.TemporaryDirectory(prefix="vpslog-fidelity-") as tmp_name:
        tmp = Path(tmp_name)
        folder = args.keep or tmp
        env = benchlib.store_env(folder)
        db, built, counts = benchlib.prepare_store(build_store, "fidelity", vpslog_exe, folder, env, sizes)
        small_db, small_built, small_counts = benchlib.prepare_store(build_store, "fidelity", vpslog_exe, folder,
                                                                     env, small)
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
        page = tmp / "report.html"
        html = Bench(f"vpslog report html ({sizes.sessions:,} sessions)",
                     [vpslog_exe, "--db", str(db), "report", "html", "--as-of", as_of, "--out", str(page)],
                     tmp / "report-html.out", env, tree=True)
        serial = Bench("vpslog report html --jobs 1", [*html.argv, "--jobs", "1"], tmp / "report-html-1.out", env,
                       tree=True)
        by_month = Bench(f"vpslog fidelity --by month ({sizes.sessions:,})",
                         [vpslog_exe, "--db", str(db), "fidelity", "--by", "month", "--format", "json",
                          "--since", sizes.first_day.isoformat(), "--until", as_of], tmp / "by-month.json", env)
        flagged = {}
        for name in ENTERED_LATE:
            store = entered_late(db, name)
            flagged[name] = (fidelity(store, f"vpslog fidelity, entered late: {name}", f"vpslog-{name}.json"),
                             flagged_share(store))
        encrypted = None
        if found := encrypted_copy(db):
            encrypted = Bench(f"vpslog fidelity, encrypted ({sizes.sessions:,})",
                              [vpslog_exe, "--db", str(found[0]), "fidelity", "--format", "json", "--as-of", as_of],
                              tmp / "vpslog-encrypted.json", {**env, "VPSLOG_KEY_FILE": str(found[1])})
        print(f"command: {shlex.join(full.argv)} > {full.output}")
        print(f"command: {shlex.join(html.argv)}")
        print(f"reference: {shlex.join(ref.argv)} > {ref.output}   (SQL below)\n{sql.read_text().strip()}\n",
              flush=True)

        print("warm-up and check ...", flush=True)
        benches = (full, ref, quarter, by_month, *(bench for bench, _ in flagged.values()),
                   *([encrypted] if encrypted else []), serial, html)  # html last: its file is measured
        for bench in benches:
            page.unlink(missing_ok=True)  # report html writes a new file only
            run_once(bench, timed=False)
        html_mb = page.stat().st_size / 1e6
        if encrypted and encrypted.output.read_bytes() != full.output.read_bytes():
            raise BenchError(f"the report on the encrypted copy ({encrypted.output}) differs from the plain one")
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

        print(f"timing {len(benches)} commands x {args.runs} runs (interleaved) ...", flush=True)
        for run in range(args.runs):  # interleaved, so drift hits all commands alike
            for bench in benches:
                page.unlink(missing_ok=True)
                run_once(bench, timed=True)
            json.loads(full.output.read_text(encoding="utf-8"))  # every timed output parses
            print(f"  round {run + 1}: " + ", ".join(f"{b.times[-1]:.2f} s" for b in benches), flush=True)
    report(sizes, small, builds, full, ref, quarter, (html, serial), html_mb, by_month, flagged, encrypted, check,
           covered, args.runs)


if __name__ == "__main__":
    main()
