"""`vpslog report html`: one self-contained file a supervisor brings to the meeting, built from the
demo program and checked by parsing it, and in a real browser (headless Chromium)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from vpslog.cli import app
from vpslog.curriculum import schemas_dir
from vpslog.deid import site_pseudonym

from vpslog.report.gather import gaps_over

NOTE = "canary-note-never-shown"
DETAIL = "canary-detail-never-shown"
SECTIONS = ("summary", "trends", "matrix", "attention", "participants", "specialists", "thresholds")


class Page(HTMLParser):
    """The parts of a report the tests look at: elements by id, tags, attributes, text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.ids: dict[str, tuple[str, dict]] = {}
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.rows: dict[str, list[list[str]]] = {}  # table id -> its rows of cell texts
        self._table: list[str] = []
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if "id" in attrs:
            self.ids[attrs["id"]] = (tag, attrs)
        if tag == "table":
            self._table.append(attrs.get("id", ""))
            self.rows.setdefault(attrs.get("id", ""), [])
        elif tag == "tr" and self._table:
            self.rows[self._table[-1]].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table" and self._table:
            self._table.pop()
        elif tag in ("td", "th") and self._cell is not None:
            self.rows[self._table[-1]][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    def charts(self) -> list[str]:
        return [attrs["id"].removeprefix("chart-") for tag, attrs in self.tags
                if tag == "figure" and "chart" in attrs.get("class", "").split()]


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(app, list(args), input=input, prog_name="vpslog")


SECRET = next(secret for secret in (bytes([n]) * 32 for n in range(256))
              if site_pseudonym(secret, "NORTH") > site_pseudonym(secret, "SOUTH"))
"""The demo's project secret: one whose site pseudonyms sort the other way round from the real ids."""


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo program, with a note, a supervision note and a milestone detail that must never show."""
    folder = tmp_path_factory.mktemp("report")
    (folder / "config").mkdir(mode=0o700)
    (folder / "config" / "secret").write_text(SECRET.hex() + "\n")
    os.chmod(folder / "config" / "secret", 0o600)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VPSLOG_CONFIG_DIR", str(folder / "config"))
        patch.setenv("VPSLOG_DB", str(folder / "demo.db"))
        patch.setenv("COLUMNS", "200")
        assert run("demo").exit_code == 0
        active = json.loads(run("participant", "list", "--status", "active", "--format", "json").stdout)
        pid = next(p["id"] for p in active if p["arm"] == "vps")
        for args in (("log", pid, "45", "--specialist", "PS01", "-n", NOTE),
                     ("supervision", "log", "PS01", "1h", "--supervisor", "Supervisor A", "-n", NOTE),
                     ("milestone", pid, "goal-set", "-n", DETAIL)):
            result = run(*args)
            assert result.exit_code == 0, result.output
        yield folder


@pytest.fixture(scope="module")
def built(demo):
    """The report of the demo as of today, and the same de-identified."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VPSLOG_CONFIG_DIR", str(demo / "config"))
        patch.setenv("VPSLOG_DB", str(demo / "demo.db"))
        for name, extra in (("report.html", ()), ("deid.html", ("--deidentify",))):
            result = run("report", "html", "--out", str(demo / name), *extra)
            assert result.exit_code == 0, result.output
            assert result.stdout == f"wrote {demo / name}\n"
        fidelity = json.loads(run("fidelity", "--format", "json").stdout)
    return {"path": demo / "report.html", "text": (demo / "report.html").read_text(),
            "deid": (demo / "deid.html").read_text(), "fidelity": fidelity}


def test_the_report_has_every_section_and_every_chart_has_a_table_with_its_numbers(built):
    page = Page(built["text"])
    assert all(page.ids.get(section, ("",))[0] == "section" for section in SECTIONS)
    charts = page.charts()
    assert {"rule-trends", "scale-trend", "heat-map"} <= set(charts)
    assert any(c.startswith("dose-") for c in charts) and any(c.startswith("specialist-") for c in charts)
    for chart in charts:
        tag, attrs = page.ids[f"table-{chart}"]
        assert tag == "table" and attrs["data-chart"] == chart
        assert page.ids[f"chart-{chart}"][1]["aria-describedby"] == f"table-{chart}"
    assert built["text"].count("<svg") == len(charts)
    assert "Thresholds used" in page.text and "Item score per rule from its pass rate: 5 if ≥ 95%" in built["text"]


