"""Benchmark: does `vpslog log` keep working while a big `vpslog import sessions` runs?

An import validates and stages the file without the write lock, then inserts what it
staged in one short transaction. This bench starts an import of --rows sessions, starts
`vpslog log` once a second while it runs, and reports each log's latency and exit code,
next to the same log's latency measured in the same run with no import going on (the
reference). A log that fails ("database is locked") is what the import must never cause.

    python bench/import_lock.py                 # 1,000,000 rows
    python bench/import_lock.py --rows 100000   # a quick check
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import benchlib

HEADER = "id,participant_id,specialist_id,date,minutes,type,mode,entered_at,entered_by"


def write_sessions(path: Path, rows: int) -> None:
    """`rows` valid sessions of one participant over the last 300 days (the import's work is per row)."""
    with open(path, "w", encoding="utf-8") as file:
        file.write(HEADER + "\n")
        for n in range(rows):
            day = (date.today() - timedelta(days=1 + n % 300)).isoformat()
            file.write(f"{n:032x},P-0001,PS01,{day},45,individual,phone,2026-01-01T10:00:00Z,PS01\n")


def log_once(vpslog: str, db: Path, env: dict) -> tuple[float, int, str]:
    started = time.perf_counter()
    proc = benchlib.run([vpslog, "--db", str(db), "log", "P-0002", "30", "--specialist", "PS02"], env)
    return time.perf_counter() - started, proc.returncode, proc.stderr.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=benchlib.positive, default=1_000_000, help="sessions to import (default 1000000)")
    parser.add_argument("--every", type=float, default=1.0, help="seconds between logs (default 1)")
    benchlib.add_tool_options(parser, sqlite3=False)
    args = parser.parse_args()
    vpslog = benchlib.find_vpslog(args.vpslog)
    print(benchlib.machine_info())
    benchlib.note_bytecode("an editable vpslog is compiled on every run (in every log's latency alike)")
    with tempfile.TemporaryDirectory(prefix="vpslog-import-lock-") as folder:
        work = Path(folder)
        env, db, csv = benchlib.store_env(work), work / "store.db", work / "sessions.csv"
        for argv in (["init"], ["site", "add", "S1", "--name", "Site one"],
                     ["specialist", "add", "PS01", "--site", "S1", "--trained", "2024-01-01"],
                     ["specialist", "add", "PS02", "--site", "S1", "--trained", "2024-01-01"],
                     ["participant", "add", "P-0001", "--site", "S1", "--enrolled", "2024-06-01", "--arm", "vps",
                      "--consent", "2024-06-01"],
                     ["participant", "add", "P-0002", "--site", "S1", "--enrolled", "2024-06-01", "--arm", "vps",
                      "--consent", "2024-06-01"]):
            benchlib.run_checked([vpslog, "--db", str(db), *argv], env)
        write_sessions(csv, args.rows)
        idle = [log_once(vpslog, db, env)[0] for _ in range(7)]
        print(f"reference: vpslog log with no import running, 7 runs: median {statistics.median(idle) * 1000:.0f} ms")

        started = time.perf_counter()
        child = subprocess.Popen([vpslog, "--db", str(db), "import", "sessions", str(csv)], env=env,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        during, failed = [], []
        while child.poll() is None:
            at = time.perf_counter() - started
            latency, code, stderr = log_once(vpslog, db, env)
            (during if code == 0 else failed).append(latency)
            if code != 0:
                print(f"  log at {at:6.1f} s FAILED after {latency:.1f} s: {stderr}")
            elif latency > 3 * statistics.median(idle):
                print(f"  log at {at:6.1f} s waited {latency:.2f} s (the import's write transaction)")
            time.sleep(max(0.0, args.every - latency))
        out, err = child.communicate()
        total = time.perf_counter() - started
        if child.returncode != 0:
            sys.exit(f"the import failed: {err.strip()}")
        print(f"import of {args.rows:,} sessions: {total:.1f} s ({out.strip()})")
        if during:
            print(f"logs during the import: {len(during)} succeeded, median {statistics.median(during) * 1000:.0f} ms "
                  f"({statistics.median(during) / statistics.median(idle):.2f}x the reference), "
                  f"longest {max(during):.2f} s")
        print(f"logs that failed: {len(failed)}" + ("  <- the aim is none" if failed else "  (aim: none: met)"))
        verify = benchlib.run([vpslog, "--db", str(db), "audit", "verify"], env)
        print(f"audit verify afterwards: exit {verify.returncode}: {verify.stdout.strip() or verify.stderr.strip()}")


if __name__ == "__main__":
    try:
        main()
    except benchlib.BenchError as exc:
        sys.exit(f"error: {exc}")
