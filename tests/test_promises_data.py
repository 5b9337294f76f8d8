"""The README's promises on research data, fidelity and its reports, tried the way a tired user,
an attacker or a crash would break them: files that change under an import, dates at the ends of
the calendar."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from conftest import days_ago, open_db, session_rows, snapshot
from vpslog import importer
from vpslog.fidelity.trend import default_since, periods

HEADER = "id,participant_id,specialist_id,date,minutes,type,mode,entered_at,entered_by"


def _sessions_csv(path: Path, first: int, count: int) -> Path:
    """`count` phone sessions of P-0001 with PS1, ids counting from `first`."""
    rows = [f"{n:032x},P-0001,PS1,{days_ago(10)},45,individual,phone,2026-01-01T10:00:00Z,PS1"
            for n in range(first, first + count)]
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def _entries(db: Path, action: str) -> list[tuple[dict | None, str | None]]:
    """(what was recorded, the reason) of each audit entry of `action`, oldest first."""
    conn = open_db(db)
    try:
        return [(after and json.loads(after), reason) for after, reason in
                conn.execute("SELECT after, reason FROM audit WHERE action = ? ORDER BY seq", (action,))]
    finally:
        conn.close()


def test_the_import_entry_names_the_file_its_sha256_and_what_went_in(cli, program_db, tmp_path):
    path = _sessions_csv(tmp_path / "old sessions.csv", 1, 3)
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    cli.ok("import", "sessions", str(path))
    cli.ok("import", "sessions", str(path))  # a re-run skips what is there
    assert _entries(program_db, "import") == [
        ({"file": "old sessions.csv", "sha256": sha256, "inserted": 3, "skipped": 0}, None),
        ({"file": "old sessions.csv", "sha256": sha256, "inserted": 0, "skipped": 3}, None)]
    sessions = [reason for after, reason in _entries(program_db, "insert") if "minutes" in after]
    assert sessions == [f"import old sessions.csv ({sha256[:12]})"] * 3


def test_a_file_that_changes_while_it_is_imported_is_refused_and_nothing_is_written(
        cli, program_db, tmp_path, monkeypatch):
    """A sync tool or a spreadsheet still saving rewrites the file after it was hashed: the rows
    read are not the bytes the audit trail would name, so nothing goes in."""
    path = _sessions_csv(tmp_path / "sessions.csv", 1, 3)
    hashed = importer._sha256

    def hash_then_the_file_grows(file: Path) -> str:
        digest = hashed(file)
        _sessions_csv(path, 1, 4)
        return digest

    monkeypatch.setattr(importer, "_sha256", hash_then_the_file_grows)
    before = snapshot(program_db)
    result = cli("import", "sessions", str(path))
    assert (result.exit_code, result.stderr) == (1, f"error: {path}: the file changed while it was being imported; "
                                                    "nothing was imported: import it again once it is saved\n")
    assert snapshot(program_db) == before


@given(until=st.dates(), by=st.sampled_from(["month", "quarter"]))
@example(until=date(1, 11, 2), by="month")
@example(until=date.max, by="quarter")
def test_a_year_of_periods_fits_the_calendar_whatever_the_last_day(until, by):
    """`fidelity --by` with no --since: a year of whole periods ending on `until`, fewer only when
    the calendar begins sooner (the year 1)."""
    found = periods(by, default_since(by, until), until)
    months = 1 if by == "month" else 3
    assert len(found) == (12 // months if until.year > 1 else (until.month + months - 1) // months)
    assert found[-1][1] == until
    for (_, end), (_, following) in zip(found, found[1:]):
        start = end + timedelta(days=1)  # each period but the last ends on the day before one begins
        assert start.day == 1 and (start.month - 1) % months == 0 and following >= start


@pytest.mark.parametrize("by, until, count, last", [
    ("month", "9999-12-31", 12, ["9999-11-30", "9999-12-31"]), ("quarter", "9999-12-31", 4, ["9999-09-30", "9999-12-31"]),
    ("month", "0001-01-02", 1, ["0001-01-02"]), ("quarter", "0001-01-02", 1, ["0001-01-02"])])
def test_fidelity_over_time_reaches_the_first_and_the_last_day_of_the_calendar(cli, program_db, by, until, count,
                                                                                last):
    """Any date the CLI accepts can end the periods: a year of them, or what the calendar has
    before it; never an internal error."""
    cli.ok("log", "P-0001", "45", "-d", days_ago(30))
    document = json.loads(cli.ok("fidelity", "--by", by, "--until", until, "--format", "json").stdout)
    ends = [period["end"] for period in document["periods"]]
    assert (len(ends), ends[-len(last):]) == (count, last)


@pytest.mark.parametrize("as_of", ["9999-12-31", "0001-01-02"])
def test_the_html_report_as_of_the_ends_of_the_calendar_is_written(cli, program_db, tmp_path, as_of):
    cli.ok("log", "P-0001", "45", "-d", days_ago(30))
    out = tmp_path / "report.html"
    cli.ok("report", "html", "--out", str(out), "--as-of", as_of, "--jobs", "1")
    assert os.stat(out).st_mode & 0o777 == 0o600 and out.read_text(encoding="utf-8").rstrip().endswith("</html>")


def test_a_file_name_with_escape_sequences_is_shown_escaped_in_every_line_of_an_error(cli, program_db, tmp_path):
    """A CSV received from elsewhere may be named to retitle or clear the terminal: its name in the
    error is text, and the listing of bad rows keeps one line per row."""
    path = _sessions_csv(tmp_path / "a\x1b]0;owned\x07\x1b[2J.csv", 1, 2)
    path.write_text(path.read_text().replace(",45,", ",4500,"), encoding="utf-8")
    shown = f"{tmp_path}/a\\x1b]0;owned\\x07\\x1b[2J.csv"
    before = snapshot(program_db)
    result = cli("import", "sessions", str(path))
    assert (result.exit_code, result.stderr.splitlines()) == (1, [
        f"error: 2 bad rows in {shown}; nothing was imported:",
        f"{shown}:2: minutes: must be at most 480 (got '4500')", f"{shown}:3: minutes: must be at most 480 (got '4500')"])
    assert snapshot(program_db) == before
    result = cli("merge", str(tmp_path / "b\x1b[31m.db"))
    assert (result.exit_code, result.stderr) == (3, f"error: no store at {tmp_path}/b\\x1b[31m.db\n")


def test_a_file_name_with_escape_sequences_is_shown_escaped_in_what_a_command_says_it_did(cli, program_db, tmp_path):
    """The same names in the lines that report success (import, export, report html) and in notes."""
    path = _sessions_csv(tmp_path / "a\x1b]0;owned\x07\x1b[2J.csv", 1, 2)
    shown = f"{tmp_path}/a\\x1b]0;owned\\x07\\x1b[2J.csv"
    assert cli.ok("import", "sessions", str(path)).stdout == (
        f"imported 2 sessions from {shown} (0 identical rows already present)\n")
    out = tmp_path / "out\x1b[2J"
    assert cli.ok("export", "sites", "--out", str(out)).stdout == (
        f"export written to {tmp_path}/out\\x1b[2J: 1 sites; datapackage.json, codebook.md, manifest.json\n")
    page = tmp_path / "page\x07.html"
    assert cli.ok("report", "html", "--out", str(page)).stdout == f"wrote {tmp_path}/page\\x07.html\n"


def test_a_deidentified_export_drops_birth_years_and_reports_ages_over_89_as_90(cli, program_db):
    for pid, age in [("P-0089", "89"), ("P-0090", "90"), ("P-0120", "120")]:
        cli.ok("participant", "add", pid, "--site", "S1", "--enrolled", days_ago(10), "--arm", "vps", "--age", age)
    cli.ok("participant", "add", "P-1920", "--site", "S1", "--enrolled", days_ago(10), "--arm", "vps",
           "--birth-year", "1920")
    exported = cli.ok("export", "participants", "--out", "-", "--deidentify").stdout
    header, *rows = exported.splitlines()
    ages = sorted(dict(zip(header.split(","), row.split(",")))["age"] for row in rows)
    assert "birth_year" not in header and "1920" not in {cell for row in rows for cell in row.split(",")}
    # (as a cell: a 12-digit pseudonym may hold the digits 1920, about once in 200 runs)
    assert ages == ["", "", "", "89", "90", "90"]  # P-0001, P-0002 and P-1920 have no age


def test_an_export_to_standard_output_is_in_the_audit_trail_too(cli, program_db):
    """`--out -` promises nothing of a folder's safety, but it is still an export someone made."""
    cli.ok("log", "P-0001", "45", "-d", days_ago(3))
    shown = cli.ok("export", "sessions", "--out", "-", "--deidentify", "--site", "s1").stdout
    assert len(shown.splitlines()) == 2 and [(e["tables"], e["rows"], e["deidentified"], e["filters"]["site"])
                                             for e, _ in _entries(program_db, "export")] == [
        (["sessions"], {"sessions": 1}, True, "S1")]