def test_the_summary_and_the_program_row_are_the_numbers_of_vpslog_fidelity(built):
    page = Page(built["text"])
    summary = {row[0]: row for row in page.rows["table-summary"][1:]}
    for rule in built["fidelity"]["summary"]:
        shown = summary[rule["rule"]]
        assert shown[3:7] == [str(rule[status]) for status in ("pass", "warn", "fail", "pending")]
    program = next(row for row in page.rows["table-heat-map"] if row[0] == "program")
    expected = [f"{r['pass']}/{r['pass'] + r['warn'] + r['fail']}" for r in built["fidelity"]["summary"]]
    assert [cell.split(" (")[0] for cell in program[1:]] == [e if not e.endswith("/0") else "–" for e in expected]
    scale = built["fidelity"]["scale"]
    assert f"{scale['total']} / {scale['max']}" in built["text"]
    assert page.rows["table-scale-trend"][-1][1] == f"{100 * scale['share']:.1f}%"  # this month: as of today


def test_needs_attention_is_split_into_open_now_and_past(built):
    page = Page(built["text"])
    results = [r for r in built["fidelity"]["results"] if r["status"] in ("fail", "warn") and r["scope"] != "session"]
    open_rows, past_rows = page.rows["table-attention-open"][1:], page.rows["table-attention-past"][1:]
    assert len(open_rows) + len(past_rows) == len(results) + 2  # and one row per session rule that flags sessions
    gap = next(row for row in open_rows if row[2] == "continuity")
    assert gap[4].endswith("no contact since; limit 30)")  # an open gap runs to today
    assert all("no contact since" not in row[4] for row in past_rows if row[2] == "continuity")
    assert ["6 sessions", "", "no-clinical-services", "fail",
            "listed by vpslog fidelity --explain no-clinical-services"] in open_rows + past_rows


def test_the_report_fetches_nothing_runs_nothing_and_shows_no_free_text(built):
    for text in (built["text"], built["deid"]):
        page = Page(text)
        assert not re.search(r"(https?:|ftp:|file:)?//[\w.-]+\.\w", text)  # no URL, not even a namespace
        assert not [tag for tag, _ in page.tags if tag in ("script", "link", "img", "iframe", "object", "embed")]
        assert all(ref.startswith("#") for ref in re.findall(r"url\(([^)]*)\)", text)) and "@import" not in text
        assert not [a for _, attrs in page.tags for k, a in attrs.items() if k in ("src", "href") and not a.startswith("#")]
        assert NOTE not in text and DETAIL not in text
    assert os.stat(built["path"]).st_mode & 0o777 == 0o600


def test_the_deidentified_report_names_no_one_and_gives_no_participants_dates(built, demo):
    """Beside the real as-of date, a participant's shifted dates would give their offset away (an
    ongoing gap ends on the shifted as-of): their evidence is withheld and their timelines left out.
    Every date left is one the identified report shows too (months, specialists' own dates)."""
    text, identified = built["deid"], built["text"]
    assert not re.search(r"\bP-\d{4}\b|\bPS0\d\b|\bNORTH\b|\bSOUTH\b", text)
    assert "De-identified" in text and "Contacts of" not in text and "Contacts of P-" in identified
    assert "Left out of a de-identified report" in text and "Left out" not in identified
    assert "withheld (de-identified: with the as-of date, a participant&#39;s dates would give their offset away)" in text
    dates = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
    assert set(dates.findall(text)) <= set(dates.findall(identified))
    pseudonyms = re.findall(r"\bR-\d{12}\b", text)
    assert pseudonyms
    sites = re.search(r'<table class="data" id="table-sites">.*?</thead>', text, re.S)[0]
    columns = re.findall(r'class="n">([^<]+)</th>', sites)
    assert columns == [site_pseudonym(SECRET, "SOUTH"), site_pseudonym(SECRET, "NORTH")]  # not NORTH's first


@pytest.mark.parametrize("jobs", ["1", "3"])
def test_the_same_records_give_the_same_file_however_many_processes_draw_the_charts(built, demo, monkeypatch, jobs):
    """Drawn in this process (`--jobs 1`) or by three forked workers: the same bytes as the default."""
    monkeypatch.setenv("VPSLOG_CONFIG_DIR", str(demo / "config"))
    monkeypatch.setenv("VPSLOG_DB", str(demo / "demo.db"))
    result = run("report", "html", "--out", str(demo / f"again-{jobs}.html"), "--jobs", jobs)
    assert result.exit_code == 0, result.output
    assert (demo / f"again-{jobs}.html").read_text() == built["text"]


def test_report_html_refuses_no_processes_for_the_charts(cli, program_db, tmp_path):
    before = sorted(os.listdir(tmp_path))
    result = run("report", "html", "--out", str(tmp_path / "r.html"), "--jobs", "0")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == ("error: Invalid value for '--jobs': Input should be greater than or equal to 1 "
                             "(see vpslog report html --help)\n")
    assert sorted(os.listdir(tmp_path)) == before


def test_a_big_program_shows_the_worst_first_and_says_how_many_more(demo, monkeypatch):
    from vpslog.report import gather

    monkeypatch.setattr(gather, "PARTICIPANTS_SHOWN", 2)
    monkeypatch.setattr(gather, "SPECIALISTS_SHOWN", 1)
    monkeypatch.setattr(gather, "ROWS_SHOWN", 3)
    monkeypatch.setattr(gather, "CONTACTS_LISTED", 2)
    monkeypatch.setenv("VPSLOG_CONFIG_DIR", str(demo / "config"))
    monkeypatch.setenv("VPSLOG_DB", str(demo / "demo.db"))
    assert run("report", "html", "--out", str(demo / "short.html")).exit_code == 0
    page = Page((demo / "short.html").read_text())
    fidelity = json.loads(run("fidelity", "--format", "json").stdout)
    people = {r["subject"] for r in fidelity["results"] if r["scope"] == "participant" and r["status"] in ("fail", "warn")}
    assert len([c for c in page.charts() if c.startswith("dose-")]) == 2
    assert len([c for c in page.charts() if c.startswith("specialist-")]) == 1
    text = " ".join(" ".join(page.text).split())
    assert f"and {len(people) - 2} more participants: vpslog fidelity --format csv lists them all." in text
    assert "and 5 more specialists" in text
    listed = re.findall(r"The last 2 of (\d+) contacts", text)
    assert len(listed) == 2 and all(int(n) > 2 for n in listed)  # the last 2 of each one's contacts
    assert len(page.rows["table-attention-open"]) == 1 + 3
    first = page.rows["table-attention-open"][1]
    assert first[3] == "fail"  # the worst first


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_text("x"), "{p} already exists; choose a new file for the report"),
    (lambda p: p.symlink_to(p.parent / "elsewhere.html"),
     "{p} is a symbolic link to {p.parent}/elsewhere.html, which does not exist; vpslog does not create files "
     "through links; choose a new file for the report"),
    (lambda p: None, "{p.parent} is not a folder"),
])
def test_report_html_refuses_an_existing_file_a_link_or_a_missing_folder(cli, program_db, tmp_path, make, message):
    target = tmp_path / ("missing" if "folder" in message else "") / "report.html"
    make(target)
    before = sorted(os.listdir(tmp_path))
    result = cli("report", "html", "--out", str(target))
    assert result.exit_code == 1
    assert result.stderr == f"error: {message.format(p=target)}\n"
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.parametrize("command", [["report", "html", "--out"], ["backup"]])
def test_a_dash_for_the_new_file_is_refused_not_made_a_file_called_dash(cli, program_db, tmp_path, monkeypatch, command):
    """`--out -` is standard output to an export; here it wrote a file named `-` in the working folder."""
    monkeypatch.chdir(tmp_path)
    result = cli(*command, "-")
    assert result.exit_code == 1 and result.stderr.startswith(
        "error: - is not taken as a file name (to an export's --out it means standard output); choose a new file")
    assert not (tmp_path / "-").exists()