def test_an_export_to_standard_output_whose_reader_is_gone_is_audited_as_stopped(cli, program_db):
    """`vpslog export participants --out - | head -1`: what left before the pipe closed was exported."""
    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # as users run it
    export = subprocess.Popen([sys.executable, "-m", "vpslog", "export", "participants", "--out", "-"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=buffered)
    export.stdout.close()  # gone before the first row: the rows are handed over, their flush fails
    assert (export.wait(timeout=60), export.stderr.read()) == (0, b"")
    [(entry, _)] = _entries(program_db, "export")
    assert (entry["tables"], entry["deidentified"], entry["stopped"]) == (["participants"], False, True)
    assert entry["rows"] == {"participants": 2}  # handed to the output: the most that can have left
    assert cli.ok("audit", "verify").stdout.startswith("audit trail verified")


def test_an_export_to_standard_output_stopped_by_ctrl_c_is_audited_as_stopped(cli, program_db, tmp_path):
    """Ctrl-C (a real SIGINT) while `export sessions --out -` waits for a slow reader: exit 130 with
    nothing printed, as typer has it, and the trail records a stopped export of the rows handed out."""
    import signal
    import time

    cli.ok("import", "sessions", str(_sessions_csv(tmp_path / "s.csv", 1, 1000)))  # more than a pipe holds
    export = subprocess.Popen([sys.executable, "-m", "vpslog", "export", "sessions", "--out", "-"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())
    assert export.stdout.read(100).startswith(b"id,participant_id")  # it is writing, into a full pipe
    time.sleep(0.3)
    export.send_signal(signal.SIGINT)
    assert export.wait(timeout=60) == 130 and export.stderr.read() == b""
    export.stdout.close()
    [(entry, _)] = _entries(program_db, "export")
    assert (entry["tables"], entry["stopped"], entry["rows"]) == (["sessions"], True, {"sessions": 1000})
    assert cli.ok("audit", "verify").stdout.startswith("audit trail verified")


def test_a_stopped_export_counts_the_batch_it_was_writing_as_gone(monkeypatch):
    """A write that fails (the reader gone, Ctrl-C) may have sent part of its batch: the count the
    trail gets includes it, so it is never less than what left."""
    import io
    import types

    from vpslog.export import _write

    class Reader(io.BytesIO):
        def write(self, data):
            if self.tell():  # the header went out; the reader leaves during the first batch
                super().write(data[:10])
                raise BrokenPipeError
            return super().write(data)

    out = Reader()
    monkeypatch.setattr(sys, "stdout", types.SimpleNamespace(buffer=out, flush=lambda: None))
    written = {"rows": 0}
    with pytest.raises(BrokenPipeError):
        _write(None, "id,name", iter([("a,1\nb,2\nc,3", 3), ("d,4", 1)]), written)
    assert out.getvalue() == b"id,name\na,1\nb,2\nc," and written["rows"] == 3


def test_an_imported_start_time_is_a_local_clock_time_as_typed_ones_are(cli, program_db, tmp_path):
    """`--at` refuses a zone or a fraction of a second; an import must not store them either."""
    path = tmp_path / "in.csv"
    rows = [f"{n:032x},P-0001,PS1,{days_ago(10)},45,individual,phone,2026-01-01T10:00:00Z,PS1,{at}"
            for n, at in enumerate(["14:30:00", "14:30Z", "14:30:15.5", "14:30+01:00"], start=1)]
    path.write_text("\n".join([HEADER + ",start_time", *rows]) + "\n", encoding="utf-8")
    before = snapshot(program_db)
    result = cli("import", "sessions", str(path))
    problem = "start_time: must be a local clock time, HH:MM:SS (no time zone, no fraction of a second)"
    assert (result.exit_code, result.stderr.splitlines()[1:]) == (1, [f"{path}:{line}: {problem}" for line in (3, 4, 5)])
    assert snapshot(program_db) == before
    path.write_text("\n".join([HEADER + ",start_time", rows[0]]) + "\n", encoding="utf-8")
    cli.ok("import", "sessions", str(path))
    assert [row["start_time"] for row in session_rows(program_db)] == ["14:30:00"]


def test_importing_from_a_pipe_is_refused_at_once_not_read_half(cli, program_db, tmp_path):
    """`cat f.csv | vpslog import sites /dev/stdin`: the file is read more than once (hashed, then
    validated, again if the store changed meanwhile), so a pipe is refused, never read empty or
    waited on forever."""
    pipe = tmp_path / "in.csv"
    os.mkfifo(pipe)
    before = snapshot(program_db)
    for source, piped in [(str(pipe), None), ("/dev/stdin", "id,name\nS9,Site nine\n")]:
        run = subprocess.run([sys.executable, "-m", "vpslog", "import", "sites", source], input=piped,
                             capture_output=True, text=True, env=os.environ.copy(), timeout=30)
        assert (run.returncode, run.stderr) == (
            1, f"error: {source}: not a regular file (a pipe or a device: it is read more than once, and a pipe "
               "would be empty or wait forever); save the CSV to a file and import that\n")
    assert snapshot(program_db) == before


@pytest.mark.parametrize("given", [".", "", "./"])
def test_an_export_into_the_folder_you_are_in_is_refused(cli, program_db, tmp_path, monkeypatch, given):
    """`--out .` (or a stray `--out ""`) in an empty folder: replacing it whole would leave the shell
    in a deleted folder. Refused, nothing written, no audit entry."""
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    before = snapshot(program_db)
    result = cli("export", "sites", "--out", given)
    assert (result.exit_code, result.stderr) == (
        1, "error: --out . is the folder you are in (or holds it), which an export would replace whole; "
           "use another --out\n")
    assert snapshot(program_db) == before and here.is_dir() and list(here.iterdir()) == []


def test_a_right_to_left_override_in_a_file_name_is_shown_not_obeyed(cli, program_db, tmp_path):
    """U+202E in a name would make a terminal show `exe.csv` as `vsc.exe`: escaped like a control
    character, while ordinary right-to-left text (Hebrew, Arabic) is shown as it is."""
    path = tmp_path / "report\u202evsc.exe\u05d0.csv"
    result = cli("import", "sites", str(path))
    assert (result.exit_code, result.stderr) == (
        1, f"error: {tmp_path}/report\\u202evsc.exe\u05d0.csv: cannot be read (No such file or directory)\n")


def test_a_deidentified_export_dated_in_1900_is_the_one_that_does_not_import_whole(cli, program_db, tmp_path):
    """The README's one exception: dates in 1900 may be shifted back into 1899, below the floor every
    record meets; the import refuses them with their lines, and writes nothing."""
    for n in range(1, 4):
        cli.ok("participant", "add", f"P-190{n}", "--site", "S1", "--enrolled", f"1900-01-0{n}", "--arm", "vps")
    out, fresh = tmp_path / "deid", tmp_path / "fresh.db"
    cli.ok("export", "sites", "participants", "--out", str(out), "--deidentify")
    cli.ok("--db", str(fresh), "init")
    cli.ok("--db", str(fresh), "import", "sites", str(out / "sites.csv"))
    before = snapshot(fresh)
    result = cli("--db", str(fresh), "import", "participants", str(out / "participants.csv"))
    assert result.exit_code == 1 and "nothing was imported" in result.stderr
    assert re.search(r"participants\.csv:\d+: enrollment date 1899-\d\d-\d\d is before 1900-01-01: check the year",
                     result.stderr)
    assert snapshot(fresh) == before


def test_an_imported_code_is_read_in_any_case_as_a_typed_one_is(cli, program_db, tmp_path):
    """A spreadsheet's `Phone` or `CAREER-EXPLORATION` is that code (the command line lower-cases
    what is typed); a code that is not one is still refused, with its suggestion, and nothing written."""
    path = tmp_path / "in.csv"
    rows = [f"{1:032x},P-0001,PS1,{days_ago(10)},45,Individual,PHONE,2026-01-01T10:00:00Z,PS1,Career-Exploration;HOPE",
            f"{2:032x},P-0001,PS1,{days_ago(9)},45,individual, Video ,2026-01-01T10:00:00Z,PS1,",
            f"{3:032x},P-0001,PS1,{days_ago(8)},45,individual,Phonee,2026-01-01T10:00:00Z,PS1,"]
    path.write_text("\n".join([HEADER + ",components", *rows]) + "\n", encoding="utf-8")
    before = snapshot(program_db)
    result = cli("import", "sessions", str(path))
    assert (result.exit_code, result.stderr.splitlines()[1:]) == (
        1, [f"{path}:4: mode: unknown mode 'phonee'; did you mean phone?"])
    assert snapshot(program_db) == before
    path.write_text("\n".join([HEADER + ",components", *rows[:2]]) + "\n", encoding="utf-8")
    cli.ok("import", "sessions", str(path))
    assert [(row["type"], row["mode"], row["components"]) for row in session_rows(program_db)] == [
        ("individual", "phone", "career-exploration;hope"), ("individual", "video", "")]
    assert cli.ok("audit", "verify").exit_code == 0


@pytest.mark.parametrize("typed", ["VPS", "Vps", "vps"])
def test_an_arm_is_read_in_any_case_as_codes_are(cli, program_db, typed):
    listed = cli.ok("export", "participants", "--out", "-", "--arm", typed).stdout
    assert listed == cli.ok("export", "participants", "--out", "-", "--arm", "vps").stdout
    assert "P-0001" in listed


def test_history_of_a_prefix_ambiguous_among_sessions_says_so_not_another_records(cli, program_db, tmp_path):
    """`history 00` showed the one supervision starting 00 when several sessions did (`show 00` said
    ambiguous)."""
    cli.ok("import", "sessions", str(_sessions_csv(tmp_path / "s.csv", 1, 2)))
    result = cli("history", "0000")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (f"error: session '0000' is ambiguous: it could be {1:032x}, {2:032x}\n")
    assert "insert" in cli.ok("history", f"{1:032x}").stdout


def test_history_of_an_id_that_is_also_a_session_prefix_is_that_records(cli, program_db, tmp_path):
    """A site `DE` beside sessions whose ids begin `de…`: `history DE` said the prefix was ambiguous
    among sessions, and the site's history could not be reached at all."""
    rows = [f"de{n:030x},P-0001,PS1,{days_ago(10)},45,individual,phone,2026-01-01T10:00:00Z,PS1" for n in (1, 2)]
    (tmp_path / "s.csv").write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    cli.ok("import", "sessions", str(tmp_path / "s.csv"))
    cli.ok("site", "add", "DE", "--name", "Delta")
    shown = json.loads(cli.ok("history", "DE", "--format", "json").stdout)
    assert [(entry["action"], entry["changes"]) for entry in shown] == [("insert", "created (2 fields)")]
    result = cli("history", "de0")
    assert result.exit_code == 1 and result.stderr.startswith("error: session 'de0' is ambiguous")


@pytest.mark.parametrize("entered_at,stored", [("2024-03-06T10:00:00", "2024-03-06T10:00:00Z"),
                                               ("2024-03-09 10:00", "2024-03-09T10:00:00Z"),
                                               # a fraction was kept, and written back as `.500000Z`
                                               ("2024-03-09T10:00:00.5Z", "2024-03-09T10:00:00Z"),
                                               ("2024-03-09T10:00:59.999", "2024-03-09T10:00:59Z")])
def test_an_imported_time_without_its_zone_is_read_as_utc_not_a_crash(cli, program_db, tmp_path, entered_at, stored):
    """A spreadsheet drops the Z: the import crashed (exit 70, a naive time compared with an aware one)."""
    path = tmp_path / "in.csv"
    path.write_text(f"{HEADER}\n{1:032x},P-0001,PS1,{days_ago(10)},45,individual,phone,{entered_at},PS1\n",
                    encoding="utf-8")
    cli.ok("import", "sessions", str(path))
    assert [row["entered_at"] for row in session_rows(program_db)] == [stored]


def test_a_store_holding_a_fraction_of_a_second_reimports_its_own_export(cli, program_db, tmp_path):
    """An earlier import kept `…00.500000Z`; now an imported time is cut to the second, and re-importing
    the store's own export was refused as different content."""
    from conftest import tamper

    path = tmp_path / "in.csv"
    path.write_text(f"{HEADER}\n{1:032x},P-0001,PS1,{days_ago(10)},45,individual,phone,2024-03-09T10:00:00Z,PS1\n",
                    encoding="utf-8")
    cli.ok("import", "sessions", str(path))
    tamper(program_db, "UPDATE session SET entered_at = '2024-03-09T10:00:00.500000Z'",
           "UPDATE audit SET after = replace(after, '10:00:00Z', '10:00:00.500000Z') WHERE tbl = 'session'")
    cli.ok("export", "sessions", "--out", str(tmp_path / "out"))
    assert cli.ok("import", "sessions", str(tmp_path / "out" / "sessions.csv")).stdout.startswith("imported 0")


def test_blank_lines_in_an_imported_file_are_no_records(cli, program_db, tmp_path):
    """A file ending in a blank line (as editors and spreadsheets save one) was refused: `0 cells`."""
    path = tmp_path / "in.csv"
    path.write_text(f"{HEADER}\n\n{1:032x},P-0001,PS1,{days_ago(10)},45,individual,phone,{days_ago(9)}T10:00:00Z,PS1\n\n\n",
                    encoding="utf-8")
    cli.ok("import", "sessions", str(path))
    assert len(session_rows(program_db)) == 1


def test_an_imported_time_in_another_zone_is_kept_in_utc(cli, program_db, tmp_path):
    path = tmp_path / "in.csv"
    path.write_text(f"{HEADER}\n{1:032x},P-0001,PS1,{days_ago(10)},45,individual,phone,2024-03-06T10:00:00+05:00,PS1\n",
                    encoding="utf-8")
    cli.ok("import", "sessions", str(path))
    assert [row["entered_at"] for row in session_rows(program_db)] == ["2024-03-06T05:00:00Z"]


def test_an_imported_screening_keyed_by_text_is_refused(cli, program_db, tmp_path):
    """An answer keyed by a name and an address passed into every export, de-identified ones too."""
    path = tmp_path / "screenings.csv"
    answers = json.dumps({"Name Surname, 12 Any Street": True}).replace('"', '""')
    path.write_text("id,participant_id,date,answers,eligible,reasons,rules_version,entered_at,entered_by\n"
                    f'{1:032x},P-0001,{days_ago(10)},"{answers}",1,,abc,2026-01-01T10:00:00Z,PS1\n', encoding="utf-8")
    before = snapshot(program_db)
    result = cli("import", "screenings", str(path))
    assert result.exit_code == 1 and result.stderr.splitlines()[1].startswith(
        f"{path}:2: answers: each key is a criterion id of schemas/eligibility.toml")
    assert snapshot(program_db) == before


@pytest.mark.parametrize("site,arm,allocated,problem", [
    ("S1", "vps", "2099-01-01T10:00:00Z", "allocated_at 2099-01-01T10:00:00+00:00 is in the future"),
    ("S1", "vps", "1850-01-01T10:00:00Z", "allocated_at 1850-01-01T10:00:00+00:00 is before 1900-01-01"),
])
def test_an_imported_allocation_meets_what_randomization_makes(cli, program_db, tmp_path, site, arm, allocated, problem):
    """Imported allocations were not checked at all: dated in 2099 or 1850."""
    path = tmp_path / "allocations.csv"
    path.write_text("id,participant_id,site_id,number,arm,allocated_at\n"
                    f"{1:032x},P-0001,{site},1,{arm},{allocated}\n", encoding="utf-8")
    before = snapshot(program_db)
    result = cli("import", "allocations", str(path))
    assert result.exit_code == 1 and result.stderr.splitlines()[1].startswith(f"{path}:2: {problem}")
    assert snapshot(program_db) == before