def test_an_error_in_the_evaluation_is_one_line_and_writes_no_file(cli, program_db, tmp_path, monkeypatch):
    """The evaluation runs in a forked child (its memory all goes back before the charts are drawn):
    what it refuses, here a rules file with an unknown kind, is still one line, exit 1, no file."""
    folder = tmp_path / "schemas"
    shutil.copytree(schemas_dir(), folder)
    rules = folder / "fidelity.toml"
    rules.write_text(rules.read_text().replace('kind = "dose_window"', 'kind = "dose_windw"', 1))
    monkeypatch.setenv("VPSLOG_SCHEMAS", str(folder))
    result = cli("report", "html", "--out", str(tmp_path / "r.html"))
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"error: {rules}: rule[0].kind: unknown kind 'dose_windw'; did you mean dose_window?\n"
    assert not (tmp_path / "r.html").exists()


def test_work_done_apart_comes_back_as_its_result_or_its_error():
    """forked.apart: the result of work done in a child process, or its error raised here with where it
    happened as its cause (`--debug` shows it); one that cannot be sent back arrives as a RuntimeError
    (an internal error, exit 70, as it would have been) with its type and message."""
    from vpslog.errors import InputError
    from vpslog.report.forked import ChildTraceback, apart

    assert apart(os.getpid) != os.getpid()

    def refused():
        raise InputError("no site 'NORTHH'; did you mean NORTH?")

    with pytest.raises(InputError, match="^no site 'NORTHH'; did you mean NORTH\\?$") as raised:
        apart(refused)
    assert isinstance(raised.value.__cause__, ChildTraceback) and "in refused" in str(raised.value.__cause__)

    class Unsendable(Exception):
        def __reduce__(self):
            raise TypeError("cannot be pickled")

    def odd():
        raise Unsendable("an odd failure")

    with pytest.raises(RuntimeError, match="^Unsendable: an odd failure$"):
        apart(odd)


@pytest.mark.parametrize("workers", [1, 2, 3, 9])
def test_work_mapped_over_processes_comes_back_in_order(workers):
    from vpslog.report.forked import mapped

    found = mapped(lambda n: (n * n, os.getpid()), range(7), workers)
    assert [square for square, _ in found] == [n * n for n in range(7)]
    pids = {pid for _, pid in found}
    assert len(pids) == min(workers, 7) and os.getpid() in pids


def test_when_this_process_fails_its_workers_are_killed_at_once():
    """Ctrl-C or an error while this process draws its share: the workers drawing theirs are killed
    and reaped there and then, not waited for (they would have slept 60 s)."""
    import time

    from vpslog.report.forked import mapped

    parent = os.getpid()

    def work(n):
        if os.getpid() == parent:
            raise KeyboardInterrupt
        time.sleep(60)

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        mapped(work, range(6), 3)
    assert time.monotonic() - started < 20


def test_report_html_without_out_is_a_usage_error(cli, program_db):
    result = run("report", "html")
    assert result.exit_code == 2
    assert result.stderr == "error: Missing option '--out'. (see vpslog report html --help)\n"


def test_a_report_of_a_new_program_without_sessions_still_builds(cli, program_db, tmp_path):
    cli.ok("report", "html", "--out", str(tmp_path / "empty.html"), "--site", "s1")
    page = Page((tmp_path / "empty.html").read_text())
    assert all(section in page.ids for section in SECTIONS)


def test_text_in_the_charts_is_drawn_as_typed_never_as_math_or_invisible(cli, program_db, tmp_path, monkeypatch):
    """matplotlib reads `$...$` as math: a band label `good ($\\ge$ 80%)` crashed the report (exit 70),
    and a specialist id edited outside vpslog reached the heat map with its bidi mark raw."""
    from conftest import tamper

    folder = tmp_path / "schemas"
    shutil.copytree(schemas_dir(), folder)
    rules = folder / "fidelity.toml"
    rules.write_text(rules.read_text().replace('label = "good"', "label = 'good ($\\ge$ 80%)'"))
    monkeypatch.setenv("VPSLOG_SCHEMAS", str(folder))
    cli.ok("log", "P-0001", "45")
    tamper(program_db, "PRAGMA foreign_keys = OFF", "UPDATE specialist SET id = '$\\frac{1}$\u202e' WHERE id = 'PS1'",
           "UPDATE session SET specialist_id = '$\\frac{1}$\u202e' WHERE specialist_id = 'PS1'")
    result = run("report", "html", "--out", str(tmp_path / "r.html"))
    assert result.exit_code == 0
    assert all(line.startswith("warning: the audit triggers") for line in result.stderr.splitlines())  # the tamper's
    page = (tmp_path / "r.html").read_text()
    assert "\u202e" not in page and "good ($\\ge$ 80%)" in page and "$\\frac{1}$\\u202e" in page


def test_the_temp_file_of_a_killed_report_is_removed_by_the_next_one(cli, program_db, tmp_path):
    """A report is written beside its file and linked into place: one killed in between leaves that
    temp file (participants' records). The next report to the same file removes it, saying so; the
    temp file of a report still running stays, and so does a folder of that name."""
    ended = subprocess.Popen(["true"])
    ended.wait()
    out = tmp_path / "report.html"
    left = tmp_path / f".report.html.tmp-{ended.pid}-0123456789ab"
    running = tmp_path / f".report.html.tmp-{os.getpid()}-0123456789ab"
    for path in (left, running):
        path.write_text("<p>P-0001</p>")
    folder = tmp_path / f".report.html.tmp-{ended.pid}-0123456789ac"  # named so, but a folder: not the report's
    folder.mkdir()
    result = cli.ok("report", "html", "--out", str(out))
    assert result.stderr == f"note: removed {left}, left by an interrupted vpslog command\n"
    assert not left.exists() and running.exists() and folder.is_dir() and out.exists()


def test_vpslog_log_does_not_import_the_report_libraries(program_db, tmp_path):
    """Quick entry pays only for what it uses: no report libraries, no output shapes (pydantic
    models built at import: 140 ms when a listing module imported them at the top)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "vpslog", "log", "P-0001", "45"],
                          env=os.environ.copy(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    modules = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    imported = {name.split(".")[0] for name in modules}
    assert "vpslog" in imported and not imported & {"matplotlib", "jinja2", "numpy"}
    assert not modules & {"vpslog.shapes", "vpslog.review.shapes", "vpslog.report", "vpslog.fidelity.trend"}


@given(st.lists(st.integers(0, 2000), unique=True), st.integers(0, 60))
def test_gaps_over_the_limit_are_exactly_the_consecutive_stretches_longer_than_it(offsets, limit):
    days = [date(2026, 1, 1) + timedelta(days=n) for n in sorted(offsets)]
    gaps = gaps_over(days, limit)
    assert gaps == [(a, b, (b - a).days) for a, b in zip(days, days[1:]) if (b - a).days > limit]
    assert all(n > limit for _, _, n in gaps)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
MEASURE = """<script>
window.addEventListener("load", () => {
  const sizes = [...document.querySelectorAll("figure.chart svg")].map(s => {
    const r = s.getBoundingClientRect(); return [s.closest("figure").id, Math.round(r.width), Math.round(r.height)]; });
  const out = document.createElement("pre"); out.id = "measured"; out.textContent = JSON.stringify(sizes);
  document.body.appendChild(out);
});
</script>"""


def _chromium(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
                           "--no-first-run", "--user-data-dir=" + str(Path(args[-1].removeprefix("file://")).parent / "chromium"),
                           *args], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (Debian: apt-get install chromium; "
                                             ".ci/run installs it when it can)")
def test_the_report_renders_in_headless_chromium_with_no_console_error_and_sized_charts(built, tmp_path):
    from PIL import Image

    shot = tmp_path / "report.png"
    rendered = _chromium("--enable-logging=stderr", "--v=0", "--window-size=1280,2000", f"--screenshot={shot}",
                         built["path"].as_uri())
    assert rendered.returncode == 0, rendered.stderr
    assert not [line for line in rendered.stderr.splitlines() if "CONSOLE" in line], rendered.stderr
    image = Image.open(shot)
    assert image.size == (1280, 2000)
    assert len(image.convert("L").resize((64, 100)).getcolors(256)) > 20  # text and charts, not a blank page
    harness = tmp_path / "measure.html"  # the report, plus a script that measures its charts
    harness.write_text(built["text"].replace("</body>", MEASURE + "</body>"))
    dom = _chromium("--window-size=1280,2000", "--virtual-time-budget=5000", "--dump-dom", harness.as_uri())
    sizes = json.loads(re.search(r'<pre id="measured">(.*?)</pre>', dom.stdout, re.S)[1])
    assert {figure for figure, _, _ in sizes} == {f"chart-{c}" for c in Page(built["text"]).charts()}
    assert all(width > 300 and height > 80 for _, width, height in sizes), sizes
